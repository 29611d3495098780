"""The search algorithms: regularized (aging) or truncation evolution, and random search, in ask/tell form.

They know nothing of training or storage: ``ask`` proposes novel candidates, ``tell`` hands back
their fitness. What may be proposed at all is the problem's to say (``admissible``; by default anything that
depends on x). All randomness comes from the algorithm's own seeded state, so a seed fixes a run.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import sympy as sp
from deap import gp

from evoact.formula import X, to_formula
from evoact.genome import Genome, in_shard, parse_shard
from evoact.pareto import nsga2_ranks, nsga2_select
from evoact.search_space import SearchSpaceError

REPLACEMENTS = ("aging", "truncation")
_MAX_TRIES = 200
_MAX_TRIED = 1 << 20  # trees remembered as already tried


@dataclass(frozen=True)
class EvolutionConfig:
    """How the population evolves."""

    population: int = 16
    offspring: int = 16
    tournament: int = 4
    crossover_prob: float = 0.5
    mutation_prob: float = 0.8
    replacement: str = "aging"
    #: an enumeration's part of the space, ``K/N``: the trees of the K-th of N parts (split by formula), so that
    #: several machines or sessions build one benchmark table between them
    shard: str = "1/1"

    def __post_init__(self) -> None:
        if self.replacement not in REPLACEMENTS:
            raise ValueError(f"unknown replacement {self.replacement!r}; use one of {', '.join(REPLACEMENTS)}")


@dataclass(frozen=True)
class Proposal:
    """A candidate the algorithm wants evaluated."""

    tree: str
    formula: str
    nodes: int
    origin: str
    parents: tuple[int, ...] = ()


Fitness = float | tuple[float, ...]  # a tuple: objectives, all maximised (Pareto selection)


@dataclass
class Member:
    """An evaluated population member."""

    id: int
    tree: gp.PrimitiveTree
    fitness: Fitness


@dataclass
class Evolution:
    """Tournament selection with crossover and mutation; aging or truncation replacement."""

    genome: Genome
    config: EvolutionConfig
    seed: int = 0
    admissible: Callable[[sp.Expr], bool] = field(default=lambda expr: X in expr.free_symbols, repr=False)
    steady: bool = (
        False  # steady state (asynchronous): random until a population is evaluated, then one child at a time
    )
    #: (tree string, origin) placed in the first generation after the space's seeds: the user's guesses
    #: (``guess``) and another run's hall of fame (``warm start``)
    first: tuple[tuple[str, str], ...] = ()
    population: list[Member] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    generation: int = 0  # tells so far: generations, or in steady state evaluations
    told: int = 0  # proposals told
    seeded: bool = False
    #: why proposing stopped, where the space ran out of new functions (a small space can): the search ends there
    ran_out: str | None = None
    _state: tuple[Any, ...] = ()  # the random module's state, set in __post_init__
    _keys: dict[int, Fitness] = field(default_factory=dict, repr=False)  # member id -> what tournaments compare
    _tried: set[str] = field(
        default_factory=set, repr=False
    )  # trees already proposed or refused (a shortcut, no state)

    def __post_init__(self) -> None:
        self._state = random.Random(self.seed).getstate()

    @contextlib.contextmanager
    def _rng(self) -> Iterator[None]:
        """DEAP draws from the global ``random``; lend it the algorithm's state and take it back."""
        outer = random.getstate()
        random.setstate(self._state)
        try:
            yield
        finally:
            self._state = random.getstate()
            random.setstate(outer)

    def propose(
        self, tree: gp.PrimitiveTree, origin: str, parents: tuple[int, ...] = (), force: bool = False
    ) -> Proposal | None:
        """A proposal for ``tree`` if it is valid and new (``force`` admits a known formula)."""
        text = str(tree)
        if not force:
            if text in self._tried:  # its answer would be the same as the first time: no
                return None
            if len(self._tried) >= _MAX_TRIED:
                self._tried.clear()  # a shortcut only: forgetting costs time, never changes an answer
            self._tried.add(text)
            if not self.genome.within_limits(tree):
                return None
        expr = self.genome.to_expr(tree)
        formula = to_formula(expr)
        if (formula in self.seen and not force) or not self.admissible(expr):
            return None
        self.seen.add(formula)
        return Proposal(text, formula, len(tree), origin, parents)

    def ask(self, n: int | None = None) -> list[Proposal]:
        """The next ``n`` proposals (default: a population, then an offspring batch).

        The first call starts with the space's seeds and then ``first``; until a population has been told, proposals
        are random trees, afterwards children of tournament winners. In steady state a population is whole only once
        ``population`` proposals were told (Real et al.'s regularized evolution), whatever arrives first.
        """
        n = n or (self.config.offspring if self.population else self.config.population)
        with self._rng():
            out: list[Proposal] = []
            if not self.seeded:
                self.seeded = True
                given = [(s, "seed") for s in self.genome.space.seeds] + list(self.first)
                out = [
                    p
                    for p in (self.propose(self.genome.parse(s), o, force=True) for s, o in given if self._mine(s))
                    if p
                ]
            try:
                while len(out) < n and (proposal := self._next()) is not None:
                    out.append(proposal)
            except SearchSpaceError as exc:
                self.ran_out = str(exc)
            return out

    @property
    def exhausted(self) -> bool:
        """Whether the algorithm has nothing left to propose: an enumeration's end, or a space run out of new
        functions (``ran_out``)."""
        return self.ran_out is not None

    def _mine(self, tree: str) -> bool:
        """Whether a tree is this algorithm's to propose (an enumeration's shard holds only part of the space)."""
        return True

    def planned(self) -> int | None:
        """How many proposals the whole run makes at most, where that is known (an enumeration's: the functions of x
        its trees and seeds write, less those ``seen`` already); None: no end."""
        return None

    def _next(self) -> Proposal | None:
        ready = self.population and (not self.steady or self.told >= self.config.population)
        return self._child() if ready else self._random()

    def _random(self) -> Proposal:
        for _ in range(_MAX_TRIES * 10):
            proposal = self.propose(self.genome.random_tree(), "random")
            if proposal:
                return proposal
        raise SearchSpaceError(
            f"search space {self.genome.space.name!r} seems exhausted: no new admissible tree in"
            f" {_MAX_TRIES * 10} tries (its primitives and limits allow too few distinct functions)"
        )

    def _child(self) -> Proposal:
        for _ in range(_MAX_TRIES):
            if proposal := self._bred():
                return proposal
        try:
            return self._random()  # the neighbourhood is exhausted: explore with a fresh random tree
        except SearchSpaceError:  # none new either: children still reach trees random ones cannot (below their depth)
            for _ in range(_MAX_TRIES * 10):
                if proposal := self._bred():
                    return proposal
            raise

    def _bred(self) -> Proposal | None:
        """One child of tournament winners, if it is new and valid."""
        parents: tuple[int, ...]
        first = self._tournament()
        if random.random() < self.config.crossover_prob:
            second = self._tournament()
            tree, parents, origin = self.genome.crossover(first.tree, second.tree), (first.id, second.id), "crossover"
            if random.random() < self.config.mutation_prob:
                tree, origin = self.genome.mutate(tree), "crossover+mutation"
        else:
            tree, parents, origin = self.genome.mutate(first.tree), (first.id,), "mutation"
        return self.propose(tree, origin, tuple(sorted(set(parents))))

    def _tournament(self) -> Member:
        entrants = random.sample(self.population, min(self.config.tournament, len(self.population)))
        return max(entrants, key=lambda m: self._keys[m.id])

    def _rank(self) -> None:
        """Tournament keys: the fitness, or for objective tuples NSGA-II's (front, crowding) in the population."""
        if self.population and isinstance(self.population[0].fitness, tuple):
            ranks = nsga2_ranks(_objectives(self.population))
            self._keys = {m.id: (-front, crowding) for m, (front, crowding) in zip(self.population, ranks)}
        else:
            self._keys = {m.id: m.fitness for m in self.population}

    def tell(self, proposals: list[Proposal], ids: list[int], fitness: list[Fitness | None]) -> None:
        """Add proposals that got a fitness (in proposal order) to the population and apply replacement.

        Failed or rejected proposals (fitness None) stay out of the population but are never proposed again.
        Truncation keeps the best: the highest fitness, or for objective tuples NSGA-II's choice.
        """
        for proposal, cid, fit in zip(proposals, ids, fitness):
            if fit is not None:
                self.population.append(Member(cid, self.genome.parse(proposal.tree), fit))
        self.told += len(proposals)
        size = self.config.population
        if self.config.replacement == "aging":
            self.population = self.population[-size:]
        elif self.population and isinstance(self.population[0].fitness, tuple):
            self.population = [self.population[i] for i in nsga2_select(_objectives(self.population), size)]
        else:
            self.population = sorted(self.population, key=lambda m: (-cast(float, m.fitness), m.id))[:size]
        self.generation += 1
        self._rank()

    def state(self, seen: bool = True) -> dict[str, Any]:
        """Everything ``restore`` needs to continue exactly where this algorithm is, as JSON-ready data. Without
        ``seen`` (the formulas proposed so far, which grow with the run) when the caller restores them itself."""
        version, internal, gauss = self._state
        return {
            "generation": self.generation,
            "told": self.told,
            "seeded": self.seeded,
            "seen": sorted(self.seen) if seen else [],
            "population": [{"id": m.id, "tree": str(m.tree), "fitness": m.fitness} for m in self.population],
            "rng": [version, list(internal), gauss],
            "ran_out": self.ran_out,
        }

    def state_problem(self, state: Any, generations: int) -> str | None:
        """Why ``state`` cannot be this run's algorithm state, or None: a checkpoint is a file, checked like one."""
        if not isinstance(state, dict):
            return "its algorithm state is not a mapping"
        problems = [
            (
                _count(state.get("generation"), generations),
                f"generation {state.get('generation')!r} is not within 0..{generations}",
            ),
            (_count(state.get("told", 0), 10**9), f"told {state.get('told')!r} is not a count"),
            (isinstance(state.get("seeded"), bool), f"seeded {state.get('seeded')!r} is not true or false"),
            (isinstance(state.get("ran_out"), (str, type(None))), f"ran_out {state.get('ran_out')!r} is not a reason"),
            (
                isinstance(seen := state.get("seen"), list) and all(isinstance(s, str) for s in seen),
                "seen is not a list of formulas",
            ),
            (
                isinstance(pop := state.get("population"), list) and len(pop) <= self.config.population,
                f"the population is not a list of at most {self.config.population} members (the config's population)",
            ),
        ]
        problem = next((why for ok, why in problems if not ok), None)
        if problem:
            return problem
        for member in state["population"]:
            if not (
                isinstance(member, dict)
                and _count(member.get("id"), 2**62)
                and isinstance(member.get("tree"), str)
                and _fitness(member.get("fitness"))
            ):
                return f"population member {str(member)[:60]!r} is not an id, a tree and a finite fitness"
            try:
                self.genome.parse(member["tree"])
            except ValueError as exc:
                return f"population member {member['id']}: {exc}"
        rng: Any = state.get("rng")  # anything: unpacked and checked just below
        try:
            version, internal, gauss = rng
            random.Random().setstate((version, tuple(internal), gauss))
        except (TypeError, ValueError, OverflowError):
            return "its random-number state is not one Python's random module can continue"
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a ``state()``: the same proposals follow as if the run had never stopped."""
        version, internal, gauss = state["rng"]
        self._state = (version, tuple(internal), gauss)
        self.generation, self.seeded, self.seen = state["generation"], state["seeded"], set(state["seen"])
        self._tried = set()  # answered against another seen set
        self.told = state.get("told", 0)  # checkpoints before steady state counted generations only
        self.ran_out = state.get("ran_out")  # checkpoints before it: a space not run out
        self.population = [
            Member(m["id"], self.genome.parse(m["tree"]), tuple(f) if isinstance(f := m["fitness"], list) else f)
            for m in state["population"]
        ]
        self._rank()


def _objectives(members: list[Member]) -> list[tuple[float, ...]]:
    """The members' objective tuples (a population's fitnesses are all tuples or all numbers; these are tuples)."""
    return [cast(tuple[float, ...], m.fitness) for m in members]


def _count(value: Any, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _fitness(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(
        isinstance(v, float) and math.isfinite(v) or isinstance(v, int) and not isinstance(v, bool) and abs(v) <= 2**53
        for v in values
    )


class RandomSearch(Evolution):
    """The baseline evolution must beat: the space's seeds, then uniformly random trees, never children."""

    def _next(self) -> Proposal:
        return self._random()


@dataclass
class Enumeration(Evolution):
    """Every tree of the space within its initial depths, once, in an order the seed shuffles, then nothing: what
    builds an activation benchmark table. Any prefix is a uniform sample, so a table stopped early is still fair."""

    cursor: int = 0  # trees of the order already taken
    _order: list[str] = field(default_factory=list, repr=False)
    _shard: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._shard = parse_shard(self.config.shard)
        self._order = [tree for tree in self.genome.all_trees() if self._mine(tree)]
        random.Random(self.seed).shuffle(self._order)

    def _mine(self, tree: str) -> bool:
        return self._shard == (1, 1) or in_shard(to_formula(self.genome.to_expr(self.genome.parse(tree))), self._shard)

    def planned(self) -> int | None:
        seeds = [t for t in self.genome.space.seeds if self._mine(t)]
        exprs = [self.genome.to_expr(self.genome.parse(t)) for t in [*seeds, *self._order]]
        return len({to_formula(e) for e in exprs if X in e.free_symbols} - self.seen)

    @property
    def exhausted(self) -> bool:
        return self.seeded and self.cursor >= len(self._order)

    def ask(self, n: int | None = None) -> list[Proposal]:
        out = super().ask(n)
        self._skip_known()  # so ``exhausted`` is true as soon as the last new function is proposed
        return out

    def _next(self) -> Proposal | None:
        while self.cursor < len(self._order):
            self.cursor += 1
            proposal = self.propose(self.genome.parse(self._order[self.cursor - 1]), "enumeration")
            if proposal:
                return proposal
        return None

    def _skip_known(self) -> None:
        """Move past the trees that write no new admissible function (``seen`` only grows: they never will)."""
        while self.cursor < len(self._order):
            tree = self.genome.parse(self._order[self.cursor])
            if self.genome.within_limits(tree):
                expr = self.genome.to_expr(tree)
                if to_formula(expr) not in self.seen and self.admissible(expr):
                    return
            self.cursor += 1

    def state(self, seen: bool = True) -> dict[str, Any]:
        return {**super().state(seen), "cursor": self.cursor}

    def state_problem(self, state: Any, generations: int) -> str | None:
        problem = super().state_problem(state, generations)
        if problem is None and not _count(state.get("cursor"), len(self._order)):
            return f"cursor {state.get('cursor')!r} is not within 0..{len(self._order)} (the trees to enumerate)"
        return problem

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self.cursor = state["cursor"]


#: ``--algorithm`` names: all share the space, the cascade and the evaluator; only how proposals are made differs.
ALGORITHMS: dict[str, type[Evolution]] = {"evolution": Evolution, "random": RandomSearch, "enumeration": Enumeration}
