"""The one place fitness is defined: from a candidate's per-task scores to what selection uses.

One task: its validation accuracy. Several: each task's validation accuracy over the best baseline's (its
reference), combined by a weighted mean, or kept apart as NSGA-II objectives.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from evoact.records import Candidate, TaskScore


def references(baselines: Sequence[Candidate], tasks: Sequence[str]) -> dict[str, float]:
    """Per task, the best baseline's validation accuracy: a score of 1.0 matches the best baseline there."""
    refs = {}
    for task in tasks:
        accs = [row.outcome.scores[task].val_acc for row in baselines if task in row.outcome.scores]
        if accs and max(accs) > 0:
            refs[task] = max(accs)
    return refs


def normalised(scores: Mapping[str, TaskScore], refs: Mapping[str, float], tasks: Sequence[str]) -> list[float] | None:
    """Each task's validation accuracy over its reference, in ``tasks`` order; None when a task is missing."""
    if any(t not in scores or t not in refs for t in tasks):
        return None
    return [scores[t].val_acc / refs[t] for t in tasks]


def weighted_mean(values: Sequence[float], weights: Sequence[float] = ()) -> float:
    """The weighted mean of normalised scores (equal weights when none are given)."""
    weights = weights or [1.0] * len(values)
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


def fitness(scores: Mapping[str, TaskScore], tasks: Sequence[str], refs: Mapping[str, float] | None = None,
            weights: Sequence[float] = ()) -> float | None:
    """A candidate's fitness from its scores: None when a task is missing, or for several tasks until ``refs`` are known."""
    if len(tasks) == 1:
        return scores[tasks[0]].val_acc if tasks[0] in scores else None
    values = normalised(scores, refs or {}, tasks)
    return None if values is None else weighted_mean(values, weights)


def objectives(row: Candidate, refs: Mapping[str, float], tasks: Sequence[str], complexity: bool) -> tuple[float, ...] | None:
    """What NSGA-II maximises for a candidate: its normalised score per task, then minus its node count if asked."""
    values = normalised(row.outcome.scores, refs, tasks)
    if values is None:
        return None
    return tuple(values) + ((-float(row.nodes or 0),) if complexity else ())
