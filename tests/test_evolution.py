import json

import pytest
import torch
import torch.nn.functional as F

from evoact.compiler import compile_activation
from evoact.evolution import ALGORITHMS, Evolution, EvolutionConfig, RandomSearch
from evoact.formula import to_formula
from evoact.genome import Genome, in_shard, load_search_space
from evoact.search_space import SearchSpaceError

GRID = torch.linspace(-4, 4, 201)


def closeness_to_gelu(formula: str) -> float:
    """A cheap real fitness: how well the candidate (beta = 1) approximates GELU on a grid."""
    with torch.no_grad():
        y = compile_activation(formula, {"beta": 1.0})(GRID)
    err = (y - F.gelu(GRID)).pow(2).mean().item()
    return -err if err == err and err != float("inf") else None


def pareto_fitness(proposal):
    """Two objectives, both maximised: closeness to GELU and shortness."""
    close = closeness_to_gelu(proposal.formula)
    return None if close is None else (close, -float(proposal.nodes))


def run(
    seed: int,
    generations: int = 5,
    replacement: str = "aging",
    space: str = "default",
    algorithm: str = "evolution",
    fitness=lambda p: closeness_to_gelu(p.formula),
):
    evo = ALGORITHMS[algorithm](
        Genome(load_search_space(space)), EvolutionConfig(population=12, offspring=8, replacement=replacement), seed
    )
    history, next_id = [], 1
    for _ in range(generations):
        proposals = evo.ask()
        ids = list(range(next_id, next_id + len(proposals)))
        next_id += len(proposals)
        evo.tell(proposals, ids, [fitness(p) for p in proposals])
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

    def flat(h):
        return [(p.tree, p.parents) for g in h for p in g]

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


def test_random_search_starts_like_evolution_then_proposes_only_random_trees():
    rand, rand_history = run(3, generations=4, algorithm="random")
    _, evo_history = run(3, generations=4)
    assert isinstance(rand, RandomSearch)
    assert [p.formula for p in rand_history[0]] == [
        p.formula for p in evo_history[0]
    ]  # same seeds, same first population
    later = [p for g in rand_history[1:] for p in g]
    assert len(later) == 3 * 8 and {p.origin for p in later} == {"random"} and not any(p.parents for p in later)
    formulas = [p.formula for g in rand_history for p in g]
    assert len(formulas) == len(set(formulas))


def test_pareto_truncation_keeps_nsga2_choice_and_restores_exactly():
    evo, history = run(5, generations=4, replacement="truncation", fitness=pareto_fitness)
    assert all(isinstance(m.fitness, tuple) and len(m.fitness) == 2 for m in evo.population)
    kept = {m.id for m in evo.population}
    everyone = [
        (i, f) for i, p in enumerate((p for g in history for p in g), 1) if (f := pareto_fitness(p)) is not None
    ]
    dominated = lambda a, b: all(x <= y for x, y in zip(a, b)) and a != b  # noqa: E731
    front = {i for i, f in everyone if not any(dominated(f, g) for _, g in everyone)}
    assert front <= kept or len(kept) == 12  # the whole first front survives unless it alone overfills the population
    saved = json.loads(json.dumps(evo.state()))
    later = [p.formula for p in evo.ask()]
    fresh = Evolution(
        Genome(load_search_space("default")), EvolutionConfig(population=12, offspring=8, replacement="truncation"), 0
    )
    fresh.restore(saved)
    assert [p.formula for p in fresh.ask()] == later


def tiny_unit_genome(path):
    return Genome(load_search_space(path))


def enumerate_all(evo, tell_every: int = 4):
    """Ask until the enumeration is exhausted, telling a constant fitness; returns the proposals in order."""
    out = []
    while not evo.exhausted:
        batch = evo.ask(tell_every)
        assert batch  # exhausted as soon as the last new function is out: never an empty generation
        evo.tell(batch, list(range(len(out), len(out) + len(batch))), [1.0] * len(batch))
        out += batch
    return out


def test_enumeration_proposes_every_function_of_the_space_once_then_nothing(tiny_unit):
    genome = tiny_unit_genome(tiny_unit)
    trees = genome.all_trees()
    assert len(trees) == 2 * 3 * 3 and len(set(trees)) == len(trees)
    evo = ALGORITHMS["enumeration"](genome, EvolutionConfig(population=4, offspring=4), 0)
    proposals = enumerate_all(evo)
    formulas = [p.formula for p in proposals]
    assert len(formulas) == len(set(formulas))  # each function once
    distinct = {to_formula(genome.to_expr(genome.parse(t))) for t in trees}
    assert set(formulas) == {f for f in distinct if "x" in f}  # every function that depends on x
    assert proposals[0].origin == "seed" and {p.origin for p in proposals[1:]} == {"enumeration"}
    assert evo.ask(4) == []
    other = enumerate_all(ALGORITHMS["enumeration"](genome, EvolutionConfig(population=4, offspring=4), 1))
    assert [p.formula for p in other] != formulas and {p.formula for p in other} == set(formulas)


def test_the_shards_of_an_enumeration_split_its_functions_between_them(tiny_unit):
    genome = tiny_unit_genome(tiny_unit)
    whole = {p.formula for p in enumerate_all(ALGORITHMS["enumeration"](genome, EvolutionConfig(), 0))}
    parts = [
        [p.formula for p in enumerate_all(ALGORITHMS["enumeration"](genome, EvolutionConfig(shard=f"{k}/3"), 0))]
        for k in (1, 2, 3)
    ]
    assert all(parts) and sum(len(p) for p in parts) == len(whole) and set().union(*parts) == whole
    plans = [ALGORITHMS["enumeration"](genome, EvolutionConfig(shard=f"{k}/3"), 0).planned() for k in (1, 2, 3)]
    assert plans == [len(p) for p in parts]  # what the progress line counts down
    assert [in_shard(parts[k][-1], (k + 1, 3)) for k in range(3)] == [True] * 3
    seed = to_formula(genome.to_expr(genome.parse(genome.space.seeds[0])))
    assert sum(seed in p for p in parts) == 1  # the space's seed is proposed by its own shard only
    with pytest.raises(ValueError, match="expected K/N"):
        ALGORITHMS["enumeration"](genome, EvolutionConfig(shard="4/3"), 0)


def test_a_restored_enumeration_continues_where_it_stopped(tiny_unit):
    genome = tiny_unit_genome(tiny_unit)
    config = EvolutionConfig(population=4, offspring=4)
    whole = enumerate_all(ALGORITHMS["enumeration"](genome, config, 3))
    first = ALGORITHMS["enumeration"](genome, config, 3)
    head = first.ask(4)
    first.tell(head, [0, 1, 2, 3], [1.0] * 4)
    state = json.loads(json.dumps(first.state()))
    again = ALGORITHMS["enumeration"](genome, config, 3)
    assert again.state_problem(state, 10) is None
    again.restore(state)
    assert head + enumerate_all(again) == whole
    assert "cursor" in again.state_problem(dict(state, cursor=10**6), 10)


def test_a_space_too_big_to_enumerate_is_refused_in_one_line():
    with pytest.raises(SearchSpaceError, match="too many to enumerate"):
        ALGORITHMS["enumeration"](Genome(load_search_space("default")), EvolutionConfig(), 0)


@pytest.mark.parametrize("seed", range(6))
def test_an_enumeration_knows_it_is_exhausted_once_its_last_function_is_proposed(tiny_unit, seed):
    enumerate_all(
        ALGORITHMS["enumeration"](tiny_unit_genome(tiny_unit), EvolutionConfig(population=4, offspring=4), seed)
    )


def test_a_small_space_runs_out_only_when_children_find_nothing_new_either_and_a_checkpoint_keeps_it():
    """Random trees start at init_min_depth 1, so `x` itself comes only from a child: the algorithm must not call
    the space run out while breeding still finds new functions; once it has, a restored checkpoint says so too."""
    from evoact.search_space import parse_search_space

    space = parse_search_space(
        'name = "small"\n[primitives]\nunary = ["tanh"]\nbinary = ["add"]\n'
        "[limits]\nmax_depth = 2\nmax_nodes = 4\ninit_min_depth = 1\ninit_max_depth = 2\n",
        "small.toml",
    )
    algorithm = Evolution(Genome(space), EvolutionConfig(population=4, offspring=4), seed=0)
    proposed, ids = [], iter(range(10**6))
    while not algorithm.exhausted and len(proposed) < 200:
        batch = algorithm.ask()
        proposed += [p.formula for p in batch]
        algorithm.tell(batch, [next(ids) for _ in batch], [float(len(p.formula)) for p in batch])
    assert algorithm.exhausted and "x" in proposed  # bred, though no random tree is `x`
    again = Evolution(Genome(space), EvolutionConfig(population=4, offspring=4), seed=0)
    assert again.state_problem(json.loads(json.dumps(algorithm.state())), 10) is None
    again.restore(json.loads(json.dumps(algorithm.state())))
    assert again.exhausted and again.ran_out == algorithm.ran_out
