"""The primitive vocabulary: every unary and binary building block a search space may name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

#: The protection constant of ``log(|x| + eps)`` and ``x1 / (x2 + eps)``.
EPS = sp.Rational(1, 1000)
#: The learnable constant that primitives such as ``scale`` (``beta*x``) refer to.
BETA = "beta"

X = sp.Symbol("x", real=True)


def symbol(name: str) -> sp.Symbol:
    """Return the real SymPy symbol used for the input ``x`` or a learnable constant."""
    return sp.Symbol(name, real=True)


def sigmoid(u: sp.Expr) -> sp.Expr:
    """Logistic sigmoid in SymPy's own vocabulary, so that it simplifies and differentiates."""
    return 1 / (1 + sp.exp(-u))


def softplus(u: sp.Expr) -> sp.Expr:
    """``log(1 + exp(u))`` in SymPy's own vocabulary."""
    return sp.log(1 + sp.exp(u))


@dataclass(frozen=True)
class Primitive:
    """One building block: its name in search-space files, arity, SymPy builder and meaning."""

    name: str
    arity: int
    build: Callable[..., sp.Expr]
    meaning: str
    needs_beta: bool = False


def _b() -> sp.Symbol:
    return symbol(BETA)


_UNARY = [
    Primitive("identity", 1, lambda u: u, "x"),
    Primitive("neg", 1, lambda u: -u, "-x"),
    Primitive("abs", 1, sp.Abs, "|x|"),
    Primitive("square", 1, lambda u: u**2, "x^2"),
    Primitive("cube", 1, lambda u: u**3, "x^3"),
    Primitive("sqrt", 1, lambda u: sp.sqrt(sp.Abs(u)), "sqrt(|x|), protected square root"),
    Primitive("scale", 1, lambda u: _b() * u, "beta*x", needs_beta=True),
    Primitive("shift", 1, lambda u: u + _b(), "x + beta", needs_beta=True),
    Primitive("log", 1, lambda u: sp.log(sp.Abs(u) + EPS), "log(|x| + eps), protected logarithm"),
    Primitive("exp", 1, sp.exp, "exp(x)"),
    Primitive("sin", 1, sp.sin, "sin(x)"),
    Primitive("cos", 1, sp.cos, "cos(x)"),
    Primitive("sinh", 1, sp.sinh, "sinh(x)"),
    Primitive("cosh", 1, sp.cosh, "cosh(x)"),
    Primitive("tanh", 1, sp.tanh, "tanh(x)"),
    Primitive("asinh", 1, sp.asinh, "asinh(x)"),
    Primitive("atan", 1, sp.atan, "atan(x)"),
    Primitive("sinc", 1, sp.sinc, "sin(x)/x"),
    Primitive("relu", 1, lambda u: sp.Max(u, 0), "max(x, 0)"),
    Primitive("min0", 1, lambda u: sp.Min(u, 0), "min(x, 0)"),
    Primitive("sigmoid", 1, sigmoid, "1/(1 + exp(-x))"),
    Primitive("softplus", 1, softplus, "log(1 + exp(x))"),
    Primitive("gauss", 1, lambda u: sp.exp(-(u**2)), "exp(-x^2)"),
    Primitive("erf", 1, sp.erf, "erf(x)"),
    Primitive("erfc", 1, sp.erfc, "1 - erf(x)"),
    Primitive("softsign", 1, lambda u: u / (1 + sp.Abs(u)), "x/(1 + |x|)"),
]

_BINARY = [
    Primitive("add", 2, lambda a, b: a + b, "x1 + x2"),
    Primitive("mul", 2, lambda a, b: a * b, "x1 * x2"),
    Primitive("sub", 2, lambda a, b: a - b, "x1 - x2"),
    Primitive("div", 2, lambda a, b: a / (b + EPS), "x1/(x2 + eps), protected division"),
    Primitive("max", 2, sp.Max, "max(x1, x2)"),
    Primitive("min", 2, sp.Min, "min(x1, x2)"),
    Primitive("sigmul", 2, lambda a, b: sigmoid(a) * b, "sigmoid(x1) * x2"),
    Primitive("gauss_diff", 2, lambda a, b: sp.exp(-_b() * (a - b) ** 2), "exp(-beta*(x1 - x2)^2)", True),
    Primitive("laplace_diff", 2, lambda a, b: sp.exp(-_b() * sp.Abs(a - b)), "exp(-beta*|x1 - x2|)", True),
    Primitive("mix", 2, lambda a, b: _b() * a + (1 - _b()) * b, "beta*x1 + (1 - beta)*x2", True),
]

#: Every primitive by name.
PRIMITIVES: dict[str, Primitive] = {p.name: p for p in _UNARY + _BINARY}
UNARY_NAMES = tuple(p.name for p in _UNARY)
BINARY_NAMES = tuple(p.name for p in _BINARY)
