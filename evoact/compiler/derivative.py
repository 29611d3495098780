"""Symbolic derivatives of an activation with respect to its input and its learnable constants."""

from __future__ import annotations

import sympy as sp

from evoact.compiler.lowering import stable_form
from evoact.primitives import X


def derivatives(expr: sp.Expr) -> list[sp.Expr]:
    """``[d/dx, d/dp for each learnable constant p in name order]`` in numerically stable form.

    Kinks get the midpoint subgradient (``Heaviside(0) = 1/2``, ``sign(0) = 0``, so ``Max``, ``Abs`` and relu
    are consistent with each other), and Dirac deltas from differentiating ``sign``/``Heaviside`` are zero.
    """
    stable = stable_form(expr)
    params = sorted((s for s in expr.free_symbols if s.name != "x"), key=lambda s: s.name)
    out = []
    for symbol in [X, *params]:
        d = sp.diff(stable, symbol)
        out.append(d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero))
    return out
