"""SymPy steps that can take unbounded time, as plain functions of SymPy alone: ``evoact.bounded`` runs them in its
helper process, which imports this module and SymPy, nothing else."""

from __future__ import annotations

import sympy as sp

#: What a limit that grows without bound in both directions is called.
WILD = "oscillates unboundedly"


def number(value: sp.Expr) -> float | str | None:
    """A SymPy result as a JSON-ready value: a float, "inf"/"-inf", "oscillates" (bounded), or None."""
    if isinstance(value, sp.AccumBounds):
        return "oscillates" if value.min.is_finite and value.max.is_finite else WILD
    if value in (sp.oo, -sp.oo):
        return "inf" if value == sp.oo else "-inf"
    if value.is_number and value.is_finite and value.is_real:
        try:
            return float(value.evalf())
        except TypeError:
            return None
    return None


def value_at(expr: sp.Expr, x: sp.Symbol, point: float) -> float | str | None:
    """``expr`` at ``x = point``, exactly; where it is undefined there but its two one-sided limits agree (sin(x)/x at
    0), their value, which the function is given there (as ``gaps`` counts it)."""
    value = expr.subs(x, point)
    if value.has(sp.nan, sp.zoo):
        left, right = sp.limit(expr, x, point, "-"), sp.limit(expr, x, point, "+")
        if left == right and left.is_finite:
            value = left
    return number(value)


def slope_at(expr: sp.Expr, x: sp.Symbol, point: float) -> float | str | None:
    """The derivative of ``expr`` in ``x`` at ``point``, exactly (its limit where ``value_at`` takes one)."""
    return value_at(sp.diff(expr, x), x, point)


def limit(expr: sp.Expr, x: sp.Symbol, to: sp.Expr) -> float | str | None:
    """The limit of ``expr`` as ``x`` goes to ``to`` (``sp.oo`` or ``-sp.oo``)."""
    return number(sp.limit(expr, x, to))


def gaps(expr: sp.Expr, x: sp.Symbol) -> tuple[str, bool, bool] | None:
    """Where on the real line ``expr`` is undefined or not continuous, as SymPy writes the set ("" where nowhere; a
    point whose two one-sided limits agree, as sin(x)/x's 0, is not counted: the function has its value there), and
    whether that holds all of x below -1e6 and all above 1e6 (a limit there means nothing); None where SymPy cannot
    tell (erf, for one, or a denominator whose roots it leaves complex and unsimplified)."""
    from sympy.calculus.util import continuous_domain

    try:
        missing = sp.Complement(sp.S.Reals, continuous_domain(expr, x, sp.S.Reals))
    except NotImplementedError:
        return None
    if missing.has(sp.I):
        return None
    if isinstance(missing, sp.FiniteSet):
        missing = sp.FiniteSet(*(point for point in missing if not _removable(expr, x, point)))
    if missing == sp.S.EmptySet:
        return "", False, False
    far = [sp.Interval(-sp.oo, -(10**6)).is_subset(missing), sp.Interval(10**6, sp.oo).is_subset(missing)]
    return _written(missing), far[0] is True, far[1] is True


def _written(points: sp.Set) -> str:
    """A set as SymPy writes it, its points where it lists them as numbers unless short (``{-0.001000000333}``, not
    ``{log(3*sqrt(111111)/1001)}``; ``{0}``, ``{pi/2}`` as they are)."""
    if not isinstance(points, sp.FiniteSet):
        return str(points)
    shown = [str(p) if p.is_Rational or len(str(p)) <= 8 else f"{float(p):.10g}" for p in points]
    return "{" + ", ".join(shown) + "}"


def _removable(expr: sp.Expr, x: sp.Symbol, point: sp.Expr) -> bool:
    """Whether ``expr``'s one-sided limits at ``point`` are one finite number."""
    left, right = sp.limit(expr, x, point, "-"), sp.limit(expr, x, point, "+")
    return bool(left.is_finite and left == right)
