"""Multi-objective ranking with DEAP's NSGA-II: non-dominated fronts and crowding, all objectives maximised."""

from __future__ import annotations

from collections.abc import Sequence

from deap import base, tools
from deap.tools.emo import assignCrowdingDist


class _Point:
    """What DEAP's NSGA-II tools sort: an object with a ``fitness``."""

    def __init__(self, index: int, values: Sequence[float]) -> None:
        self.index = index
        self.fitness = _fitness_class(len(values))(tuple(values))


def _fitness_class(k: int) -> type:
    return type(f"Maximise{k}", (base.Fitness,), {"weights": (1.0,) * k})


def _points(objectives: Sequence[Sequence[float]]) -> list[_Point]:
    sizes = {len(o) for o in objectives}
    if len(sizes) > 1:
        raise ValueError(f"every point needs the same number of objectives, got {sorted(sizes)}")
    return [_Point(i, o) for i, o in enumerate(objectives)]


def nsga2_ranks(objectives: Sequence[Sequence[float]]) -> list[tuple[int, float]]:
    """Per point: its front (0 = non-dominated) and crowding distance; smaller front, then larger crowding, is
    better."""
    points = _points(objectives)
    out: list[tuple[int, float]] = [(0, 0.0)] * len(points)
    for front_index, front in enumerate(tools.sortNondominated(points, len(points)) if points else []):
        assignCrowdingDist(front)
        for p in front:
            out[p.index] = (front_index, p.fitness.crowding_dist)
    return out


def pareto_front(objectives: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points, in input order."""
    return [i for i, (front, _) in enumerate(nsga2_ranks(objectives)) if front == 0]


def nsga2_select(objectives: Sequence[Sequence[float]], k: int) -> list[int]:
    """Indices of the ``k`` points NSGA-II keeps (whole fronts, the last one cut by crowding), in input order."""
    points = _points(objectives)
    return sorted(p.index for p in tools.selNSGA2(points, min(k, len(points))))
