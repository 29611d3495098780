"""Symbolic derivatives of an activation with respect to its input and its learnable constants."""

from __future__ import annotations

import sympy as sp

from evoact.compiler.lowering import CompileError, stable_form
from evoact.formula import X, constant_names, symbol, to_formula
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
        d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
        if complex_parts := sorted({type(e).__name__ for e in d.atoms(*_COMPLEX)}):
            raise CompileError(
                f"the slope of {to_formula(expr)} takes complex parts ({', '.join(complex_parts)}): a function applied"
                " to what is not real for every x (Abs(sqrt(x)), sign(log(x))); apply it where it is (sqrt(Abs(x)))"
            )
        out.append(d)
    return out


#: What SymPy's derivative holds where an argument is not real for every x: no slope evoact can compute.
_COMPLEX = (sp.re, sp.im, sp.arg, sp.atan2, sp.Derivative, sp.Subs)
