"""Export an activation as a JSON record: formula, LaTeX, constants and the run's learned values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import sympy as sp

from evoact.compiler.standalone import check_exportable
from evoact.files import write_file
from evoact.formula import (
    FormulaError,
    check_learned,
    check_params,
    constant_names,
    constant_values,
    parse,
    to_formula,
)
from evoact.version import VERSION


def export_json(
    path: str | Path,
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write the record (``formula`` parses back with ``evoact.parse``); returns the path."""
    expr, params = parse(formula), check_params(params)
    check_exportable(formula, params)
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


def read_json_record(path: str | Path) -> tuple[str, dict[str, float]]:
    """The formula and constants of a JSON record written by ``export_json``."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8-sig"))  # with or without a byte-order mark
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not a readable JSON record ({type(exc).__name__}: {str(exc)[:100]})") from None
    if not isinstance(record, dict) or not isinstance(record.get("formula"), str):
        raise ValueError(f"{path}: not an evoact JSON record (no 'formula' string)")
    try:
        return record["formula"], check_params(record.get("params") or {})
    except FormulaError as exc:
        raise ValueError(f"{path}: 'params' must map constant names to numbers ({exc})") from None
