"""Symbolic derivatives of an activation with respect to its input and its learnable constants."""

from __future__ import annotations

import sympy as sp

from evoact.compiler.lowering import stable_form
from evoact.formula import X, constant_names, symbol
from evoact.ops import Sinc


def derivatives(expr: sp.Expr) -> list[sp.Expr]:
    """``[d/dx, d/dp for each learnable constant p in name order]`` in numerically stable form.

    Kinks get the midpoint subgradient (``Heaviside(0) = 1/2``, ``sign(0) = 0``, so ``Max``, ``Abs`` and relu
    are consistent with each other), and Dirac deltas from differentiating ``sign``/``Heaviside`` are zero.
    """
    stable = stable_form(expr).replace(sp.sinc, Sinc)  # its slope as one function, not a quotient that cancels
    out = []
    for variable in [X, *map(symbol, constant_names(expr))]:
        d = sp.diff(stable, variable).replace(Sinc, sp.sinc)
        out.append(d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero))
    return out
