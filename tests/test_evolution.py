import json

import pytest
import torch
import torch.nn.functional as F

from evoact.compiler import compile_activation
from evoact.evolution import Evolution, EvolutionConfig
from evoact.genome import Genome
from evoact.search_space import load_search_space

GRID = torch.linspace(-4, 4, 201)


def closeness_to_gelu(formula: str) -> float:
    """A cheap real fitness: how well the candidate (beta = 1) approximates GELU on a grid."""
    with torch.no_grad():
        y = compile_activation(formula, {"beta": 1.0})(GRID)
    err = (y - F.gelu(GRID)).pow(2).mean().item()
    return -err if err == err and err != float("inf") else None


def run(seed: int, generations: int = 5, replacement: str = "aging", space: str = "default"):
    evo = Evolution(Genome(load_search_space(space)), EvolutionConfig(population=12, offspring=8, replacement=replacement), seed)
    history, next_id = [], 1
    for _ in range(generations):
        proposals = evo.ask()
        ids = list(range(next_id, next_id + len(proposals)))
        next_id += len(proposals)
        evo.tell(proposals, ids, [closeness_to_gelu(p.formula) for p in proposals])
        history.append(proposals)
    return evo, history


def test_initial_population_is_seeds_then_distinct_random_trees():
    evo, history = run(0, generations=1)
    first = history[0]
    assert [p.origin for p in first[:2]] == ["seed", "seed"] and first[0].formula == "x/(1 + exp(-x))"
    assert len(first) == 12 and len({p.formula for p in first}) == 12
    assert all("x" in p.formula for p in first)


def test_children_are_new_and_descend_from_the_population():
    evo, history = run(1)
    formulas = [p.formula for gen in history for p in gen]
    assert len(formulas) == len(set(formulas)) == 12 + 4 * 8
    known = set(range(1, 13))
    for gen in history[1:]:
        for p in gen:
            assert p.origin in ("mutation", "crossover", "crossover+mutation", "random")
            assert p.origin == "random" or set(p.parents) <= known
        known |= set(range(max(known) + 1, max(known) + 1 + len(gen)))


def test_same_seed_same_search_other_seed_other_search():
    _, a = run(7, space="ramachandran2017")
    _, b = run(7, space="ramachandran2017")
    _, c = run(8, space="ramachandran2017")
    flat = lambda h: [(p.tree, p.parents) for g in h for p in g]
    assert flat(a) == flat(b) and flat(a) != flat(c)


def test_truncation_keeps_the_best_and_aging_keeps_the_newest():
    trunc, _ = run(2, replacement="truncation")
    fits = [m.fitness for m in trunc.population]
    assert len(fits) == 12 and fits == sorted(fits, key=lambda f: -f if f is not None else 1e9)
    aging, _ = run(2, replacement="aging")
    assert [m.id for m in aging.population] == list(range(12 + 4 * 8 - 11, 12 + 4 * 8 + 1))


def test_unknown_replacement_is_rejected():
    with pytest.raises(ValueError, match="unknown replacement 'best'"):
        Evolution(Genome(load_search_space("default")), EvolutionConfig(replacement="best"))


def test_a_restored_state_continues_with_the_same_proposals():
    evo, _ = run(4, generations=3)
    saved = json.loads(json.dumps(evo.state()))  # checkpoints hold JSON only
    later = [p.formula for p in evo.ask()]
    fresh = Evolution(Genome(load_search_space("default")), EvolutionConfig(population=12, offspring=8), seed=99)
    fresh.restore(saved)
    assert [p.formula for p in fresh.ask()] == later and fresh.generation == 3
