import math

import pytest

from evoact.pareto import nsga2_ranks, nsga2_select, pareto_front

POINTS = [(1.0, 0.0), (0.0, 1.0), (0.5, 0.5), (0.4, 0.4), (0.2, 0.9), (0.1, 0.1), (0.5, 0.5)]


def test_front_is_the_non_dominated_points():
    assert pareto_front(POINTS) == [0, 1, 2, 4, 6]  # (0.4, 0.4) and (0.1, 0.1) are dominated by (0.5, 0.5)


def test_ranks_are_fronts_with_infinite_crowding_at_the_extremes():
    ranks = nsga2_ranks(POINTS)
    assert [front for front, _ in ranks] == [0, 0, 0, 1, 0, 2, 0]
    assert math.isinf(ranks[0][1]) and math.isinf(ranks[1][1]) and 0 <= ranks[4][1] < math.inf


def test_selection_fills_by_fronts_then_crowding():
    assert nsga2_select(POINTS, 6) == [0, 1, 2, 3, 4, 6]
    kept = nsga2_select(POINTS, 3)  # the front has 5 points: the extremes are kept for their infinite crowding
    assert {0, 1} <= set(kept) and len(kept) == 3 and set(kept) <= {0, 1, 2, 4, 6}
    assert nsga2_select(POINTS, 99) == list(range(7)) and nsga2_select([], 3) == []


def test_mixed_objective_counts_are_refused():
    with pytest.raises(ValueError, match="same number of objectives"):
        pareto_front([(1.0, 2.0), (1.0,)])
