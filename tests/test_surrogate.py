import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

import evoact
from evoact.benchtable import load_table
from evoact.cli import main
from evoact.config import fitness_protocol
from evoact.screening import CACHE_FILE, FitnessCache
from evoact.surrogate import (
    Decision,
    Example,
    Gate,
    Surrogate,
    function_groups,
    schedule_ranks,
    table_examples,
    targets,
)


def test_the_surrogate_ranks_functions_it_was_not_fitted_on():
    table = load_table()
    examples = table_examples(table)
    assert len(examples) > 1000 and sum(e.scores is not None for e in examples) > 500
    # functions equal at the constants' initial values are held out together (their features nearly coincide)
    groups = function_groups([e.formula for e in examples], {"beta": 1.0})
    rng = np.random.default_rng(0)
    held_groups = set(rng.permutation(sorted(set(groups)))[: len(set(groups)) // 2])
    fit = [e for e, g in zip(examples, groups) if g not in held_groups]
    held = [e for e, g in zip(examples, groups) if g in held_groups and e.scores]
    surrogate = Surrogate(table.tasks, {"beta": 1.0})
    surrogate.add(fit)
    assert surrogate.fit()
    predicted = surrogate.predict_scores([e.formula for e in held])
    truth = np.array([e.scores for e in held])
    assert predicted.shape == truth.shape == (len(held), len(table.tasks))
    assert spearmanr(predicted.mean(1), truth.mean(1)).statistic > 0.5  # the fitness: bench/results/surrogate.md
    for k in range(len(table.tasks)):
        assert spearmanr(predicted[:, k], truth[:, k]).statistic > 0.3


def test_scores_from_a_shorter_schedule_inform_the_run_without_being_taken_for_its_own():
    """A cheaper table that ranks functions in reverse of the run's own trainings: the prediction, made at the run's
    schedule, follows the run's (a model blind to the schedule averages the two into noise)."""
    formulas = [f"{a}*x + tanh({b}*x)" for a in range(1, 6) for b in range(1, 7)]
    cheap = [Example(f, (1.0 - 0.01 * i,), schedule=0.25) for i, f in enumerate(formulas)]
    own = [Example(f, (0.5 + 0.01 * i,)) for i, f in enumerate(formulas)]
    surrogate = Surrogate(("task",), {}, seed=1)
    surrogate.add([*cheap, *own])
    assert surrogate.fit()
    predicted = surrogate.predict_scores(formulas)[:, 0]
    assert spearmanr(predicted, range(len(formulas))).statistic > 0.9
    assert surrogate.ranked and 0.0 <= predicted.min() and predicted.max() <= 1.0  # ranks: the two scales differ
    alone = Surrogate(("task",), {}, seed=1)
    alone.add(own)
    assert alone.fit() and not alone.ranked  # the run's own schedule only: scores relative to the best baseline
    assert abs(alone.predict_scores(formulas)[:, 0].mean() - np.mean([e.scores[0] for e in own])) < 0.05


def test_schedule_ranks_put_each_schedule_and_task_on_one_scale():
    y = np.array([[0.2, 9.0], [0.4, 7.0], [0.4, 8.0], [0.9, 1.0], [0.7, 1.0], [0.1, 0.1]])
    ranks = schedule_ranks(y, [0.25, 0.25, 0.25, 1.0, 1.0, 0.5])
    assert ranks.tolist() == [[0.0, 1.0], [0.5, 0.0], [0.5, 0.5], [1.0, 0.0], [0.0, 0.0], [0.5, 0.5]]
    failed = targets([Example("a", (0.9,)), Example("b", (0.5,)), Example("c", None), Example("d", None)])
    assert schedule_ranks(failed, [1.0, 0.5, 0.5, 0.5]).tolist() == [[0.5], [0.0], [0.0], [0.0]]  # broken: the bottom
    wording = Decision(False, 0.25, 0.75, ranked=True).reason
    assert "predicts percentile 25.0 of the functions it knows (100: the best), below percentile 75.0" in wording
    ranked = Decision(False, 0.25, None, ranked=True, rank=(5, 20, 4)).reason
    assert ranked.startswith("the surrogate ranks it 5 of 20 (predicted percentile 25.0 of the functions it knows")


def test_the_gate_s_top_share_is_judged_at_the_run_s_schedule_where_a_cheaper_table_scores_higher():
    formulas = [f"{a}*x + tanh({b}*x)" for a in range(1, 6) for b in range(1, 7)]
    cheap = [Example(f, (1.0 - 0.01 * i,), schedule=0.5) for i, f in enumerate(formulas)]
    own = [Example(f, (0.9 - 0.01 * i,)) for i, f in enumerate(formulas)]
    gate = Gate(Surrogate(("task",), {}, seed=2), keep=0.25, explore=0.0, prior=cheap)
    gate.refit(own)
    candidates = [*formulas, *(f"{a}*x + atan({b}*x)" for a in range(1, 6) for b in range(1, 7))]
    trained = sum(d.train for d in gate.decide(candidates))
    assert 0.15 * len(candidates) <= trained <= 0.45 * len(candidates)  # at the cheap table's level: about a tenth


def test_the_gate_trains_everything_until_fitted_then_the_predicted_top_share_and_decides_alike_every_time():
    formulas = [f"{a}*x + tanh({b}*x)" for a in range(1, 6) for b in range(1, 7)]
    examples = [Example(f, (1.0 - 0.05 * i,)) for i, f in enumerate(formulas)]

    def gate():
        return Gate(Surrogate(("task",), {}, seed=3), keep=0.3, explore=0.1)

    first = gate()
    assert all(d.train and d.predicted is None for d in first.decide(formulas))
    first.refit(examples)
    second = gate()
    second.refit(examples)
    decisions = first.decide(formulas)
    assert decisions == second.decide(formulas)
    trained = [d for d in decisions if d.train]
    assert 0.2 * len(formulas) <= len(trained) <= 0.6 * len(formulas)
    skipped = [d for d in decisions if not d.train]
    assert skipped and all(d.predicted < d.threshold and "below" in d.reason for d in skipped)
    assert all(d.predicted >= d.threshold or d.explored for d in trained)
    unfitted = gate()
    unfitted.refit([Example(f, None) for f in formulas])  # nothing trained to the end: no surrogate yet
    assert unfitted.threshold is None and all(d.train for d in unfitted.decide(formulas))
    everything = Gate(Surrogate(("task",), {}, seed=3), keep=1.0, explore=0.1)  # the whole share: none skipped
    everything.refit(examples)
    assert all(d.train and not d.explored for d in everything.decide(formulas))


def test_selecting_puts_a_prediction_that_is_nan_last():
    """A NaN in the sort's key left the order where it stood: the formula after it was chosen whatever its rank."""
    from evoact.surrogate import Decision

    class Predicted(Gate):
        def decide(self, formulas):
            return [Decision(True, p, 0.5) for p in (0.2, math.nan, 0.1, 0.9, None, 0.3)]

    gate = Predicted(Surrogate(("task",), {}, seed=3), keep=0.3, explore=0.0, threshold=0.5)
    decisions = gate.select(["a", "b", "c", "d", "e", "f"], 3)
    assert [d.train for d in decisions] == [True, False, False, True, False, True]
    assert [d.rank[0] for d in decisions] == [3, 5, 4, 1, 6, 2]


def test_selecting_trains_the_predicted_top_n_with_one_exploration_pick_and_ranks_the_rest():
    formulas = [f"{a}*x + tanh({b}*x)" for a in range(1, 6) for b in range(1, 7)]
    gate = Gate(Surrogate(("task",), {}, seed=3), keep=0.3, explore=0.5)
    assert [d.train for d in gate.select(formulas, 4)] == [j < 4 for j in range(30)]  # unfitted: the first 4
    gate.refit([Example(f, (1.0 - 0.05 * i,)) for i, f in enumerate(formulas)])
    decisions = gate.select(formulas, 4)
    assert decisions == gate.select(formulas, 4) and sum(d.train for d in decisions) == 4
    ranked = sorted(decisions, key=lambda d: d.rank[0])
    assert [d.rank[0] for d in ranked] == list(range(1, 31)) and all(d.rank[1:] == (30, 4) for d in decisions)
    assert all(d.train for d in ranked[:3]) and sum(d.explored for d in decisions) <= 1  # top 3 + the 4th or a pick
    assert all(a.predicted >= b.predicted for a, b in zip(ranked, ranked[1:]))
    skipped = [d for d in decisions if not d.train]
    assert all("ranks it" in d.reason and "trains its top 4" in d.reason for d in skipped)
    assert not any(d.train for d in gate.select(formulas, 0))


def _decisions(run):
    return [(r.formula, str(r.status), str(r.outcome.stage), r.outcome.error) for r in run.store.candidates()]


SETTINGS = dict(quiet=True, seed=2, surrogate=0.3, workers=2, generations=3, epoch_scale=0.05)


def test_a_search_with_the_surrogate_records_its_skips_and_without_it_skips_none(tmp_path):
    """Through the public search path, on the table's tasks (so the surrogate starts from the shipped table): skips are
    stored with the prediction that decided them, and ``show`` counts them with the time saved."""
    whole = evoact.search("tiny", name="whole", runs_dir=tmp_path / "a", **SETTINGS)
    skipped = [r for r in whole.store.candidates() if r.outcome.stage == "surrogate"]
    trained = [r for r in whole.store.candidates() if r.label is None and r.status == "ok"]
    assert (
        skipped and trained and all(r.status == "rejected" and "surrogate predicts" in r.outcome.error for r in skipped)
    )
    cascade = whole.cascade()
    assert cascade.skipped_surrogate == len(skipped) and cascade.surrogate_seconds_saved > 0
    shown = CliRunner().invoke(main, ["show", str(whole.path)])
    said = " ".join(shown.output.split())
    assert shown.exit_code == 0 and f"{len(skipped)} skipped by the surrogate" in said
    hits = cascade.cache_hits
    assert f"{hits} cache hit{'' if hits == 1 else 's'} (functions met before: status duplicate)" in said

    off = evoact.search("tiny", name="off", runs_dir=tmp_path / "c", **{**SETTINGS, "surrogate": 0.0})
    assert not [r for r in off.store.candidates() if r.outcome.stage == "surrogate"]
    for run in (whole, off):
        run.close()


@pytest.mark.slow
def test_a_search_with_the_surrogate_stopped_and_resumed_decides_alike(tmp_path):
    """A run stopped after its first generation and resumed makes every decision the uninterrupted run made."""
    whole = evoact.search("tiny", name="whole", runs_dir=tmp_path / "a", **SETTINGS)
    stopped = evoact.search("tiny", name="part", runs_dir=tmp_path / "b", target_fitness=-1e9, **SETTINGS)
    assert stopped.state == "stopped"
    resumed = stopped.resume()
    assert resumed.state == "finished" and _decisions(resumed) == _decisions(whole)
    for run in (whole, resumed, stopped):
        run.close()


def test_the_surrogate_starts_from_what_earlier_runs_of_the_folder_trained(tmp_path):
    """On a task the table does not hold, the surrogate starts from the shared fitness cache's results under the run's
    protocol with any seed: it skips candidates from generation 0, where a run with an empty cache trains them all.
    The snapshot is stored in the run, so a run resumed after the cache grew decides as its uninterrupted twin."""
    settings = {**SETTINGS, "tasks": ["mnist1d-mlp"], "generations": 2}
    evoact.search("tiny", name="first", runs_dir=tmp_path / "a", **{**settings, "surrogate": 0.0, "seed": 5}).close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # two folders whose caches hold the same results
    whole = evoact.search("tiny", name="second", runs_dir=tmp_path / "a", **settings)
    meta = whole.store.meta()
    snapshot = meta["surrogate_cache_prior"]
    assert meta["surrogate_prior"] == {
        "functions of the benchmark table": 0,
        "results in the shared fitness cache": len(snapshot),
    }
    assert sum(scores is not None for _, scores in snapshot) >= 10
    first_generation = [r for r in whole.store.candidates() if r.generation == 0 and r.label is None]
    assert any(r.outcome.stage == "surrogate" for r in first_generation)
    alone = evoact.search("tiny", name="alone", runs_dir=tmp_path / "empty", target_fitness=-1e9, **settings)
    assert alone.store.meta()["surrogate_cache_prior"] == []
    assert not any(r.outcome.stage == "surrogate" for r in alone.store.candidates() if r.generation == 0)

    stopped = evoact.search("tiny", name="second", runs_dir=tmp_path / "b", target_fitness=-1e9, **settings)
    assert stopped.state == "stopped"
    evoact.search("tiny", name="third", runs_dir=tmp_path / "b", **{**settings, "surrogate": 0.0, "seed": 9}).close()
    family = fitness_protocol(whole.config, seeded=False)  # the runs' seeds differ: their family is one
    assert len(FitnessCache(tmp_path / "b" / CACHE_FILE).known(family)) > len(snapshot)  # the cache grew
    resumed = stopped.resume()
    assert resumed.state == "finished" and resumed.store.meta()["surrogate_cache_prior"] == snapshot
    assert _decisions(resumed) == _decisions(whole)
    shown = CliRunner().invoke(main, ["show", str(resumed.path)])
    assert (
        f"surrogate: started from 0 functions of the benchmark table and {len(snapshot)} results in the shared"
        " fitness cache" in " ".join(shown.output.split())
    )
    for run in (whole, alone, stopped, resumed):
        run.close()


def test_a_search_selecting_from_a_pool_trains_each_generation_s_quota_and_records_the_rest_as_ranked_out(
    tmp_path, capsys
):
    """``--surrogate-pool 4``: each generation asks 4 times its quota and the quota's worth train (the surrogate starts
    from the shipped table on these tasks, so it ranks from generation 0); the rest are stored with their rank."""
    settings = {**SETTINGS, "surrogate": 0.0, "surrogate_pool": 4, "quiet": False}
    guess = "mul(atan(x), exp(x))"  # the user's own tree goes to the workers, however it ranks
    run = evoact.search("tiny", name="pool", runs_dir=tmp_path, guesses=(guess,), **settings)
    rows = [r for r in run.store.candidates() if r.label is None]
    (guessed,) = [r for r in rows if r.origin == "guess"]
    assert guessed.outcome.stage not in ("static", "cache", "surrogate")
    quota = {0: 6, 1: 4, 2: 4}
    for generation, wanted in quota.items():
        mine = [r for r in rows if r.generation == generation]
        trained = [r for r in mine if r.outcome.stage not in ("static", "cache", "surrogate")]
        ranked_out = [r for r in mine if r.outcome.stage == "surrogate"]
        assert len(trained) == wanted and len(mine) >= 4 * wanted
        assert ranked_out and all("the surrogate ranks it" in r.outcome.error for r in ranked_out)
    cascade = run.cascade()  # what it ranked out only the pool proposed: no time counted as saved
    assert cascade.skipped_surrogate == sum(r.outcome.stage == "surrogate" for r in rows)
    assert cascade.surrogate_seconds_saved == 0.0
    # nor is the pool's extra screening: of a pooled generation's static and cache rejections, a quarter count as saved
    assert run.store.meta()["pooled_generations"] == [0, 1, 2]
    removed = cascade.rejected_static + cascade.cache_hits
    assert removed > 0 and cascade.train_seconds_saved < cascade.full_training_seconds * removed
    shown = capsys.readouterr().err
    assert "14/14 #" in shown and "15/14" not in shown and "the surrogate ranked" in shown
    printed = " ".join(CliRunner().invoke(main, ["show", str(run.path)], terminal_width=400).output.split())
    assert f"{cascade.skipped_surrogate} skipped by the surrogate (ranked below their generation's top" in printed
    run.close()
    with pytest.raises(ValueError, match="^surrogate_pool ranks each generation's proposals: it does not go with"):
        evoact.search("tiny", name="both", runs_dir=tmp_path, **{**settings, "surrogate": 0.3})
