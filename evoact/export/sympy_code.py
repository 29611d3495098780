"""Export an activation as a Python file that rebuilds it as a SymPy expression (needs only sympy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import sympy as sp

from evoact.compiler.standalone import check_exportable
from evoact.files import write_file
from evoact.formula import check_params, constant_values, parse, to_formula

_TEMPLATE = '''"""Activation function exported by evoact as a SymPy expression.

Formula: {formula}
"""

from sympy import *  # noqa: F401,F403  (the names srepr writes)

EXPR = {srepr}
FORMULA = {formula!r}
PARAMS = {params!r}
'''


def export_sympy(
    path: str | Path,
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write ``EXPR`` (exact ``srepr``: symbols keep their assumptions), ``FORMULA`` (what ``load_activation``
    reads) and ``PARAMS``; returns the path."""
    expr, params = parse(formula), check_params(params)
    check_exportable(formula, params)
    path = Path(path)
    write_file(
        path,
        _TEMPLATE.format(formula=to_formula(expr), srepr=sp.srepr(expr), params=constant_values(expr, params)),
    )
    return path
