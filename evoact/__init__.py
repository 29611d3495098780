"""evoact: search for activation functions, inspect what was found, export the winners to torch."""

from __future__ import annotations

from typing import Any

from evoact.version import VERSION as __version__

__all__ = [
    "__version__",
    "search",
    "open_run",
    "compile_activation",
    "load_activation",
    "parse",
    "to_formula",
    "load_search_space",
]


def __getattr__(name: str) -> Any:
    """The public API, imported on first use so that ``import evoact.<module>`` stays light."""
    if name in ("search", "open_run"):
        from evoact.api import open_run, search

        return {"search": search, "open_run": open_run}[name]
    if name == "compile_activation":
        from evoact.compiler import compile_activation

        return compile_activation
    if name == "load_activation":
        from evoact.export import load_activation

        return load_activation
    if name in ("parse", "to_formula"):
        from evoact.formula import parse, to_formula

        return {"parse": parse, "to_formula": to_formula}[name]
    if name == "load_search_space":
        from evoact.search_space import load_search_space

        return load_search_space
    raise AttributeError(f"module 'evoact' has no attribute {name!r}")
