import io
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import evoact
from evoact.cli import main
from evoact.comparison import paired_p_value, tables
from evoact.config import make_config
from evoact.confirmation import (
    CONFIRM_BASELINES,
    confirm_run,
    default_tasks,
    fresh_seeds,
    training_timeout,
)
from evoact.driver import run_search
from evoact.records import Outcome
from evoact.run_files import CONFIG_FILE, DB_FILE
from evoact.store import RunStore
from evoact.tasks import get_task
from evoact.views import confirmed_text

TASKS = ["mnist1d-mlp", "digits-cnn"]


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    """A tiny finished search, confirmed on two tasks with 2 fresh seeds and 1 epoch."""
    run = tmp_path_factory.mktemp("confirm") / "run"
    run_search(make_config("tiny", tasks=("mnist1d-mlp",), workers=2, generations=1), run)
    summary = confirm_run(run, top=2, seeds=2, tasks=TASKS, epochs=1, workers=2)
    return run, summary


def test_fresh_seeds_avoid_the_search_seed():
    assert fresh_seeds(3, 0) == [10000, 10001, 10002]
    assert fresh_seeds(3, 10001) == [10000, 10002, 10003]
    assert fresh_seeds(3, 4293977293, race_seeds=3) == [10001, 10002, 10003]  # its second raced seed is 10000


def test_confirm_trains_top_candidates_and_the_five_baselines_on_fresh_seeds(confirmed):
    run, summary = confirmed
    store = RunStore.open(run)
    stored = store.confirmations()
    assert summary.seeds == (10000, 10001) and summary.epochs == 1 and list(summary.tasks) == TASKS
    for task in TASKS:
        rows = summary.tasks[task].rows
        names = [r.name for r in rows]
        assert len([r for r in rows if not r.baseline]) == 2
        assert [n for n in names if not n.startswith("#")] == list(
            CONFIRM_BASELINES
        )  # all five, even if a candidate equals one
        for row in rows:
            mine = {r.seed: r.test_acc for r in stored if r.formula == row.formula and r.task == task}
            assert tuple(sorted(mine)) == summary.seeds and row.n == 2
            assert row.mean == pytest.approx(statistics.fmean(mine.values()))
            assert row.std == pytest.approx(statistics.stdev(mine.values()))
            relu = {r.seed: r.test_acc for r in stored if r.formula == "Max(0, x)" and r.task == task}
            if row.name != "relu":
                assert row.p_vs_relu == paired_p_value([mine[s] for s in sorted(mine)], [relu[s] for s in sorted(mine)])
        best = summary.tasks[task].best_baseline
        assert best in CONFIRM_BASELINES and max((r.mean, r.name) for r in rows if r.baseline)[1] == best
    assert len(stored) == len({r.formula for r in summary.tasks[TASKS[0]].rows}) * len(TASKS) * 2  # one per function
    first = stored[: len(stored) // 2 - 2]  # trained seed by seed (two workers may finish a little out of order)
    assert {r.seed for r in first} == {10000} and {r.task for r in first} == set(TASKS)
    assert store.meta()["confirmation"] == summary.to_json()


def test_confirm_again_reuses_every_stored_training_and_show_and_report_print_it(confirmed):
    run, summary = confirmed
    before = RunStore.open(run).confirmations()
    out = Console(file=io.StringIO())
    assert confirm_run(run, top=2, seeds=2, tasks=TASKS, epochs=1, workers=2, console=out) == summary
    assert f"evoact: {len(before)} of {len(before)} trainings already stored (an earlier confirm): 0 to go" in (
        out.file.getvalue()
    )
    assert RunStore.open(run).confirmations() == before  # nothing re-trained: finished_at unchanged
    from click.testing import CliRunner

    out = CliRunner().invoke(main, ["show", str(run)]).output
    assert "mnist1d-mlp (search group: the run's own task): test accuracy over 2 fresh seeds" in out
    assert "digits-cnn (validation group: not used by the search)" in out
    verdict = evoact.open_run(run).verdict()
    said = {v: verdict.confirmed_as(v) for v in ("better", "no significant difference", "worse")}
    flat = " ".join(out.split())
    assert any(said.values()) and f"confirmed on fresh seeds: #{verdict.winner.id} " in flat
    assert all(f"{v} {'from' if v[0] == 'n' else 'than'} {t}" in flat for v, t in said.items() if t)
    assert ("significantly worse than" in (verdict.note or "")) == bool(said["worse"])
    md = (
        CliRunner()
        .invoke(
            main,
            [
                "confirm",
                str(run),
                "--top",
                "2",
                "--seeds",
                "2",
                "--task",
                "mnist1d-mlp",
                "--task",
                "digits-cnn",
                "--epochs",
                "1",
                "--markdown",
            ],
        )
        .output
    )
    assert "| function | formula | test acc (mean ± std) |" in md and "| relu | `Max(0, x)` |" in md
    flat = " ".join(md.split())  # confirm ends with the run's verdict, as show heads it: no lone table to misread
    assert f"confirmed on fresh seeds: #{verdict.winner.id} " in flat and "; the tables above)" in flat
    assert "no intervals: they need 5 or more seeds (read a ratio with its tasks' p-values)" in flat  # 2 seeds
    from evoact.report import render_report

    assert "Confirmation on fresh seeds" in render_report(RunStore.open(run), top=1)
    (listed,) = json.loads(CliRunner().invoke(main, ["runs", str(run.parent), "--json"]).output)
    assert {t: v["verdict"] for t, v in listed["confirmed"].items()} == {
        t: v.verdict for t, v in verdict.confirmed.items()
    }  # `runs` and `compare` say what the confirmation found, not only `show`
    counted = confirmed_text(verdict.confirmed)
    assert counted.endswith(" of 2") and counted in " ".join(
        CliRunner().invoke(main, ["runs", str(run.parent)], terminal_width=300).output.split()
    )
    compared = CliRunner().invoke(main, ["compare", str(run), str(run)], terminal_width=300).output
    assert f"rank 1 confirmed (tasks) │ {counted}" in " ".join(compared.split())


def test_confirm_refuses_bad_arguments(confirmed):
    run, _ = confirmed
    with pytest.raises(ValueError, match=r"^--seeds must be at least 2 \(a paired test needs pairs\), got 1$"):
        confirm_run(run, seeds=1)
    with pytest.raises(ValueError, match=r"^--top must be at least 1, got 0$"):
        confirm_run(run, top=0)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        confirm_run(run, tasks=["nope"])


def test_confirm_adds_the_held_out_suite_by_default_and_its_statistics_follow_the_stored_rows(tmp_path):
    from evoact.tasks import SUITES

    run = tmp_path / "run"
    run_search(make_config("tiny", tasks=("mnist1d-cnn",), workers=2, generations=1), run)
    summary = confirm_run(run, top=1, seeds=2, workers=2)
    held_out = [t for t, result in summary.tasks.items() if result.held_out]
    assert list(summary.tasks)[0] == "mnist1d-cnn" and not summary.tasks["mnist1d-cnn"].held_out
    assert held_out == [t for t in SUITES["heldout"] if t != "mnist1d-cnn"]  # the held-out set excludes the run's task
    stored = RunStore.open(run).confirmations()
    for task in ("friedman-mlp", "digits-deep-mlp"):  # a loss task and an accuracy task
        result = summary.tasks[task]
        assert result.metric == ("loss" if task == "friedman-mlp" else "accuracy")
        values = {
            r.name: {s.seed: s.measure(result.metric) for s in stored if s.formula == r.formula and s.task == task}
            for r in result.rows
        }
        means = {name: statistics.fmean(v.values()) for name, v in values.items()}
        pick = min if result.metric == "loss" else max
        assert result.best_baseline == pick((n for n in CONFIRM_BASELINES), key=means.get)
        for row in result.rows:
            assert row.mean == pytest.approx(means[row.name]) and row.n == 2
            if row.name != "relu":
                seeds = sorted(values[row.name])
                assert row.p_vs_relu == paired_p_value(
                    [values[row.name][s] for s in seeds], [values["relu"][s] for s in seeds]
                )
                assert row.diff_vs_relu == pytest.approx(means[row.name] - means["relu"])
    shown = CliRunner().invoke(main, ["show", str(run)]).output
    assert "friedman-mlp (validation group: not used by the search): test loss over 2 fresh seeds (lower is" in shown
    assert "validation group (6 tasks): test measure relative to the best of GELU, SiLU and" in shown


def test_default_tasks_follow_the_groups_and_the_test_group_is_asked_for_by_name():
    from evoact.tasks import SUITES

    run_tasks = ("mnist1d-cnn",)
    assert default_tasks(run_tasks) == ["mnist1d-cnn", *(t for t in SUITES["validation"] if t != "mnist1d-cnn")]
    assert default_tasks(run_tasks, ("test",)) == list(SUITES["test"])
    with pytest.raises(ValueError, match="unknown task group 'nope'"):
        default_tasks(run_tasks, ("nope",))


def test_a_search_never_trains_on_the_test_group():
    with pytest.raises(ValueError, match="the test group only reports results"):
        make_config("tiny", tasks=("cancer-wide-mlp",))
    refused = CliRunner().invoke(main, ["search", "--suite", "test"])
    assert refused.exit_code == 2 and "'test' is not one of" in refused.output


def _top(run):
    """The run's best candidate, as confirm --top 1 takes it."""
    from evoact.run import RunReader

    return RunReader(RunStore.open(run)).distinct(1)[0]


def test_formulas_of_ones_own_are_confirmed_beside_the_top(confirmed):
    from evoact.confirmation import _entries

    run, _ = confirmed
    entries = _entries(RunStore.open(run), _top(run), ["x*tanh(x)", "tanh(x)*x"])
    assert [e["name"] for e in entries][:2] == [entries[0]["name"], "given 1"] and entries[1]["formula"] == "x*tanh(x)"
    assert [e["name"] for e in entries if e["baseline"]] == list(CONFIRM_BASELINES)  # the same formula once
    with pytest.raises(ValueError, match="--also 'x\\*\\*': "):
        _entries(RunStore.open(run), _top(run), ["x**"])
    xsilu = "x*(sigmoid(x)*(1 + 2*alpha) - alpha)"  # the xsilu baseline's formula, alpha from 1 instead of 0
    with pytest.raises(ValueError, match="is the baseline xsilu's formula with other starting constants"):
        _entries(RunStore.open(run), _top(run), [xsilu], ("relu", "xsilu"), {"beta": 1.0})
    entries = _entries(
        RunStore.open(run), _top(run), [xsilu.replace("alpha", "beta")], ("relu", "xsilu"), {"beta": 1.0}
    )
    assert [e["params"] for e in entries if e["name"] == "xsilu"] == [{"beta": 1.0, "alpha": 0.0}]


def test_a_formula_that_is_a_baseline_s_trains_once_per_seed(confirmed, tmp_path):
    import io
    import shutil

    from rich.console import Console

    source, _ = confirmed
    run = tmp_path / "copy"
    shutil.copytree(source, run)
    from evoact.confirmation import _entries

    entries = _entries(RunStore.open(run), _top(run), ["gelu(x)", "relu(x)"])
    distinct = len({e["formula"] for e in entries})
    assert distinct < len(entries)  # the given GELU is the baseline's formula (and the top may be one too)
    out = io.StringIO()
    summary = confirm_run(
        run, top=1, seeds=5, tasks=["mnist1d-mlp"], epochs=1, also=["gelu(x)", "relu(x)"], console=Console(file=out)
    )
    result = summary.tasks["mnist1d-mlp"]
    rows = {r.name: r for r in result.rows}
    # no test of a function against its own trainings under another name; another function's has one
    assert rows["given 2 = relu"].p_vs_relu is None and rows["given 2 = relu"].diff_vs_relu is None
    assert rows["given 1 = gelu"].p_vs_relu is not None
    same = [r for r in result.rows if r.formula == rows[result.best_baseline].formula]
    assert all(r.p_vs_best_baseline is None and r.diff_vs_best_baseline is None for r in same)
    ratios = [r for r in summary.groups["search"].rows if r.mean is not None]
    assert ratios and all(r.mean_low <= r.mean <= r.mean_high for r in ratios)  # 5 seeds: intervals over them
    # seeds 10002-10004 are new: one training per distinct formula and seed, never one per name
    assert f"{3 * distinct}/{3 * distinct} " in out.getvalue() and f"/{3 * len(entries)} " not in out.getvalue()
    said = " ".join(out.getvalue().split())
    assert "given 1 = gelu on mnist1d-mlp seed 10002: test acc" in said and f"/{3 * distinct} gelu on" not in said
    gelu = [r for r in RunStore.open(run).confirmations() if r.name == "gelu" and r.task == "mnist1d-mlp"]
    assert sorted(r.seed for r in gelu) == [10000, 10001, 10002, 10003, 10004]


def test_bad_arguments_are_refused_before_the_run_is_opened_to_write(confirmed):
    run, _ = confirmed
    with pytest.raises(ValueError, match="--also 'x\\*\\*'"):
        confirm_run(run, also=["x**"])
    with pytest.raises(ValueError, match="unknown task group 'nope'"):
        confirm_run(run, groups=("nope",))
    assert RunStore.open(run).meta()["state"] == "finished"  # nothing was written


def test_baselines_are_copied_from_a_run_confirmed_under_the_same_protocol(confirmed, tmp_path):
    import io
    import shutil
    import sqlite3
    from dataclasses import replace

    from rich.console import Console

    from evoact.confirmation import shared_baselines
    from evoact.run import read_run

    source, summary = confirmed
    twin = tmp_path / "twin"
    shutil.copytree(source, twin)
    with sqlite3.connect(twin / DB_FILE) as db:
        db.execute("DELETE FROM confirmations")
    out = io.StringIO()
    again = confirm_run(
        twin, top=2, seeds=2, tasks=TASKS, epochs=1, workers=2, baselines_from=source, console=Console(file=out)
    )
    assert f"{len(CONFIRM_BASELINES) * len(TASKS) * 2} baseline trainings copied from {source}" in out.getvalue()
    assert again == summary  # the candidates trained again, the baselines copied: the same results
    assert RunStore.open(twin).meta()["baselines_from"] == str(source.resolve())
    theirs = {(r.formula, r.task, r.seed): r.test_acc for r in RunStore.open(source).confirmations()}
    assert {(r.formula, r.task, r.seed): r.test_acc for r in RunStore.open(twin).confirmations()} == theirs
    config = read_run(twin).config
    other = replace(config, training=replace(config.training, batch_size=7))
    store = RunStore.reopen(twin)
    try:
        with pytest.raises(ValueError, match="that run has another training protocol"):
            shared_baselines(store, source, other, [], TASKS, [10000], {t: 1 for t in TASKS})
    finally:
        store.close()
    elsewhere = tmp_path / "elsewhere"  # made with another SymPy: another glu-sympy-docs corpus
    shutil.copytree(source, elsewhere)
    made = json.loads((elsewhere / CONFIG_FILE).read_text())
    made["versions"]["sympy"] = "0.9"
    (elsewhere / CONFIG_FILE).write_text(json.dumps(made))
    store = RunStore.reopen(twin)
    try:
        with pytest.raises(
            ValueError, match=r"sympy 0\.9, this one by .*shared only between runs of the same versions"
        ):
            shared_baselines(store, elsewhere, config, [], TASKS, [10000], {t: 1 for t in TASKS})
        with pytest.raises(ValueError, match="^--baselines-from: .*nowhere: no such run directory$"):
            shared_baselines(store, tmp_path / "nowhere", config, [], TASKS, [10000], {t: 1 for t in TASKS})
    finally:
        store.close()


def test_a_user_task_without_a_test_measure_stops_the_confirmation_at_its_first_training(confirmed, tmp_path):
    """Search needs only val_acc; confirm compares test_acc: say so at once, not after every training failed."""
    import io

    from rich.console import Console

    run = tmp_path / "run"
    shutil.copytree(confirmed[0], run)
    task = tmp_path / "no_test.py"
    task.write_text("def net(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 0.5}\n")
    out = io.StringIO()
    with pytest.raises(ValueError, match="no_test.py:net returned no test_acc, which confirm compares"):
        confirm_run(run, top=1, seeds=3, tasks=[f"{task}:net"], epochs=1, workers=1, console=Console(file=out))
    assert out.getvalue().count(" seed 1000") < 6 * 3  # it stopped before training every function on every seed


def test_a_confirmation_on_fewer_seeds_than_the_stored_one_says_it_takes_its_place(confirmed, tmp_path):
    """A quick second look (`--seeds 2` after `--seeds 3`) trained nothing new and silently replaced the verdict that
    show, the report and runs gave with one on fewer seeds (a new user's "worse, p 1e-06" became "no difference")."""
    run = tmp_path / "run"
    shutil.copytree(confirmed[0], run)
    task = tmp_path / "quick.py"
    task.write_text(
        "def net(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 0.5, 'test_acc': 0.5}\n"
    )
    confirm_run(run, top=1, seeds=3, tasks=[f"{task}:net"], epochs=1, workers=2, console=Console(file=io.StringIO()))
    out = io.StringIO()
    summary = confirm_run(run, top=1, seeds=2, tasks=[f"{task}:net"], epochs=1, workers=2, console=Console(file=out))
    said = " ".join(out.getvalue().split())
    assert f"the stored confirmation of {task}:net is over 3 seeds: this one's 2 take its place in show" in said
    assert "--seeds 3 says it again, training nothing new" in said and summary.tasks[f"{task}:net"].seeds == (
        10000,
        10001,
    )
    confirm_run(run, top=1, seeds=3, tasks=[f"{task}:net"], epochs=1, workers=2, console=Console(file=io.StringIO()))
    out = io.StringIO()  # the stored one said again, then replaced by one of another length
    confirm_run(run, top=1, seeds=2, tasks=[f"{task}:net"], epochs=2, workers=2, console=Console(file=out))
    assert "--seeds 3 --epochs 1 says it again, training nothing new" in " ".join(out.getvalue().split())
    out = io.StringIO()
    confirm_run(run, top=1, seeds=2, tasks=["mnist1d-mlp"], epochs=1, workers=2, console=Console(file=out))
    assert "take its place" not in out.getvalue()  # as many seeds as the stored one: nothing to say


def test_a_user_task_that_breaks_its_contract_stops_the_confirmation_at_its_first_training(confirmed, tmp_path):
    """A task returning the wrong keys fails every training alike: one training says so, and none is stored (the
    failure is the task's, not the function's)."""
    run = tmp_path / "run"
    shutil.copytree(confirmed[0], run)
    task = tmp_path / "keys.py"
    task.write_text("def net(make_activation, seed, epochs):\n    make_activation()\n    return {'acc': 0.5}\n")
    out = io.StringIO()
    with pytest.raises(ValueError, match=r"it returned keys 'acc' .*; the trainings done so far are kept$"):
        confirm_run(run, top=1, seeds=3, tasks=[f"{task}:net"], epochs=1, workers=1, console=Console(file=out))
    assert out.getvalue().count(" seed 1000") == 1
    store = RunStore.open(run)
    assert not [c for c in store.confirmations() if c.task.endswith("keys.py:net")]
    store.close()


def test_a_confirmation_whose_every_training_fails_keeps_the_earlier_one_and_a_fixed_task_trains_again(
    confirmed, tmp_path
):
    """A user's task that cannot train (a bug in it) fails the confirmation in one line and the run keeps the
    confirmation it had; once the file is fixed, and again once it changes, confirming trains again instead of reusing
    what the old code gave."""
    run = tmp_path / "run"
    shutil.copytree(confirmed[0], run)
    before = RunStore.open(run).meta()["confirmation"]
    task = tmp_path / "mine.py"
    task.write_text(
        "def net(make_activation, seed, epochs):\n    make_activation()\n    raise RuntimeError('a bug in my task')\n"
    )
    with pytest.raises(ValueError, match=r"failed \(.* a bug in my task \(at .*mine\.py:3 in net\)\); the run's ear"):
        confirm_run(run, top=1, seeds=2, tasks=[f"{task}:net"], epochs=1, workers=2)
    assert RunStore.open(run).meta()["confirmation"] == before
    task.write_text(
        "def net(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.5 + seed / 1e6, 'test_acc': 0.5}\n"
    )
    summary = confirm_run(run, top=1, seeds=2, tasks=[f"{task}:net"], epochs=1, workers=2)
    stored = RunStore.open(run).confirmations()
    mine = [r for r in stored if r.task.endswith("mine.py:net")]
    assert mine and all(r.status == "ok" and r.test_acc == 0.5 for r in mine)
    stored_summary = RunStore.open(run).meta()["confirmation"]
    assert stored_summary != before and stored_summary["tasks"] == {**before["tasks"], **summary.to_json()["tasks"]}
    task.write_text(  # the network changes again: what its old code measured is not reused
        "def net(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.5, 'test_acc': 0.75}\n"
    )
    confirm_run(run, top=1, seeds=2, tasks=[f"{task}:net"], epochs=1, workers=2)
    mine = [r for r in RunStore.open(run).confirmations() if r.task.endswith("mine.py:net")]
    assert mine and all(r.test_acc == 0.75 for r in mine)


def test_a_confirmation_at_a_short_run_s_length_says_so(confirmed, tmp_path):
    """A tiny run trains each task a tenth of its epochs; confirming at that length gives p-values about networks
    that have barely learned, so confirm says so and how to train longer."""
    import io

    from rich.console import Console

    run = tmp_path / "run"
    shutil.copytree(confirmed[0], run)
    out = io.StringIO()
    confirm_run(run, top=1, seeds=2, tasks=["mnist1d-mlp"], workers=2, console=Console(file=out, width=400))
    assert "each task trains 0.1 of its epochs, as this tiny run did: too short" in out.getvalue()
    assert "--epochs N" in out.getvalue()
    out = io.StringIO()
    confirm_run(run, top=1, seeds=2, tasks=["mnist1d-mlp"], epochs=1, workers=2, console=Console(file=out, width=400))
    assert "too short" not in out.getvalue()
    out = io.StringIO()  # a task of one's own has no epochs of its own to take a tenth of: how many it trains
    spirals = f"{Path(__file__).parent.parent / 'docs' / 'examples' / 'spirals_task.py'}:spirals"
    confirm_run(run, top=1, seeds=2, tasks=[spirals], workers=2, console=Console(file=out, width=400))
    assert "each task trains 0.1 of its epochs, as this tiny run did (a task of your own 2 of 25):" in out.getvalue()


def test_a_confirmation_of_a_run_of_fixed_length_says_every_task_trains_it(tmp_path):
    """A run made with --epochs trains every task that long, and so does its confirmation, held-out tasks included:
    only a note says so (their own lengths differ)."""
    import io

    from rich.console import Console

    from evoact.genome import load_search_space

    config = make_config("tiny", tasks=["mnist1d-mlp"], epochs=1).to_dict()
    space = load_search_space("default")
    fixed = RunStore.create(tmp_path / "fixed", {"config": config, "search_space": {"text": space.text, "source": "x"}})
    cid = fixed.add_candidate("x*tanh(x)", "random", generation=0, nodes=3)
    fixed.record_result(cid, Outcome("ok", fitness=0.9, val_acc=0.9))
    fixed.close()
    out = io.StringIO()
    confirm_run(
        tmp_path / "fixed", top=1, seeds=2, tasks=["mnist1d-mlp"], workers=2, console=Console(file=out, width=400)
    )
    assert "every task trains 1 epoch(s), as this run's did (--epochs), whatever its own length" in out.getvalue()


def _copy_with_task(confirmed, path: Path, code: str) -> tuple[Path, str]:
    """A copy of the confirmed run beside a user task file of ``code``, named as ``--task`` takes it."""
    run = path.parent / "run"
    shutil.copytree(confirmed[0], run)
    path.write_text(code)
    return run, f"{path}:net"


def test_a_run_whose_stored_confirmation_is_damaged_is_still_listed_saying_so(confirmed, tmp_path):
    """`runs` and `compare` read the confirmation for their column: a damaged one hid the run from the list."""
    run, _ = confirmed
    shutil.copytree(run, tmp_path / "runs" / "run")
    with sqlite3.connect(tmp_path / "runs" / "run" / DB_FILE) as db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'confirmation'").fetchone()
        stored = json.loads(text)
        next(iter(stored["tasks"].values()))["metric"] = "Accuracy"
        db.execute("UPDATE meta SET value = ? WHERE key = 'confirmation'", (json.dumps(stored),))
    (listed,) = json.loads(CliRunner().invoke(main, ["runs", str(tmp_path / "runs"), "--json"]).output)
    assert "the confirmation's metric 'Accuracy' is not one of accuracy, loss" in listed["confirmation_unreadable"]
    shown = CliRunner().invoke(main, ["runs", str(tmp_path / "runs")], terminal_width=300).output
    assert "unreadable" in shown and "not listed" not in shown
    refused = CliRunner().invoke(main, ["show", str(tmp_path / "runs" / "run")])
    assert refused.exit_code == 1 and "the confirmation's metric 'Accuracy'" in refused.output


def test_confirming_on_other_tasks_adds_to_what_show_prints_and_a_task_confirmed_again_is_replaced(confirmed, tmp_path):
    """A run confirmed on its tasks, then on one of the user's: ``show`` and the report keep both (each task with its
    own number of seeds); confirming a task again replaces its results only."""
    run, mine = _copy_with_task(
        confirmed,
        tmp_path / "mine.py",
        "def net(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.5, 'test_acc': 0.5 + (seed % 7) / 100}\n",
    )
    confirm_run(run, top=1, seeds=3, tasks=[mine], epochs=1, workers=2)
    shown = evoact.open_run(run).confirmation()
    assert shown is not None and set(shown.tasks) == {*TASKS, mine}
    assert {t: {r.n for r in shown.tasks[t].rows} for t in shown.tasks} == {TASKS[0]: {2}, TASKS[1]: {2}, mine: {3}}
    assert shown.groups == confirmed[1].groups  # the earlier confirmation's group ratios: none of its tasks retrained
    titles = [title for title, _, _ in tables(shown)]  # what show, its Markdown and the report print
    assert titles[0].startswith(f"{TASKS[0]} (search group: the run's own task): test accuracy over 2 fresh seeds")
    assert titles[2].startswith(f"{mine} (not used by the search): test accuracy over 3 fresh seeds")
    result = CliRunner().invoke(main, ["show", str(run)], terminal_width=400)
    assert result.exit_code == 0 and TASKS[1] in result.output and "mine.py:net" in result.output, result.output
    confirm_run(run, top=1, seeds=2, tasks=[TASKS[1], mine], epochs=1, workers=2)
    again = evoact.open_run(run).confirmation()
    assert again is not None and list(again.tasks) == [TASKS[0], TASKS[1], mine]
    assert {t: {r.n for r in again.tasks[t].rows} for t in again.tasks} == {TASKS[0]: {2}, TASKS[1]: {2}, mine: {2}}
    assert again.tasks[TASKS[0]] == shown.tasks[TASKS[0]]
    assert len(again.tasks[TASKS[1]].rows) < len(shown.tasks[TASKS[1]].rows)  # the top 1 now, not 2
    assert again.groups is not None and shown.groups is not None
    assert again.groups["search"] == shown.groups["search"] and again.groups["validation"].tasks == (TASKS[1],)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_a_confirmation_keeping_its_trainings_and_the_same_command_goes_on(
    confirmed, tmp_path, signum, code
):
    run, slow = _copy_with_task(
        confirmed,
        tmp_path / "slow.py",
        "import time\n\ndef net(make_activation, seed, epochs):\n    make_activation()\n    time.sleep(0.5)\n"
        "    return {'val_acc': 0.5, 'test_acc': 0.5}\n",
    )
    args = [sys.executable, "-m", "evoact.cli", "confirm", str(run), "--task", slow, "--top", "1"]
    args += ["--seeds", "4", "--epochs", "1", "--workers", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # Ctrl-C as a terminal delivers it, even where the tests run as a background job
        args,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300

    def mine() -> int:
        return len([r for r in RunStore.open(run).confirmations() if r.task.endswith("slow.py:net")])

    while time.time() < deadline and proc.poll() is None and not mine():
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()  # still running: it has trained some, not all
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code and "the trainings done are stored, and the same command again goes on" in err, err
    said = "terminated (SIGTERM)" if signum == signal.SIGTERM else "Ctrl-C again to stop at once"
    assert f"stopping; {said}" in err and "stopping" not in out  # stdout holds only results (--json's)
    done = mine()
    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    total = mine()
    assert 0 < done < total and total % 4 == 0  # every function on the 4 seeds
    assert f"{done} of {total} trainings already stored" in again.stdout + again.stderr


def test_a_summary_stored_before_tasks_kept_their_seeds_adds_up_with_its_own_seeds_and_length():
    from evoact.summaries import Confirmation, TaskConfirmation

    old = {  # as an earlier evoact stored it: seeds and a forced length once, for every task
        "seeds": [10000, 10001],
        "epochs": 2,
        "tasks": {"a": {"best_baseline": "relu", "rows": [], "metric": "accuracy", "held_out": False}},
    }
    new = Confirmation((10000, 10001, 10002), {"b": TaskConfirmation(None, (), "loss", True, 5.0, None, (10000,))})
    merged = new.after(Confirmation.from_json(old))
    assert list(merged.tasks) == ["a", "b"] and Confirmation.from_json(merged.to_json()) == merged
    a, b = (title for title, _, _ in tables(merged))
    assert a.startswith("a: test accuracy over 2 fresh seeds") and "; 2 epochs)" in a
    assert b.startswith("b (not used by the search): test loss over 1 fresh seeds") and "; 5 epochs)" in b


def test_confirm_top_passes_over_a_variant_show_lists(tmp_path):
    """`show` lists `2*x*tanh(x)` under `x*tanh(x)` as its variant (the same idea, rescaled): `--top 2` confirms two
    ideas, the best and the next distinct one, and says which it passed over."""
    from evoact.api import open_run
    from evoact.genome import load_search_space
    from evoact.records import Outcome, TaskScore

    config = make_config("tiny", tasks=("mnist1d-mlp",)).to_dict()
    space = load_search_space("default")
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": space.text, "source": "x"}})
    silu = store.add_candidate("x/(1 + exp(-x))", "baseline", label="silu")
    store.record_result(silu, Outcome("ok", fitness=0.99, val_acc=0.495, scores={}))
    ids = {}
    rows = (("x*tanh(x)", 1.1), ("2*x*tanh(x)", 1.05), ("x + tanh(x)", 1.0), ("2*x/(1 + exp(-x))", 0.98))
    for formula, fitness in rows:
        ids[formula] = store.add_candidate(formula, "random", generation=0, nodes=4)
        scores = {"mnist1d-mlp": TaskScore(val_acc=fitness / 2)}
        store.record_result(ids[formula], Outcome("ok", fitness=fitness, val_acc=fitness / 2, scores=scores))
    store.set_meta("state", "finished")
    store.close()
    ranking = open_run(tmp_path / "run").summary().ranking
    assert [r.variant_of for r in ranking] == [None, ids["x*tanh(x)"], None, None, silu]
    chosen, _ = open_run(tmp_path / "run").distinct(3)  # a baseline's variant is kept: the baseline is no candidate
    assert [r.id for r in chosen] == [ids["x*tanh(x)"], ids["x + tanh(x)"], ids["2*x/(1 + exp(-x))"]]
    chosen, passed = open_run(tmp_path / "run").distinct(2)
    assert [r.id for r in chosen] == [ids["x*tanh(x)"], ids["x + tanh(x)"]]
    assert [(r.id, head) for r, head in passed] == [(ids["2*x*tanh(x)"], ids["x*tanh(x)"])]
    out = io.StringIO()
    summary = confirm_run(
        tmp_path / "run", top=2, seeds=2, tasks=["mnist1d-mlp"], epochs=1, workers=2, console=Console(file=out)
    )
    confirmed = [r.name for r in summary.tasks["mnist1d-mlp"].rows if not r.baseline]
    assert sorted(confirmed) == sorted([f"#{ids['x*tanh(x)']}", f"#{ids['x + tanh(x)']}"])
    said = " ".join(out.getvalue().split())
    assert f"passed over #{ids['2*x*tanh(x)']} (a variant of #{ids['x*tanh(x)']})" in said


def test_a_confirmation_training_has_time_for_the_epochs_asked_of_it():
    """``--epochs`` on a run that trained each task a share of its own (the presets' epoch_scale) stretches the time
    limit as much as it lengthens the longest-stretched task (it kept the run's: a tiny run's trainings, confirmed at
    the tasks' full length, timed out each time)."""
    config = make_config("tiny", timeout=100.0)  # each task trains 0.1 of its epochs
    tasks = {name: get_task(name) for name in ("feynman-mlp", "mnist1d-mlp")}
    assert training_timeout(config, tasks, config.training) == 100.0
    longer = replace(config.training, epochs=20)
    stretch = max(20 / task.schedule(config.training).epochs for task in tasks.values())
    assert stretch > 1 and training_timeout(config, tasks, longer) == pytest.approx(100.0 * stretch)
    assert training_timeout(config, tasks, replace(config.training, epochs=1)) == 100.0  # never shorter


def test_show_notes_a_confirmation_that_does_not_cover_the_runs_best(confirmed, tmp_path):
    """A confirmation made before the search went on (or of other functions) stayed in the run with no word, its
    tables easily read as the best's."""
    run, summary = confirmed
    out = " ".join(CliRunner().invoke(main, ["show", str(run)], terminal_width=300).output.split())
    assert "does not cover the run's best" not in out  # it confirmed the top 2
    trained = {r.formula for t in summary.tasks.values() for r in t.rows if not r.baseline}
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with sqlite3.connect(copy / DB_FILE) as db:  # as if the search had gone on and found a new best since
        other = next(
            cid
            for cid, formula in db.execute("SELECT id, formula FROM candidates WHERE label IS NULL AND status = 'ok'")
            if formula not in trained
        )
        db.execute("UPDATE candidates SET fitness = 9.0 WHERE id = ?", (other,))
    assert evoact.open_run(copy).best.id == other
    out = " ".join(CliRunner().invoke(main, ["show", str(copy)], terminal_width=300).output.split())
    assert f"note: the confirmation above does not cover the run's best, #{other} (it confirmed others, or came" in out
    assert f"evoact confirm {copy} trains it" in out
