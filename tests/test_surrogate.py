import math

import numpy as np
from scipy.stats import spearmanr

from evoact.benchtable import load_table
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
