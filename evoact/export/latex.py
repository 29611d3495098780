"""Export an activation as a LaTeX equation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import sympy as sp

from evoact.compiler.standalone import check_exportable
from evoact.files import write_file
from evoact.formula import check_params, constant_values, parse, to_formula


def export_latex(
    path: str | Path,
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write ``f(x) = ...`` as a display equation, with the constants' values underneath; returns the path."""
    expr, params = parse(formula), check_params(params)
    check_exportable(formula, params)
    lines = [f"% {to_formula(expr)}", r"\begin{equation}", f"  f(x) = {sp.latex(expr)}", r"\end{equation}"]
    values = constant_values(expr, params)
    if values:
        shown = ", ".join(f"{sp.latex(sp.Symbol(n))} = {v:.6g}" for n, v in values.items())
        lines.append(f"with ${shown}$" + (" (learned)" if learned else " (initial)") + ".")
    path = Path(path)
    write_file(path, "\n".join(lines) + "\n")
    return path
