"""Formulas as text: a safe parser (never ``eval``/``sympify``) and the canonical formula string."""

from __future__ import annotations

import math
import re
from typing import Callable

import sympy as sp

from evoact.primitives import X, sigmoid, softplus, symbol

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_NODES = 400
MAX_LITERAL = 1e6
MAX_EXPONENT = 64


class FormulaError(ValueError):
    """A formula string cannot be parsed; the message names the position and the problem."""


def _gelu(u: sp.Expr) -> sp.Expr:
    return u * (1 + sp.erf(u / sp.sqrt(2))) / 2


#: Function names the parser accepts, with their arity and SymPy meaning (aliases included).
FUNCTIONS: dict[str, tuple[int, Callable[..., sp.Expr]]] = {
    "exp": (1, sp.exp), "log": (1, sp.log), "sqrt": (1, sp.sqrt),
    "sin": (1, sp.sin), "cos": (1, sp.cos), "tan": (1, sp.tan),
    "sinh": (1, sp.sinh), "cosh": (1, sp.cosh), "tanh": (1, sp.tanh),
    "asinh": (1, sp.asinh), "atan": (1, sp.atan), "erf": (1, sp.erf), "erfc": (1, sp.erfc),
    "sinc": (1, sp.sinc), "sign": (1, sp.sign), "Heaviside": (1, lambda u: sp.Heaviside(u, sp.S.Half)),
    "Abs": (1, sp.Abs), "abs": (1, sp.Abs),
    "Max": (-2, sp.Max), "max": (-2, sp.Max), "Min": (-2, sp.Min), "min": (-2, sp.Min),
    "sigmoid": (1, sigmoid), "softplus": (1, softplus), "relu": (1, lambda u: sp.Max(u, 0)),
    "silu": (1, lambda u: u * sigmoid(u)), "swish": (1, lambda u: u * sigmoid(u)),
    "gelu": (1, _gelu), "mish": (1, lambda u: u * sp.tanh(softplus(u))),
}
_CONSTANTS = {"E": sp.E, "pi": sp.pi}
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/^(),]))")


def to_formula(expr: sp.Expr) -> str:
    """The canonical formula string of an expression (SymPy's term ordering; constants stay exact)."""
    return sp.sstr(expr)


def parse(text: str, learnable: tuple[str, ...] | None = None) -> sp.Expr:
    """Parse a formula in ``x`` (and learnable constants) into a SymPy expression, with size limits.

    ``learnable`` limits which other names are allowed; ``None`` accepts any lowercase identifier.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    return _Parser(text, learnable).parse()


class _Parser:
    def __init__(self, text: str, learnable: tuple[str, ...] | None) -> None:
        self.text, self.learnable = text, learnable
        self.tokens: list[tuple[str, str, int]] = []
        pos, end = 0, len(text.rstrip())
        while pos < end:
            m = _TOKEN.match(text, pos)
            if not m:
                bad = text[pos:].lstrip()[:1]
                raise FormulaError(f"position {len(text) - len(text[pos:].lstrip())}: unexpected character {bad!r}")
            kind = "num" if m.group(1) else "name" if m.group(2) else "op"
            self.tokens.append((kind, m.group(m.lastindex), m.start(m.lastindex)))
            pos = m.end()
        self.i = 0
        self.depth = 0
        self.nodes = 0

    def parse(self) -> sp.Expr:
        if not self.tokens:
            raise FormulaError("empty formula")
        expr = self.expr()
        if self.i < len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.i][1]!r}")
        if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise FormulaError("formula has an infinite or undefined constant part")
        return expr

    def error(self, problem: str) -> FormulaError:
        pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return FormulaError(f"position {pos}: {problem}")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str) -> None:
        if self.peek() != expected:
            raise self.error(f"expected {expected!r}" + (f", found {self.peek()!r}" if self.peek() else " before the end"))
        self.i += 1

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"formula has more than {MAX_NODES} nodes")

    def expr(self) -> sp.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")
        result = self.term()
        while self.peek() in ("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            self.count()
            rhs = self.term()
            result = result + rhs if op == "+" else result - rhs
        self.depth -= 1
        return result

    def term(self) -> sp.Expr:
        result = self.unary()
        while self.peek() in ("*", "/"):
            op = self.tokens[self.i][1]
            self.i += 1
            self.count()
            rhs = self.unary()
            result = result * rhs if op == "*" else result / rhs
        return result

    def unary(self) -> sp.Expr:
        if self.peek() in ("-", "+"):
            op = self.tokens[self.i][1]
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")
            operand = self.unary()
            self.depth -= 1
            return -operand if op == "-" else operand
        return self.power()

    def power(self) -> sp.Expr:
        base = self.atom()
        if self.peek() in ("**", "^"):
            self.i += 1
            self.count()
            exponent = self.unary()
            return self.pow(base, exponent)
        return base

    def pow(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_number and (not exponent.is_real or abs(float(exponent)) > MAX_EXPONENT):
            raise self.error(f"exponent {to_formula(exponent)} is outside [-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        if base.is_number and exponent.is_number:
            value = float(base) ** float(exponent) if float(base) > 0 else None
            if value is None or not math.isfinite(value) or abs(value) > MAX_LITERAL**2:
                raise self.error("a constant power is too large, negative-based or undefined")
        return base**exponent

    def atom(self) -> sp.Expr:
        if self.i >= len(self.tokens):
            raise self.error("formula ends too early")
        kind, value, _ = self.tokens[self.i]
        self.count()
        if kind == "num":
            self.i += 1
            number = float(value)
            if not math.isfinite(number) or abs(number) > MAX_LITERAL:
                raise self.error(f"number {value} is larger than {MAX_LITERAL:g}")
            return sp.Rational(value)
        if value == "(":
            self.i += 1
            inner = self.expr()
            self.take(")")
            return inner
        if kind != "name":
            raise self.error(f"unexpected {value!r}")
        self.i += 1
        if self.peek() == "(":
            return self.call(value)
        if value == "x":
            return X
        if value in _CONSTANTS:
            return _CONSTANTS[value]
        if value in FUNCTIONS:
            raise self.error(f"function {value!r} needs arguments in parentheses")
        self.i -= 1
        allowed = self.learnable is None and value.islower() and not value.startswith("_") or (self.learnable is not None and value in self.learnable)
        if not allowed:
            raise self.error(f"unknown name {value!r}; a formula uses x, learnable constants and known functions")
        self.i += 1
        return symbol(value)

    def call(self, name: str) -> sp.Expr:
        if name not in FUNCTIONS:
            self.i -= 1
            raise self.error(f"unknown function {name!r}")
        arity, build = FUNCTIONS[name]
        self.take("(")
        args = [self.expr()]
        while self.peek() == ",":
            self.i += 1
            args.append(self.expr())
        self.take(")")
        if (arity > 0 and len(args) != arity) or (arity < 0 and len(args) < -arity):
            raise self.error(f"{name} takes {arity if arity > 0 else f'at least {-arity}'} argument(s), got {len(args)}")
        return build(*args)
