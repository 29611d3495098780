"""Genomes: DEAP ``gp`` trees over a search space, their variation operators and their SymPy meaning."""

from __future__ import annotations

import functools
import itertools
import math
import random
import re
import zlib
from pathlib import Path

import sympy as sp
from deap import gp

from evoact.formula import MAX_CONSTANT, X, symbol
from evoact.primitives import PRIMITIVES
from evoact.search_space import SearchSpace, SearchSpaceError, read_search_space


class Real:
    """The one value type of a ``free`` space."""


class Operand:
    """Core units: what a unary function reads (x or another unit)."""


class Unit(Operand):
    """Core units: the output of a binary function, usable wherever an operand is."""


class Branch:
    """Core units: the output of a unary function, read by a binary function."""


#: What each type is, in the words of an error (core units: b(u1(x), u2(x)), as Ramachandran et al. write them).
_WANTED: dict[type, str] = {
    Real: "a value",
    Operand: "an operand (x, or a whole unit b(u1(.), u2(.)))",
    Unit: "a core unit b(u1(.), u2(.)): a binary primitive of two unary ones",
    Branch: "a unary primitive's branch u(.) of a core unit",
}

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|([(),]))")


MAX_TREE_TEXT = 2000
MAX_TREE_DEPTH = 40
#: SymPy's n-ary forms of binary primitives: Min(a, Min(b, c)) is Min(a, b, c)
_FLATTENED = (sp.Add, sp.Mul, sp.Min, sp.Max)
#: trees ``from_formula`` looks a formula up among, in a space whose types its vocabulary cannot write through
MAX_LOOKED_UP = 20_000
MAX_ENUMERATED = 200_000  # trees ``all_trees`` lists at most: a space past it is too big to enumerate


class TreeSyntaxError(ValueError):
    """A tree string does not describe a tree of the search space."""


def _number_name(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_shard(text: str) -> tuple[int, int]:
    """An enumeration's part ``K/N`` (the K-th of N) as (K, N); a one-line ``ValueError`` naming it otherwise."""
    found = re.fullmatch(r"([1-9][0-9]*)/([1-9][0-9]*)", text) if isinstance(text, str) else None
    if found and int(found[1]) <= int(found[2]) <= 10_000:
        return int(found[1]), int(found[2])
    raise ValueError(f"shard {text!r}: expected K/N, the K-th of N parts of the space (1 <= K <= N <= 10000)")


def in_shard(formula: str, shard: tuple[int, int]) -> bool:
    """Whether a formula falls in part K of N (by a hash that never changes, so every machine splits alike and the
    trees that write one formula share a part)."""
    k, n = shard
    return zlib.crc32(formula.encode()) % n == k - 1


def _small(constant: sp.Expr) -> bool:
    """Whether a constant is a real number of magnitude at most ``MAX_CONSTANT`` (what the parser lets through)."""
    try:
        value = complex(constant)
    except (TypeError, ValueError, OverflowError):
        return False
    return value.imag == 0 and math.isfinite(value.real) and abs(value.real) <= MAX_CONSTANT


def load_search_space(name_or_path: str | Path) -> SearchSpace:
    """Load a shipped search space by name (``default``) or any ``.toml`` file by path, its seeds checked as trees of
    its own primitives within its limits (a one-line ``SearchSpaceError`` naming the seed), as a search checks them."""
    space = read_search_space(name_or_path)
    Genome(space)
    return space


class Genome:
    """The tree encoding of one search space: create, parse, vary and interpret trees."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        core = space.structure == "core_units"
        operand, root, unary_out = (Operand, Unit, Branch) if core else (Real, Real, Real)
        self.pset = gp.PrimitiveSetTyped("evoact", [], root)
        self.pset.addTerminal("x", operand, name="x")
        for name in space.unary:
            self.pset.addPrimitive(_noop, [operand], unary_out, name=name)
        for name in space.binary:
            self.pset.addPrimitive(_noop, [unary_out, unary_out], root, name=name)
        self._leaves: dict[str, sp.Expr] = {"x": X}
        for value in space.constants:
            name = _number_name(value)
            self.pset.addTerminal(value, operand, name=name)
            self._leaves[name] = sp.Rational(repr(value))
        for name in space.learnable_terminals:
            self.pset.addTerminal(name, operand, name=name)
            self._leaves[name] = symbol(name)
        self._min_height = self._closing_heights()
        for i, seed in enumerate(space.seeds):
            try:
                tree = self.parse(seed)
            except TreeSyntaxError as exc:
                hint = (
                    "; a seed is a tree of the space's primitives, as mul(x, sigmoid(x)) (a formula goes to --guess)"
                    if str(exc).startswith("unexpected character")
                    else ""
                )
                raise SearchSpaceError(f"{space.source}: seeds[{i}]: {exc}{hint}") from None
            if not self.within_limits(tree):
                limits = space.limits
                raise SearchSpaceError(
                    f"{space.source}: seeds[{i}]: {seed!r} is {tree.height} deep with {len(tree)} nodes, over the"
                    f" space's limits (max_depth {limits.max_depth}, max_nodes {limits.max_nodes})"
                )

    # --- creation -------------------------------------------------------------------------
    def _closing_heights(self) -> dict[type, float]:
        """Smallest subtree height that can produce each type (a fixed point over the primitives)."""
        types = set(self.pset.primitives) | set(self.pset.terminals)
        height = {t: 0.0 if self.pset.terminals.get(t) else float("inf") for t in types}
        changed = True
        while changed:
            changed = False
            for t in types:
                for prim in self.pset.primitives.get(t, []):
                    h = 1 + max(height[a] for a in prim.args)
                    if h < height[t]:
                        height[t], changed = h, True
        return height

    def random_tree(
        self, min_depth: int | None = None, max_depth: int | None = None, type_: type | None = None
    ) -> gp.PrimitiveTree:
        """A random tree grown between the depths given (defaults: the space's initial depths)."""
        limits = self.space.limits
        lo = limits.init_min_depth if min_depth is None else min_depth
        hi = limits.init_max_depth if max_depth is None else max_depth
        nodes: list = []
        self._grow(type_ or self.pset.ret, 0, lo, max(hi, self._min_height[type_ or self.pset.ret]), nodes)
        return gp.PrimitiveTree(nodes)

    def _grow(self, type_: type, depth: int, min_depth: int, max_depth: float, out: list) -> None:
        terminals = self.pset.terminals.get(type_, [])
        prims = [
            p
            for p in self.pset.primitives.get(type_, [])
            if depth + 1 + max(self._min_height[a] for a in p.args) <= max_depth
        ]
        leaf_ratio = len(terminals) / (len(terminals) + len(prims)) if prims else 1.0
        if terminals and (not prims or (depth >= min_depth and random.random() < leaf_ratio)):
            x = [t for t in terminals if t.name == "x"]
            out.append(x[0] if x and random.random() < 0.5 else random.choice(terminals))
            return
        prim = random.choice(prims)
        out.append(prim)
        for arg in prim.args:
            self._grow(arg, depth + 1, min_depth, max_depth, out)

    def all_trees(self) -> list[str]:
        """Every tree within the space's initial depths and limits, as tree strings in a fixed order (for
        enumeration); a ``SearchSpaceError`` if there are more than ``MAX_ENUMERATED``."""
        limits = self.space.limits
        memo: dict[tuple[type, int], list[list]] = {}

        def trees(type_: type, depth_left: int) -> list[list]:
            if (type_, depth_left) not in memo:
                out: list[list] = [[t] for t in self.pset.terminals.get(type_, [])]
                for prim in self.pset.primitives.get(type_, []) if depth_left > 0 else []:
                    for args in itertools.product(*(trees(a, depth_left - 1) for a in prim.args)):
                        out.append([prim, *itertools.chain.from_iterable(args)])
                        if len(out) > MAX_ENUMERATED:
                            raise SearchSpaceError(
                                f"search space {self.space.name!r} has more than {MAX_ENUMERATED:,} trees within"
                                f" its initial depths {limits.init_min_depth}-{limits.init_max_depth}: too many to"
                                " enumerate"
                            )
                memo[(type_, depth_left)] = out
            return memo[(type_, depth_left)]

        out = []
        for nodes in trees(self.pset.ret, limits.init_max_depth):
            tree = gp.PrimitiveTree(nodes)
            if tree.height >= max(limits.init_min_depth, self._min_height[self.pset.ret]) and self.within_limits(tree):
                out.append(str(tree))
        return out

    # --- text ----------------------------------------------------------------------------
    def parse(self, text: str) -> gp.PrimitiveTree:
        """Parse a tree string such as ``mul(x, sigmoid(x))`` (never evaluates any of it)."""
        if len(text) > MAX_TREE_TEXT:
            raise TreeSyntaxError(f"tree string is {len(text)} characters long; the limit is {MAX_TREE_TEXT}")
        tokens, pos = [], 0
        while pos < len(text.rstrip()):
            m = _TOKEN.match(text, pos)
            if not m:
                at = len(text) - len(text[pos:].lstrip())
                raise TreeSyntaxError(f"unexpected character {text[at]!r} at position {at}")
            tokens.append(m.group(1) or (_number_name(float(m.group(2))) if m.group(2) else m.group(3)))
            pos = m.end()
        nodes: list = []
        rest = self._parse_node(tokens, 0, self.pset.ret, nodes, text, 0)
        if rest != len(tokens):
            raise TreeSyntaxError(f"unexpected {tokens[rest]!r} after a complete tree in {text!r}")
        return gp.PrimitiveTree(nodes)

    def _parse_node(self, tokens: list[str], i: int, type_: type, out: list, text: str, depth: int) -> int:
        if depth > MAX_TREE_DEPTH:
            raise TreeSyntaxError(f"tree nests deeper than {MAX_TREE_DEPTH} levels")
        if i >= len(tokens):
            raise TreeSyntaxError(f"{text!r} ends too early")
        name = tokens[i]
        node = self.pset.mapping.get(name)
        if node is None:
            raise TreeSyntaxError(f"{name!r} is not a primitive or terminal of this space")
        if not issubclass(node.ret, type_):
            raise TreeSyntaxError(f"{name!r} cannot stand where {_WANTED[type_]} is expected in {text!r}")
        out.append(node)
        if not isinstance(node, gp.Primitive):
            return i + 1
        i += 1
        for k, arg in enumerate(node.args):
            expected = "(" if k == 0 else ","
            if i >= len(tokens) or tokens[i] != expected:
                raise TreeSyntaxError(f"{name!r} takes {node.arity} argument(s); expected {expected!r} in {text!r}")
            i = self._parse_node(tokens, i + 1, arg, out, text, depth + 1)
        if i >= len(tokens) or tokens[i] != ")":
            raise TreeSyntaxError(f"expected ')' to close {name!r}, which takes {node.arity} argument(s), in {text!r}")
        return i + 1

    def from_formula(self, expr: sp.Expr) -> gp.PrimitiveTree:
        """A tree of this space that denotes ``expr`` exactly (a formula's own tree), or a ``TreeSyntaxError`` naming
        the part the space's vocabulary cannot write."""
        if sp.count_ops(expr) > 4 * self.space.limits.max_nodes:
            raise TreeSyntaxError(f"{expr} is larger than this space's trees ({self.space.limits.max_nodes} nodes)")
        learnable = sorted(self.space.learnable)
        if strangers := sorted(str(s) for s in expr.free_symbols - {X, *map(symbol, learnable)}):
            raise TreeSyntaxError(
                f"{', '.join(strangers)}: not a variable of this space (x, and its learnable constants:"
                f" {', '.join(learnable) or 'none'})"
            )
        failed: TreeSyntaxError | None = None
        # SymPy spreads a number over a sum (2*(1 + y) is 2 + 2*y), which no tree builds: its common factor taken out
        # again, the formula is as a tree writes it (x/(2*(1 + exp(-x))) as mul(0.5, mul(x, sigmoid(x))))
        forms = tuple(dict.fromkeys((expr, sp.factor_terms(expr))))
        for form in forms:
            try:
                text = self._written(form)
                tree = self.parse(text)  # a typed space's parse refuses what its types do not allow
            except TreeSyntaxError as exc:
                failed = failed or exc
                continue
            if self.to_expr(tree) == form:  # the tree must mean the formula, not something close to it
                return tree
            failed = failed or TreeSyntaxError(f"{text!r} does not give back the formula {expr}")
        assert failed is not None  # every form failed
        # a typed space (core units) writes a formula only through its types: found among its trees instead, where
        # they are few enough to look through
        found = next((self._meanings[form] for form in forms if form in self._meanings), None)
        if found is None:
            raise failed
        return self.parse(found)

    @functools.cached_property
    def _numbers(self) -> dict[sp.Expr, str]:
        """The numbers one or two primitives make of the space's constants, each with its first tree: SymPy
        evaluates such a part of a formula (atan(1) is pi/4, square(2) is 4), which no longer shows its tree."""
        leaves = {value: name for name, value in self._leaves.items() if value.is_number}
        numbers: dict[sp.Expr, str] = {}
        for name in self.space.binary:
            for (a, left), (b, right) in itertools.product(leaves.items(), repeat=2):
                numbers.setdefault(PRIMITIVES[name].build(a, b), f"{name}({left}, {right})")
        once = dict(leaves)
        for name in self.space.unary:
            for value, text in leaves.items():
                once.setdefault(PRIMITIVES[name].build(value), f"{name}({text})")
        for name in self.space.unary:
            for value, text in list(once.items()):
                numbers.setdefault(PRIMITIVES[name].build(value), f"{name}({text})")
        numbers.update({v: t for v, t in once.items() if v not in leaves})  # the shorter tree wins
        return {v: t for v, t in numbers.items() if v.is_real is True and v.is_finite}  # not I, nan or zoo

    @functools.cached_property
    def _meanings(self) -> dict[sp.Expr, str]:
        """The expression each tree of an enumerable space denotes, with its smallest tree; empty for a space of more
        than ``MAX_LOOKED_UP`` trees."""
        try:
            trees = self.all_trees()
        except SearchSpaceError:
            return {}
        if len(trees) > MAX_LOOKED_UP:
            return {}
        meanings: dict[sp.Expr, str] = {}
        for text in sorted(trees, key=len):
            meanings.setdefault(self.to_expr(self.parse(text)), text)
        return meanings

    def _written(self, e: sp.Expr) -> str:
        """``e`` as a tree string of this space's primitives and leaves."""
        for name, leaf in self._leaves.items():
            if e == leaf:
                return name
        args = list(e.args)
        if isinstance(e, _FLATTENED) and len(args) > 2:  # SymPy flattens these: one binary node at a time
            args = [args[0], e.func(*args[1:])]
        if isinstance(e, sp.Mul) and args[0] == -1 and "neg" in self.space.unary:
            return f"neg({self._written(args[1])})"
        size = sp.count_ops(e)
        for name in (*self.space.unary, *self.space.binary):
            primitive = PRIMITIVES[name]
            wilds = [sp.Wild(f"w{i}") for i in range(primitive.arity)]
            built = primitive.build(*wilds)
            if isinstance(e, _FLATTENED) and primitive.arity == 2 and built.func == e.func:
                found = dict(zip(wilds, args))  # the two halves of a sum, product, Min or Max, in order
            elif isinstance(e, (sp.Min, sp.Max)) and len(e.args) > 2 and built.func == e.func:  # min0 of more
                fixed = [a for a in built.args if not a.has(*wilds)]  # Min(0, w): SymPy's match takes no Min(0, a, b)
                found = {wilds[0]: e.func(*(a for a in e.args if a not in fixed))} if set(fixed) <= set(e.args) else {}
            else:  # a match must take smaller parts (sqrt(e) squared is e too, without end)
                found = {w: v for w, v in (e.match(built) or {}).items() if sp.count_ops(v) < size}
            parts = [found.get(w) for w in wilds]
            if all(p is not None and p != e for p in parts) and primitive.build(*parts) == e:
                try:
                    return f"{name}({', '.join(self._written(p) for p in parts)})"
                except TreeSyntaxError:
                    continue
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 2:  # SymPy collects x*x*x into x**3: no one primitive
            half, odd = divmod(int(e.exp), 2)
            if "square" in self.space.unary and not odd:
                return f"square({self._written(e.base**half)})"
            if "mul" in self.space.binary:
                return f"mul({self._written(e.base ** (e.exp - 1))}, {self._written(e.base)})"
        if e.is_number:
            if e in self._numbers:
                return self._numbers[e]
            raise TreeSyntaxError(
                f"the number {e} is not a constant of this space ({', '.join(map(str, self.space.constants))})"
            )
        known = {abs(v) for v in self._leaves.values() if v.is_number} | {sp.Integer(1)}
        lacking = sorted({str(abs(n)) for n in _numbers(e) if abs(n) not in known})
        missing = sorted({type(f).__name__ for f in e.atoms(sp.Function)} - self._functions)
        raise TreeSyntaxError(
            f"{e} cannot be written with this space's primitives ({', '.join(self.space.unary)},"
            f" {', '.join(self.space.binary)}) and constants"
            + (f" (no primitive of it makes {', '.join(missing)})" if missing else "")
            + (f" (it needs the number(s) {', '.join(lacking)})" if lacking else "")
        )

    @functools.cached_property
    def _functions(self) -> set[str]:
        """The SymPy functions the space's primitives make (softplus makes log and exp): a formula's others are what
        the space lacks."""
        made: set[str] = set()
        for name in (*self.space.unary, *self.space.binary):
            primitive = PRIMITIVES[name]
            built = primitive.build(*sp.symbols(f"w0:{primitive.arity}"))
            made |= {type(f).__name__ for f in built.atoms(sp.Function)}
        return made

    # --- meaning -------------------------------------------------------------------------
    def to_expr(self, tree: gp.PrimitiveTree) -> sp.Expr:
        """The SymPy expression a tree denotes; NaN (no admissible function) where a part of it without x is not a
        real number of magnitude at most ``MAX_CONSTANT``, as the parser refuses such a constant: SymPy evaluates a
        constant part at once, and ``sinh(exp(1e6))`` took it minutes."""
        stack: list[sp.Expr] = []
        for node in reversed(tree):
            if isinstance(node, gp.Primitive):
                args = [stack.pop() for _ in range(node.arity)]
                built = PRIMITIVES[node.name].build(*args)
                if not built.free_symbols and not _small(built):
                    return sp.nan
                stack.append(built)
            else:
                stack.append(self._leaves[node.name])
        return stack[0]

    # --- variation -----------------------------------------------------------------------
    def within_limits(self, tree: gp.PrimitiveTree) -> bool:
        """Whether a tree respects the space's depth and size limits (bloat control)."""
        return tree.height <= self.space.limits.max_depth and len(tree) <= self.space.limits.max_nodes

    def crossover(self, a: gp.PrimitiveTree, b: gp.PrimitiveTree) -> gp.PrimitiveTree:
        """One-point typed crossover: a copy of ``a`` with one subtree replaced by one of ``b``.

        DEAP's ``cxOnePoint`` does the same but draws the node type from a set, whose order follows the types' hashes
        and so differs between processes; sorting the types by name keeps a seed's search the same in every process
        (a resumed run, a worker). It also returns one child, not two.
        """
        child = gp.PrimitiveTree(list(a))
        by_type: dict[str, tuple[list[int], list[int]]] = {}
        for idx, node in enumerate(child):
            by_type.setdefault(node.ret.__name__, ([], []))[0].append(idx)
        for idx, node in enumerate(b):
            if node.ret.__name__ in by_type:
                by_type[node.ret.__name__][1].append(idx)
        common = sorted(t for t, (ia, ib) in by_type.items() if ia and ib)
        if not common:
            return child
        ia, ib = by_type[random.choice(common)]
        i, j = random.choice(ia), random.choice(ib)
        child[child.searchSubtree(i)] = b[b.searchSubtree(j)]
        return child

    def mutate(self, tree: gp.PrimitiveTree) -> gp.PrimitiveTree:
        """Apply one random mutation: subtree replacement, node replacement or shrinking."""
        child = gp.PrimitiveTree(list(tree))
        kind = random.choice(("subtree", "node", "shrink") if len(child) > 1 else ("subtree",))
        if kind == "subtree":
            index = random.randrange(len(child))
            type_ = child[index].ret
            child[child.searchSubtree(index)] = self.random_tree(0, 2, type_)
        elif kind == "node":
            (child,) = gp.mutNodeReplacement(child, self.pset)
        else:
            (child,) = gp.mutShrink(child)
        return child


def _noop(*args: object) -> None:
    """Placeholder callable: evoact never runs trees through DEAP's ``compile`` (it uses ``eval``)."""


def _numbers(e: sp.Expr) -> list[sp.Expr]:
    """The numbers a formula is written with: its rationals, and its powers of numbers and named constants whole
    (``sqrt(2)``, ``pi``), not the integers inside them."""
    if e.is_Number or isinstance(e, sp.NumberSymbol) or (e.is_Pow and e.is_number):
        return [e]
    return [n for arg in e.args for n in _numbers(arg)]
