"""evoact: search for activation functions, inspect what was found, export the winners to torch."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: The public API, imported on first use so that ``import evoact.<module>`` stays light.
_API = {
    "search": "evoact.api",
    "open_run": "evoact.api",
    "compile_activation": "evoact.compiler",
    "load_activation": "evoact.export",
    "parse": "evoact.formula",
    "to_formula": "evoact.formula",
    "load_search_space": "evoact.search_space",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'evoact' has no attribute {name!r}")
