"""The search-space vocabulary: every unary and binary building block a space may name, as a formula.

A primitive is a formula of ``u`` (unary) or ``u1`` and ``u2`` (binary) in the formula language (``docs/FORMULAS.md``),
read by the safe parser, whose other names are the learnable constants it uses. Adding one is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from evoact.formula import X, constant_names, parse, substitute, symbol

__all__ = ["BINARY_NAMES", "PRIMITIVES", "Primitive", "UNARY_NAMES", "X"]

_ARGUMENTS = {1: ("u",), 2: ("u1", "u2")}


@dataclass(frozen=True)
class Primitive:
    """One building block: its name in search-space files, arity, formula and what it means."""

    name: str
    arity: int
    formula: str
    meaning: str
    expr: sp.Expr = field(init=False, repr=False, compare=False)
    constants: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        expr = parse(self.formula)
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "constants", tuple(n for n in constant_names(expr) if n not in _ARGUMENTS[self.arity]))

    def build(self, *args: sp.Expr) -> sp.Expr:
        """The primitive applied to SymPy expressions."""
        return substitute(self.expr, {symbol(name): arg for name, arg in zip(_ARGUMENTS[self.arity], args)})


_UNARY = [
    Primitive("identity", 1, "u", "x"),
    Primitive("neg", 1, "-u", "-x"),
    Primitive("abs", 1, "Abs(u)", "|x|"),
    Primitive("square", 1, "u**2", "x^2"),
    Primitive("cube", 1, "u**3", "x^3"),
    Primitive("sqrt", 1, "sqrt(Abs(u))", "sqrt(|x|), protected square root"),
    Primitive("scale", 1, "beta*u", "beta*x"),
    Primitive("shift", 1, "u + beta", "x + beta"),
    Primitive("log", 1, "log(Abs(u) + 1/1000)", "log(|x| + eps), protected logarithm"),
    Primitive("exp", 1, "exp(u)", "exp(x)"),
    Primitive("sin", 1, "sin(u)", "sin(x)"),
    Primitive("cos", 1, "cos(u)", "cos(x)"),
    Primitive("sinh", 1, "sinh(u)", "sinh(x)"),
    Primitive("cosh", 1, "cosh(u)", "cosh(x)"),
    Primitive("tanh", 1, "tanh(u)", "tanh(x)"),
    Primitive("asinh", 1, "asinh(u)", "asinh(x)"),
    Primitive("atan", 1, "atan(u)", "atan(x)"),
    Primitive("sinc", 1, "sinc(u)", "sin(x)/x"),
    Primitive("relu", 1, "Max(u, 0)", "max(x, 0)"),
    Primitive("min0", 1, "Min(u, 0)", "min(x, 0)"),
    Primitive("sigmoid", 1, "sigmoid(u)", "1/(1 + exp(-x))"),
    Primitive("softplus", 1, "softplus(u)", "log(1 + exp(x))"),
    Primitive("gauss", 1, "exp(-u**2)", "exp(-x^2)"),
    Primitive("erf", 1, "erf(u)", "erf(x)"),
    Primitive("erfc", 1, "erfc(u)", "1 - erf(x)"),
    Primitive("softsign", 1, "u/(1 + Abs(u))", "x/(1 + |x|)"),
    Primitive("snake", 1, "u + sin(alpha*u)**2/alpha", "x + sin(alpha*x)^2/alpha, Snake (Ziyin et al. 2020)"),
    Primitive(
        "numerator5",
        1,
        "a0 + a1*u + a2*u**2 + a3*u**3 + a4*u**4 + a5*u**5",
        "a0 + a1*x + ... + a5*x^5: a PAU's numerator, every coefficient learnable",
    ),
    Primitive(
        "denominator4",
        1,
        "b1*u + b2*u**2 + b3*u**3 + b4*u**4",
        "b1*x + ... + b4*x^4: a PAU's denominator polynomial (without its 1), every coefficient learnable",
    ),
]

_BINARY = [
    Primitive("add", 2, "u1 + u2", "x1 + x2"),
    Primitive("mul", 2, "u1*u2", "x1 * x2"),
    Primitive("sub", 2, "u1 - u2", "x1 - x2"),
    Primitive(
        "div", 2, "u1/(u2 + 1/1000)", "x1/(x2 + eps), eps = 1/1000: the paper's division, with a pole at x2 = -eps"
    ),
    Primitive("max", 2, "Max(u1, u2)", "max(x1, x2)"),
    Primitive("min", 2, "Min(u1, u2)", "min(x1, x2)"),
    Primitive("sigmul", 2, "sigmoid(u1)*u2", "sigmoid(x1) * x2"),
    Primitive("gauss_diff", 2, "exp(-beta*(u1 - u2)**2)", "exp(-beta*(x1 - x2)^2)"),
    Primitive("laplace_diff", 2, "exp(-beta*Abs(u1 - u2))", "exp(-beta*|x1 - x2|)"),
    Primitive("mix", 2, "beta*u1 + (1 - beta)*u2", "beta*x1 + (1 - beta)*x2"),
    Primitive("rdiv", 2, "u1/(1 + Abs(u2))", "x1/(1 + |x2|), safe rational division (a PAU's denominator)"),
]

#: Every primitive by name.
PRIMITIVES: dict[str, Primitive] = {p.name: p for p in _UNARY + _BINARY}
UNARY_NAMES = tuple(p.name for p in _UNARY)
BINARY_NAMES = tuple(p.name for p in _BINARY)
