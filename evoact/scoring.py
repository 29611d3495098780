"""From per-task scores to what selection uses: baseline-normalised scores, their weighted mean, Pareto objectives."""

from __future__ import annotations

from typing import Any, Sequence


def references(baselines: Sequence[dict[str, Any]], tasks: Sequence[str]) -> dict[str, float]:
    """Per task, the best baseline's validation accuracy: a score of 1.0 matches the best baseline there."""
    refs = {}
    for task in tasks:
        accs = [row["scores"][task]["val_acc"] for row in baselines if task in (row.get("scores") or {})]
        if accs and max(accs) > 0:
            refs[task] = max(accs)
    return refs


def normalised(scores: dict[str, dict[str, Any]], refs: dict[str, float], tasks: Sequence[str]) -> list[float] | None:
    """Each task's validation accuracy over its reference, in ``tasks`` order; None when a task is missing."""
    if any(t not in scores or t not in refs for t in tasks):
        return None
    return [scores[t]["val_acc"] / refs[t] for t in tasks]


def weighted_mean(values: Sequence[float], weights: Sequence[float] = ()) -> float:
    """The weighted mean of normalised scores (equal weights when none are given)."""
    weights = weights or [1.0] * len(values)
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


def objectives(row: dict[str, Any], refs: dict[str, float], tasks: Sequence[str], complexity: bool) -> tuple[float, ...] | None:
    """What NSGA-II maximises for a candidate: its normalised score per task, then minus its node count if asked."""
    values = normalised(row.get("scores") or {}, refs, tasks)
    if values is None:
        return None
    return tuple(values) + ((-float(row["nodes"] or 0),) if complexity else ())
