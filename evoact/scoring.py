"""The one place fitness is defined: from a candidate's per-task scores to what selection uses.

Each task has a metric, accuracy (higher is better) or loss (lower is better). One task: its validation
accuracy, or minus its validation loss. Several: each task's score relative to the best baseline's (its
reference; 1.0 is as good as the best baseline), combined by ``AGGREGATES``, or kept apart as NSGA-II objectives.
``score`` says what is compared on accuracy tasks: ``accuracy`` (acc / best acc) or ``loss`` (best loss / loss);
loss tasks compare losses either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evoact.records import METRICS, Candidate, TaskScore

#: What a classification task is compared on: either measure it reports.
SCORES = METRICS
#: How per-task relative scores combine into one fitness: their (weighted) mean, the worst task, or the lower quartile.
AGGREGATES = ("mean", "worst", "q25")
#: The least loss a relative score reads, the reference's and the candidate's alike: a confident classifier's float32
#: cross-entropy rounds to exactly 0, which is as good as a loss gets, not a division by zero; far below any loss a
#: training reports apart from 0, so smaller losses still rank apart.
LOSS_FLOOR = 1e-12


def uses_loss(metric: str, score: str) -> bool:
    """Whether a task of ``metric`` is compared on its loss under ``score``."""
    return metric == "loss" or score == "loss"


def _value(s: TaskScore, metric: str, score: str) -> float | None:
    """The measure compared: validation accuracy, or validation loss."""
    return s.val_loss if uses_loss(metric, score) else s.val_acc


def references(
    baselines: Sequence[Candidate],
    tasks: Sequence[str],
    metrics: Mapping[str, str] | None = None,
    score: str = "accuracy",
) -> dict[str, float]:
    """Per task, the best baseline's measure (highest accuracy, lowest loss): a relative score of 1.0 matches it."""
    refs = {}
    for task in tasks:
        metric = (metrics or {}).get(task, "accuracy")
        values = [
            v
            for row in baselines
            if task in row.outcome.scores
            and not row.outcome.scores[task].stopped
            and (v := _value(row.outcome.scores[task], metric, score)) is not None
            and math.isfinite(v)
        ]
        if uses_loss(metric, score) and values and min(values) >= 0:
            refs[task] = max(min(values), LOSS_FLOOR)
        elif not uses_loss(metric, score) and values and max(values) > 0:
            refs[task] = max(values)
    return refs


def relative(value: Any, reference: Any, loss: bool) -> Any:
    """A measure relative to its reference, 1.0 as good and above 1 better: accuracy over the reference's, or the
    reference's loss over this one (each at least ``LOSS_FLOOR``); numbers or numpy arrays alike."""
    return np.maximum(reference, LOSS_FLOOR) / np.maximum(value, LOSS_FLOOR) if loss else value / reference


def normalised(
    scores: Mapping[str, TaskScore],
    refs: Mapping[str, float],
    tasks: Sequence[str],
    metrics: Mapping[str, str] | None = None,
    score: str = "accuracy",
) -> list[float] | None:
    """Each task's score relative to its reference, in ``tasks`` order; None when a task or its measure is missing."""
    out = []
    for task in tasks:
        metric = (metrics or {}).get(task, "accuracy")
        value = _value(scores[task], metric, score) if task in scores and not scores[task].stopped else None
        if value is None or task not in refs:
            return None
        out.append(float(relative(value, refs[task], uses_loss(metric, score))))
    return out


def aggregate(values: Sequence[float], how: str = "mean", weights: Sequence[float] = ()) -> float:
    """Relative scores combined: the weighted mean (equal weights when none are given), the worst, or the lower
    quartile."""
    if how == "worst":
        return min(values)
    if how == "q25":
        return float(np.percentile(values, 25))
    weights = weights or [1.0] * len(values)
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


def fitness(
    scores: Mapping[str, TaskScore],
    tasks: Sequence[str],
    refs: Mapping[str, float] | None = None,
    weights: Sequence[float] = (),
    metrics: Mapping[str, str] | None = None,
    score: str = "accuracy",
    how: str = "mean",
) -> float | None:
    """A candidate's fitness from its scores: None when a task is missing, or for several tasks until ``refs`` are
    known."""
    if len(tasks) == 1:
        if tasks[0] not in scores:
            return None
        metric = (metrics or {}).get(tasks[0], "accuracy")
        value = _value(scores[tasks[0]], metric, score)
        return None if value is None else (-value if uses_loss(metric, score) else value)
    values = normalised(scores, refs or {}, tasks, metrics, score)
    return None if values is None else aggregate(values, how, weights)


def objectives(
    row: Candidate,
    refs: Mapping[str, float],
    tasks: Sequence[str],
    complexity: bool,
    metrics: Mapping[str, str] | None = None,
    score: str = "accuracy",
) -> tuple[float, ...] | None:
    """What NSGA-II maximises for a candidate: its relative score per task, then minus its node count if asked."""
    values = normalised(row.outcome.scores, refs, tasks, metrics, score)
    if values is None:
        return None
    return tuple(values) + ((-float(row.nodes or 0),) if complexity else ())
