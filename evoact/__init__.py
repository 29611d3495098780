"""evoact: search for activation functions, inspect what was found, export the winners to torch."""

from __future__ import annotations

import importlib
from typing import Any

from evoact.version import VERSION as __version__

#: The public API: each name and the module that defines it, imported on first use so that ``import evoact.<module>``
#: stays light.
_API = {
    "search": "evoact.api",
    "open_run": "evoact.api",
    "compile_activation": "evoact.compiler",
    "load_activation": "evoact.export",
    "parse": "evoact.formula",
    "to_formula": "evoact.formula",
    "load_search_space": "evoact.genome",
}
#: The modules the README names by their dotted path (``evoact.hooks.Hook``), imported on first use as well.
_MODULES = ("benchtable", "formula", "hooks", "loggers", "records", "summaries", "tasks")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """A name of the public API, from the module that defines it, or one of the modules the README names."""
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"evoact.{name}")
    raise AttributeError(f"module 'evoact' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API and the modules the README names, for tab completion (imported on first use); not the helpers
    this file itself imports."""
    return sorted({*__all__, *_MODULES})
