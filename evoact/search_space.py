"""Search-space files: load a TOML description of primitives, terminals and limits, and validate it."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sympy as sp

from evoact.formula import constant_name_problem
from evoact.primitives import BINARY_NAMES, PRIMITIVES, UNARY_NAMES

STRUCTURES = ("free", "core_units")
MAX_FILE_BYTES = 1_000_000
MAX_SEEDS = 256
MAX_CONSTANTS = 64
MAX_LEARNABLE = 32


class SearchSpaceError(ValueError):
    """A search-space file is missing, malformed, or names something unknown."""


@dataclass(frozen=True)
class Limits:
    """Size limits of expression trees: at creation and after every variation (bloat control)."""

    max_depth: int = 5
    max_nodes: int = 15
    init_min_depth: int = 1
    init_max_depth: int = 3


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: which primitives, terminals and limits trees are built from."""

    name: str
    source: str
    text: str
    description: str = ""
    structure: str = "free"
    unary: tuple[str, ...] = ()
    binary: tuple[str, ...] = ()
    constants: tuple[float, ...] = ()
    learnable_terminals: tuple[str, ...] = ()
    learnable: dict[str, float] = field(default_factory=dict)
    limits: Limits = Limits()
    seeds: tuple[str, ...] = ()


_SCHEMA: dict[str, Any] = {
    "name": str,
    "description": str,
    "structure": str,
    "seeds": list,
    "primitives": {"unary": list, "binary": list},
    "terminals": {"constants": list, "learnable": list},
    "learnable": dict,
    "limits": {"max_depth": int, "max_nodes": int, "init_min_depth": int, "init_max_depth": int},
}


def builtin_spaces() -> list[str]:
    """Names of the search spaces shipped with evoact."""
    return sorted(p.name[:-5] for p in resources.files("evoact.search_spaces").iterdir() if p.name.endswith(".toml"))


def read_search_space(name_or_path: str | Path) -> SearchSpace:
    """A shipped search space by name (``default``) or any ``.toml`` file by path, as written: its seeds are trees
    of its own primitives only once ``genome.load_search_space`` has checked them."""
    path = Path(name_or_path)
    if not str(name_or_path).strip():  # Path("") is the current folder
        raise SearchSpaceError(
            f"{str(name_or_path)!r}: no search space named; shipped ones are {', '.join(builtin_spaces())}, or give a"
            " path to a .toml file"
        )
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SearchSpaceError(f"{path}: no such search-space file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SearchSpaceError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a search-space file")
        try:
            text = path.read_text(encoding="utf-8-sig")  # an editor's byte-order mark is no TOML
        except UnicodeDecodeError as exc:
            raise SearchSpaceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return parse_search_space(text, str(path))
    name = str(name_or_path)
    if name not in builtin_spaces():
        mine = path.with_name(path.name + ".toml")
        raise SearchSpaceError(
            f"{name}: unknown search space; shipped ones are {', '.join(builtin_spaces())},"
            + (f"; {mine} is a file: name it with its .toml" if mine.is_file() else " or give a path to a .toml file")
        )
    text = resources.files("evoact.search_spaces").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse_search_space(text, f"search_spaces/{name}.toml")


def parse_search_space(text: str, source: str = "<string>", stored: bool = False) -> SearchSpace:
    """Validate the text of a search-space file; errors name the file, the entry and the problem. ``stored``: the
    text a run kept, read by the rules it was accepted under (a name checked only since is not refused)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SearchSpaceError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise SearchSpaceError(f"{source}: nests too deeply to be a search-space file") from None

    def fail(entry: str, problem: str) -> SearchSpaceError:
        return SearchSpaceError(f"{source}: {entry}: {problem}")

    _check_keys(data, _SCHEMA, "", fail)
    if "name" not in data:
        raise fail("name", "missing; every search space needs a name")
    if not stored and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", data["name"]):  # tables name it
        raise fail("name", f"{data['name'][:40]!r}: letters, digits, '_', '.' and '-' only (1 to 64), no folders")
    structure = data.get("structure", "free")
    if structure not in STRUCTURES:
        raise fail("structure", f"{structure!r} is not one of {', '.join(STRUCTURES)}")

    prims = data.get("primitives", {})
    unary = _names(prims.get("unary", []), UNARY_NAMES, "primitives.unary", "unary", fail)
    binary = _names(prims.get("binary", []), BINARY_NAMES, "primitives.binary", "binary", fail)
    if not unary and not binary:
        raise fail("primitives", "no unary or binary primitives; a space needs at least one")
    if structure == "core_units" and not (unary and binary):
        raise fail("primitives", "structure 'core_units' needs both unary and binary primitives")

    for entry, values, cap in (
        ("learnable", data.get("learnable", {}), MAX_LEARNABLE),
        ("terminals.constants", data.get("terminals", {}).get("constants", []), MAX_CONSTANTS),
        ("terminals.learnable", data.get("terminals", {}).get("learnable", []), MAX_LEARNABLE),
        ("seeds", data.get("seeds", []), MAX_SEEDS),
    ):
        if len(values) > cap:
            raise fail(entry, f"lists {len(values)} entries; the limit is {cap}")
    learnable: dict[str, float] = {}
    for key, value in data.get("learnable", {}).items():
        if problem := constant_name_problem(key):
            raise fail(f"learnable.{key}", problem)
        if key in unary + binary and not stored:  # a tree names its leaves and its primitives alike
            raise fail(f"learnable.{key}", f"{key!r} names a primitive of the space; give the constant another name")
        learnable[key] = _number(value, f"learnable.{key}", fail)
    for name in unary + binary:
        for constant in PRIMITIVES[name].constants:
            if constant not in learnable:
                raise fail(
                    f"primitives: {name}",
                    f"needs the learnable constant '{constant}'; declare it under [learnable] ({constant} = 1.0)",
                )
        if PRIMITIVES[name].constants and not _defined(name, learnable):
            values = ", ".join(f"{c} = {learnable[c]:g}" for c in PRIMITIVES[name].constants)
            raise fail(f"learnable ({values})", f"{name} is undefined there (every tree using it would be refused)")

    terminals = data.get("terminals", {})
    constants = tuple(
        _number(v, f"terminals.constants[{i}]", fail) for i, v in enumerate(terminals.get("constants", []))
    )
    for i, value in enumerate(constants if not stored else ()):
        if 0 < abs(value) < 1e-6:  # its quotients and powers would be numbers no formula can hold (past 1e30)
            raise fail(f"terminals.constants[{i}]", f"must be 0 or of magnitude from 1e-6 to 1e6, got {value:g}")
    if len(set(constants)) != len(constants):
        raise fail("terminals.constants", "lists a number twice")
    learn_terms = tuple(terminals.get("learnable", []))
    if len(set(learn_terms)) != len(learn_terms) and not stored:
        raise fail("terminals.learnable", "lists a constant twice")
    used = {*learn_terms, *(c for p in unary + binary for c in PRIMITIVES[p].constants)}
    unused = [k for k in learnable if k not in used]  # a misspelt declaration, likely
    for i, name in enumerate(learn_terms):
        if isinstance(name, str) and (problem := constant_name_problem(name)):
            raise fail(f"terminals.learnable[{i}]", problem)
        if not isinstance(name, str) or name not in learnable:
            hint = f" (it declares {', '.join(repr(k) for k in unused)}, which nothing uses)" if unused else ""
            raise fail(f"terminals.learnable[{i}]", f"{name!r} is not declared under [learnable]{hint}")
    if unused and not stored:
        raise fail(
            f"learnable.{unused[0]}",
            "declared, but no primitive of the space and no entry of terminals.learnable uses it (list it there, or"
            " remove it)",
        )

    limits = Limits(**{k: v for k, v in data.get("limits", {}).items()})
    for key in ("max_depth", "init_min_depth", "init_max_depth"):
        if not 0 <= getattr(limits, key) <= 12:
            raise fail(f"limits.{key}", "must be between 0 and 12")
    if not 1 <= limits.max_nodes <= 200:
        raise fail("limits.max_nodes", "must be between 1 and 200")
    if not limits.init_min_depth <= limits.init_max_depth <= limits.max_depth:
        raise fail("limits", "needs init_min_depth <= init_max_depth <= max_depth")
    fewest = (limits.init_min_depth + 1) if unary else (2 * limits.init_min_depth + 1)  # nodes of the leanest such tree
    if fewest > limits.max_nodes:
        raise fail(
            "limits",
            f"no tree can satisfy them: a tree of depth init_min_depth = {limits.init_min_depth} has at least"
            f" {fewest} nodes, more than max_nodes = {limits.max_nodes}",
        )

    if structure == "core_units" and (limits.max_depth < 2 or limits.max_nodes < 5) and not stored:
        raise fail(  # the first trees grow to a unit's depth whatever their initial depths say
            "limits",
            f"no tree can satisfy them: a core unit b(u(.), u(.)) is 2 deep with 5 nodes, and max_depth ="
            f" {limits.max_depth}, max_nodes = {limits.max_nodes}",
        )

    seeds = data.get("seeds", [])
    for i, seed in enumerate(seeds):
        if not isinstance(seed, str):
            raise fail(f"seeds[{i}]", 'must be a tree string such as "mul(x, sigmoid(x))"')
    return SearchSpace(
        name=data["name"],
        source=source,
        text=text,
        description=data.get("description", ""),
        structure=structure,
        unary=unary,
        binary=binary,
        constants=constants,
        learnable_terminals=learn_terms,
        learnable=learnable,
        limits=limits,
        seeds=tuple(seeds),
    )


def _check_keys(data: dict, schema: dict, prefix: str, fail) -> None:
    for key, value in data.items():
        entry = f"{prefix}{key}"
        if key not in schema:
            raise fail(entry, f"unknown key; allowed here: {', '.join(schema)}")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise fail(entry, f"must be a table [{entry}]")
            _check_keys(value, expected, f"{entry}.", fail)
        elif expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise fail(entry, f"must be an integer, got {value!r}")
        elif not isinstance(value, expected):
            raise fail(entry, f"must be a {expected.__name__}, got {type(value).__name__}")


def _names(values: list, known: tuple[str, ...], entry: str, kind: str, fail) -> tuple[str, ...]:
    for i, name in enumerate(values):
        if not isinstance(name, str) or name not in known:
            other = "binary" if kind == "unary" else "unary"
            if isinstance(name, str) and name in PRIMITIVES and (PRIMITIVES[name].arity == 2) == (other == "binary"):
                raise fail(f"{entry}[{i}]", f"{name!r} is a {other} primitive: list it under {other}")
            raise fail(f"{entry}[{i}]", f"unknown {kind} primitive {name!r}; known: {', '.join(known)}")
    if len(set(values)) != len(values):
        raise fail(entry, "lists a primitive twice")
    return tuple(values)


def _defined(name: str, learnable: dict[str, float]) -> bool:
    """Whether primitive ``name`` gives a finite number with its constants at their starting values (snake divides
    by alpha: at 0 it is undefined everywhere)."""
    built = PRIMITIVES[name].build(*[sp.Rational(1, 2)] * PRIMITIVES[name].arity)
    return bool(built.subs({s: sp.Float(learnable[s.name]) for s in built.free_symbols}).is_finite)


def _number(value: Any, entry: str, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > 1e6 or not math.isfinite(value):
        shown = repr(value) if isinstance(value, str) else str(value)  # text quoted: "one" is not the number one
        raise fail(entry, f"must be a finite number of magnitude at most 1e6, got {shown[:40]}")
    return float(value)
