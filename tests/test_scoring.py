import pytest

from evoact.records import Candidate, Outcome, TaskScore
from evoact.scoring import LOSS_FLOOR, aggregate, fitness, normalised, references

TASKS = ("deep", "regression", "lm")
METRICS = {"deep": "accuracy", "regression": "loss", "lm": "loss"}


def baseline(label: str, acc: float, mse: float, nats: float, stopped: bool = False) -> Candidate:
    scores = {
        "deep": TaskScore(val_acc=acc, val_loss=1.0, stopped=stopped),
        "regression": TaskScore(val_loss=mse),
        "lm": TaskScore(val_loss=nats),
    }
    return Candidate(0, "x", "baseline", label=label, outcome=Outcome("ok", scores=scores))


def test_references_take_each_tasks_best_baseline_and_skip_stopped_ones():
    refs = references(
        [
            baseline("relu", 0.80, 0.040, 0.70),
            baseline("silu", 0.70, 0.020, 0.65),
            baseline("tanh", 0.95, 0.010, 0.60, stopped=True),
        ],
        TASKS,
        METRICS,
    )
    assert refs == {"deep": 0.80, "regression": 0.010, "lm": 0.60}  # tanh stopped at deep's hurdle counts elsewhere


def test_worst_task_decides_so_one_big_win_cannot_pay_for_a_loss():
    refs = {"deep": 0.80, "regression": 0.020, "lm": 0.60}
    even = {"deep": TaskScore(val_acc=0.84), "regression": TaskScore(val_loss=0.025), "lm": TaskScore(val_loss=0.50)}
    steady = {"deep": TaskScore(val_acc=0.80), "regression": TaskScore(val_loss=0.020), "lm": TaskScore(val_loss=0.60)}
    assert normalised(even, refs, TASKS, METRICS) == pytest.approx([1.05, 0.8, 1.2])
    assert fitness(even, TASKS, refs, metrics=METRICS, how="mean") > fitness(
        steady, TASKS, refs, metrics=METRICS, how="mean"
    )
    assert fitness(even, TASKS, refs, metrics=METRICS, how="worst") == pytest.approx(0.8)
    assert fitness(steady, TASKS, refs, metrics=METRICS, how="worst") == pytest.approx(1.0)


def test_aggregates_and_missing_tasks():
    assert aggregate([1.0, 0.5, 2.0, 1.5], "q25") == pytest.approx(0.875)
    assert aggregate([1.0, 2.0], "mean", [3.0, 1.0]) == pytest.approx(1.25)
    refs = {"deep": 0.80, "regression": 0.020, "lm": 0.60}
    assert fitness({"deep": TaskScore(val_acc=0.8)}, TASKS, refs, metrics=METRICS) is None  # not trained on every task
    assert fitness({"deep": TaskScore(val_acc=0.8)}, ("deep",), metrics=METRICS) == 0.8  # one task: its own measure
    assert fitness({"lm": TaskScore(val_loss=0.6)}, ("lm",), metrics=METRICS) == -0.6


def test_a_loss_that_rounds_to_zero_is_the_best_score_not_a_division_by_zero():
    refs = {"deep": 0.80, "regression": 0.020, "lm": 0.60}
    perfect = {"deep": TaskScore(val_acc=0.8), "regression": TaskScore(val_loss=0.0), "lm": TaskScore(val_loss=0.6)}
    assert normalised(perfect, refs, TASKS, METRICS) == pytest.approx([1.0, 0.020 / LOSS_FLOOR, 1.0])
    assert fitness(perfect, TASKS, refs, metrics=METRICS) > 1.0


def test_losses_below_float32s_resolution_rank_apart_and_a_baseline_of_loss_0_is_the_reference():
    tasks, metrics = ("r",), {"r": "loss"}
    tiny = {"r": TaskScore(val_loss=5e-9)}
    assert normalised(tiny, {"r": 5e-8}, tasks, metrics) == pytest.approx([10.0])  # a regression fit to 1e-8
    zero = Candidate(0, "x", "baseline", label="a", outcome=Outcome("ok", scores={"r": TaskScore(val_loss=0.0)}))
    other = Candidate(1, "x", "baseline", label="b", outcome=Outcome("ok", scores={"r": TaskScore(val_loss=0.02)}))
    refs = references([zero, other], tasks, metrics)
    assert refs == {"r": LOSS_FLOOR} and normalised(zero.outcome.scores, refs, tasks, metrics) == [1.0]
