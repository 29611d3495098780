"""Export an activation as a JSON record: formula, LaTeX, constants and the run's learned values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import sympy as sp

from evoact.compiler.standalone import standalone_source
from evoact.files import write_file
from evoact.formula import check_learned, check_params, constant_names, constant_values, parse, to_formula
from evoact.version import VERSION


def export_json(
    path: str | Path,
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write the record (``formula`` parses back with ``evoact.parse``); returns the path."""
    expr, params = parse(formula), check_params(params)
    standalone_source(formula, params)  # what cannot be a module is exported in no format (a CompileError says why)
    record = {
        "formula": to_formula(expr),
        "latex": sp.latex(expr),
        "params": constant_values(expr, params),
        "learned_per_layer": check_learned(learned or {}, constant_names(expr)),
        "exported_by": f"evoact {VERSION}",
    }
    path = Path(path)
    write_file(path, json.dumps(record, indent=2) + "\n")
    return path
