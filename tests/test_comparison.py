"""Comparing confirmed functions (evoact/comparison.py): the paired test over seeds and each group's ratios."""

import json
import re

import numpy as np
import pytest

from evoact.comparison import group_ratios, paired_p_value, tables
from evoact.scoring import LOSS_FLOOR
from evoact.summaries import Confirmation, ConfirmationRow, TaskConfirmation


def _row(name, mean, baseline=True):
    return ConfirmationRow(name, f"f_{name}", baseline, 2, 0, {}, mean, 0.01, None, None, None, None)


def test_paired_p_value_edge_cases_and_a_clear_difference():
    assert paired_p_value([0.5], [0.4]) is None
    assert paired_p_value([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]) == 1.0
    better = [0.80, 0.82, 0.79, 0.81, 0.83]
    assert paired_p_value(better, [b - d for b, d in zip(better, (0.05, 0.06, 0.04, 0.05, 0.07))]) < 0.001
    assert paired_p_value(better, [b + d for b, d in zip(better, (0.01, -0.01, 0.02, -0.02, 0.0))]) > 0.5
    assert paired_p_value([0.9, 0.8], [0.85, 0.75]) is None  # a constant difference has no spread: undefined, not 0
    small = [1.0e-7, 1.2e-7, 0.9e-7, 1.1e-7, 1.0e-7]  # a regression's losses: five times better on every seed
    assert paired_p_value(small, [5 * v + d for v, d in zip(small, (1e-8, -2e-8, 3e-8, 0.0, -1e-8))]) < 0.001
    assert paired_p_value([0.0, 0.0], [0.0, 0.0]) == 1.0


def test_paired_p_value_reads_float32_measures_that_differ_by_one_test_sample_on_every_seed_as_undefined():
    """Two seeds on 36 test samples, each one sample apart: the float32 accuracies' differences agree to their last
    digits, which is no spread at all, not a p-value of 1e-6."""
    mine, theirs = [float(np.float32(k / 36)) for k in (32, 33)], [float(np.float32(k / 36)) for k in (33, 34)]
    assert len({m - t for m, t in zip(mine, theirs)}) == 2  # not exactly equal in float64
    assert paired_p_value(mine, theirs) is None
    assert paired_p_value([float(np.float32(0.3)), 0.5], [0.3, 0.5]) == 1.0  # the same measures, rounded apart


def test_group_ratios_compare_each_task_with_the_best_of_gelu_silu_and_mish():
    acc = TaskConfirmation(
        "gelu",
        (_row("#4", 0.90, False), _row("relu", 0.80), _row("gelu", 0.95), _row("silu", 0.93)),
        "accuracy",
        True,
        1,
        "test",
    )
    loss = TaskConfirmation(
        "mish",
        (_row("#4", 0.50, False), _row("relu", 0.60), _row("gelu", 0.45), _row("mish", 0.40)),
        "loss",
        True,
        1,
        "test",
    )
    other = TaskConfirmation("gelu", (_row("#4", 0.5, False), _row("gelu", 0.5)), "accuracy", False, 1, "search")
    groups = group_ratios({"a": acc, "b": loss, "c": other})
    assert list(groups) == ["test", "search"] and groups["test"].tasks == ("a", "b")
    mine = next(r for r in groups["test"].rows if r.name == "#4")
    assert mine.mean == pytest.approx((0.90 / 0.95 + 0.40 / 0.50) / 2) and mine.worst == pytest.approx(0.8)
    assert mine.worst_task == "b" and mine.tasks == 2
    assert mine.best_task == "a" and mine.best == pytest.approx(0.90 / 0.95)  # where the mean is carried
    gelu = next(r for r in groups["test"].rows if r.name == "gelu")
    assert gelu.mean == pytest.approx((1.0 + 0.40 / 0.45) / 2)
    summary = Confirmation((1, 2), {"a": acc, "b": loss}, None, groups)
    again = Confirmation.from_json(json.loads(json.dumps(summary.to_json())))
    assert again == summary
    tampered = json.loads(json.dumps(summary.to_json()))  # a run directory is not trusted: its ratios are checked
    tampered["groups"]["test"]["rows"][0]["best"] = "x"
    with pytest.raises(ValueError, match="the group ratio best of '#4' is no number"):
        Confirmation.from_json(tampered)
    for where, value, error in (  # and so are its rows: a metric it does not know was read as a loss
        ("metric", "auc", "the confirmation's metric 'auc' is not one of accuracy, loss"),
        ("mean", "0.9", "the confirmation's mean of '#4' is no number"),
        ("p_vs_best_baseline", [0.1], "the confirmation's p_vs_best_baseline of '#4' is no number"),
        ("failed", -1, "the confirmation's failed of '#4' is no count"),
        ("learned", [1.0], "the confirmation's learned constants of '#4' are not names with numbers"),
    ):
        tampered = json.loads(json.dumps(summary.to_json()))
        if where == "metric":
            tampered["tasks"]["a"]["metric"] = value
        else:
            tampered["tasks"]["a"]["rows"][0][where] = value
        with pytest.raises(ValueError, match=re.escape(error)):
            Confirmation.from_json(tampered)
    titles = [title for title, _, _ in tables(summary)]
    assert any("test group (2 tasks)" in t and "mean and worst" in t for t in titles)
    (cells,) = [rows for title, _, rows in tables(summary) if title.startswith("test group")]
    assert cells[0][-1] == f"a ({0.90 / 0.95:.4f})"
    assert any(t.startswith("a (test group: only reported") for t in titles)
    one = TaskConfirmation(
        "gelu", (ConfirmationRow("#4", "x", False, 1, 1, {}, 0.93, 0.0, *[None] * 4),), "accuracy", True, 1
    )
    (cells,) = next(rows for title, _, rows in tables(Confirmation((1, 2), {"a": one})) if title.startswith("a"))
    assert cells[2:4] == ["0.9300", "1 (1 failed)"]  # one seed left: no spread to show (it was "± 0.0000")


def test_group_ratios_skip_a_task_whose_references_scored_nothing():
    zero = TaskConfirmation("gelu", (_row("#4", 0.5, False), _row("gelu", 0.0)), "accuracy", True, 1, "test")
    assert group_ratios({"z": zero})["test"].rows[0].mean is None


def test_a_function_that_failed_every_training_on_a_task_has_ratio_0_there_and_no_interval():
    """It was averaged over the other tasks alone, with an interval, as though the failed task were not there."""
    seeds = (1, 2, 3, 4, 5)
    good, good_seeds = _task("accuracy", {"#7": dict.fromkeys(seeds, 0.81), "gelu": dict.fromkeys(seeds, 0.8)})
    failed = ConfirmationRow("#7", "f_#7", False, 0, 5, {}, None, None, None, None, None, None)
    bad = TaskConfirmation("gelu", (failed, _row("gelu", 0.8)), "accuracy", True, 1, "test")
    groups = group_ratios(
        {"a": good, "b": bad}, per_seed={"a": good_seeds, "b": {"gelu": good_seeds["gelu"]}}, seeds=seeds
    )
    row = next(r for r in groups["test"].rows if r.name == "#7")
    assert (row.worst, row.worst_task, row.tasks) == (0.0, "b", 2) and row.mean == pytest.approx(0.81 / 0.8 / 2)
    assert row.mean_low is None and row.worst_low is None


def test_group_ratios_read_a_loss_that_rounds_to_zero_as_the_best_ratio_not_a_missing_one():
    loss = TaskConfirmation("gelu", (_row("#4", 0.0, False), _row("gelu", 0.02)), "loss", True, 1, "test")
    assert group_ratios({"z": loss})["test"].rows[0].mean == pytest.approx(0.02 / LOSS_FLOOR)
    tiny = TaskConfirmation("gelu", (_row("#4", 1e-8, False), _row("gelu", 5e-8)), "loss", True, 1, "test")
    assert [r.mean for r in group_ratios({"t": tiny})["test"].rows] == pytest.approx([5.0, 1.0])
    perfect = TaskConfirmation("gelu", (_row("#4", 0.02, False), _row("gelu", 0.0)), "loss", True, 1, "test")
    assert [r.mean for r in group_ratios({"p": perfect})["test"].rows] == pytest.approx([LOSS_FLOOR / 0.02, 1.0])


def _task(metric, per_function, group="test"):
    """A task's confirmation from per-seed measures, and those measures as ``group_ratios`` reads them."""
    rows = tuple(
        _row(name, sum(values.values()) / len(values), not name.startswith("#"))
        for name, values in per_function.items()
    )
    return TaskConfirmation("gelu", rows, metric, True, 1, group), per_function


def test_group_ratios_give_intervals_over_the_seeds_that_separate_a_clear_win_from_a_tie():
    seeds = (1, 2, 3, 4, 5, 6)
    noise = dict(zip(seeds, (0.01, -0.02, 0.015, -0.005, 0.0, 0.01)))
    gelu = {s: 0.80 + noise[s] for s in seeds}
    acc, acc_seeds = _task(
        "accuracy",
        {
            "#1": {s: v * 1.05 for s, v in gelu.items()},  # 5% better on every seed
            "#2": {s: gelu[s] + (0.01 if s % 2 else -0.01) for s in seeds},  # a tie, within noise
            "gelu": gelu,
            "silu": {s: v - 0.02 for s, v in gelu.items()},
        },
    )
    loss, loss_seeds = _task(
        "loss",
        {
            "#1": {s: 0.5 - noise[s] for s in seeds},
            "#2": {s: 0.5 - noise[s] + (0.01 if s % 2 else -0.01) for s in seeds},
            "gelu": {s: 0.5 - noise[s] for s in seeds},
            "silu": {s: 0.6 for s in seeds},
        },
    )
    results = {"a": acc, "b": loss}
    groups = group_ratios(results, per_seed={"a": acc_seeds, "b": loss_seeds}, seeds=seeds)
    rows = {r.name: r for r in groups["test"].rows}
    for row in rows.values():
        assert row.mean_low <= row.mean <= row.mean_high and row.worst_low <= row.worst <= row.worst_high
    assert rows["#1"].mean_low > 1.0  # better everywhere, beyond the seeds' noise
    assert rows["#2"].mean_low < 1.0 < rows["#2"].mean_high  # a tie straddles 1
    assert group_ratios(results, per_seed={"a": acc_seeds, "b": loss_seeds}, seeds=seeds) == groups  # reproducible
    summary = Confirmation(seeds, results, None, groups)
    assert Confirmation.from_json(json.loads(json.dumps(summary.to_json()))) == summary
    table = next(cells for title, _, cells in tables(summary) if title.startswith("test group"))
    assert any(cell.startswith(f"{rows['#1'].mean:.4f} [") for row in table for cell in row)

    first4 = {
        task: {n: {s: v for s, v in by.items() if s in seeds[:4]} for n, by in measured.items()}
        for task, measured in (("a", acc_seeds), ("b", loss_seeds))
    }
    few = group_ratios(results, per_seed=first4, seeds=seeds[:4])
    assert all(r.mean_low is None for r in few["test"].rows)  # 4 seeds: too few for an interval worth printing
    del acc_seeds["#1"][3]  # a missed seed: no interval for that function, the others keep theirs
    missed = {
        r.name: r for r in group_ratios(results, per_seed={"a": acc_seeds, "b": loss_seeds}, seeds=seeds)["test"].rows
    }
    assert missed["#1"].mean_low is None and missed["#1"].mean is not None and missed["#2"].mean_low is not None


def test_a_function_as_good_as_tied_references_is_within_its_interval_of_them():
    """The best of tied references' means is too high (each task picks whichever was lucky), so a function equal to
    them scores below 1 on average; its interval must reach 1 all the same (a percentile interval cannot: every
    resample picks the lucky one too)."""
    rng = np.random.default_rng(3)
    seeds = tuple(range(10))
    results, per_seed = {}, {}
    for task in "abcdefg":
        gelu = {s: 0.8 + v for s, v in zip(seeds, rng.normal(0, 0.01, len(seeds)))}
        silu = {s: 0.8 + v for s, v in zip(seeds, rng.normal(0, 0.01, len(seeds)))}
        results[task], per_seed[task] = _task("accuracy", {"#1": dict(gelu), "gelu": gelu, "silu": silu})
    row = next(r for r in group_ratios(results, per_seed=per_seed, seeds=seeds)["test"].rows if r.name == "#1")
    assert row.mean < 1.0 < row.mean_high and row.worst_low < 1.0 < row.worst_high


def test_a_confirmation_stored_before_intervals_reads_back_without_them():
    stored = {
        "seeds": [1, 2],
        "tasks": {},
        "groups": {
            "test": {
                "tasks": ["a"],
                "references": ["gelu"],
                "rows": [
                    {
                        "name": "#1",
                        "formula": "x",
                        "baseline": False,
                        "mean": 0.99,
                        "worst": 0.98,
                        "worst_task": "a",
                        "tasks": 1,
                    }
                ],
            }
        },
    }
    row = Confirmation.from_json(stored).groups["test"].rows[0]
    assert row.mean == 0.99 and row.mean_low is None and row.worst_high is None
