"""Formulas as text: a safe parser (never ``eval``/``sympify``) and the canonical formula string."""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache

import sympy as sp
import torch

from evoact.ops import OPS, maximum, sigmoid, softplus
from evoact.records import MAX_LAYERS

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_NODES = 400
MAX_EXPONENT = 64
MAX_DECIMAL_EXPONENT = 30
MAX_CONSTANT = 10.0**MAX_DECIMAL_EXPONENT  # a written number is 0 or within 1e-30 .. 1e30; a computed one at most 1e30
MAX_DIGITS = 30  # significant digits of a written number (exact rationals from floats need 17)
MAX_ARGS = 8  # arguments of Max and Min (SymPy compares them pairwise: their derivative grows fast)
MAX_TOWER = 3  # powers whose exponent depends on x, stacked in one chain (x**x**x**x is 3)


class FormulaError(ValueError):
    """A formula string cannot be parsed; the message names the position and the problem."""


def _gelu(u: sp.Expr) -> sp.Expr:
    return u * (1 + sp.erf(u / sp.sqrt(2))) / 2


#: Function names the parser accepts, with their arity (-2: two or more) and SymPy meaning: every op of the op table
#: that has a name in formulas, and aliases built from those.
FUNCTIONS: dict[str, tuple[int, Callable[..., sp.Expr]]] = {
    op.formula: (-2 if op.variadic else op.arity, op.build or op.sympy) for op in OPS.values() if op.formula
}
FUNCTIONS |= {
    "abs": FUNCTIONS["Abs"],
    "max": FUNCTIONS["Max"],
    "min": FUNCTIONS["Min"],
    "relu": (1, lambda u: maximum(u, 0)),
    "silu": (1, lambda u: u * sigmoid(u)),
    "swish": (1, lambda u: u * sigmoid(u)),
    "gelu": (1, _gelu),
    "mish": (1, lambda u: u * sp.tanh(softplus(u))),
}
_CONSTANTS = {"E": sp.E, "e": sp.E, "pi": sp.pi}  # e is Euler's number, as in maths, never a learnable constant
_NOT_NUMBERS = {"nan", "inf", "infinity", "oo", "zoo"}
# A constant becomes an attribute of an nn.Module and an argument in generated code, so it can never be a name that
# code uses: the input, torch, Python's builtins, nn.Module's attributes and the modules' own (temporaries t0, t1...).
_RESERVED = {
    "x",
    "torch",
    "self",
    "math",
    "F",
    "nn",
    "fused",
    "mode",
    "program",
    "backward_program",
    "params",
    "inplace",
    *FUNCTIONS,
    *_CONSTANTS,
    *_NOT_NUMBERS,
    *dir(builtins),
    *dir(torch.nn.Module()),
    *dir(torch.nn.ParameterDict()),  # where a module keeps its constants, by name: keys, values, items...
}
_TOKEN = re.compile(
    r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/^(),]))"
)


#: The input of every formula.
X = sp.Symbol("x", real=True)


def symbol(name: str) -> sp.Symbol:
    """The real SymPy symbol of the input ``x`` or of a learnable constant."""
    return sp.Symbol(name, real=True)


def constant_names(expr: sp.Expr) -> tuple[str, ...]:
    """The learnable constants of ``expr``: its free names other than x, sorted. Programs, derivatives and modules
    take the constants in this order."""
    return tuple(sorted(s.name for s in expr.free_symbols if s.name != "x"))


_REBUILT = {op.sympy: op.build for op in OPS.values() if op.variadic and op.build}  # Max, Min: SymPy class -> builder


def substitute(expr: sp.Expr, mapping: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """``expr`` with symbols replaced, built as the parser builds it (SymPy's ``xreplace`` rebuilds ``Max`` and
    ``Min`` from scratch; the op table's builders remember them)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [substitute(arg, mapping) for arg in expr.args]
    return _REBUILT.get(expr.func, expr.func)(*args)


def as_expression(formula: str | sp.Expr) -> sp.Expr:
    """A formula parsed (safely), or an expression already parsed, with its names made evoact's real symbols (one
    built with ``sp.Symbol("x")`` differentiated to 0 against them): parse a text once and pass the result on."""
    if isinstance(formula, str):
        return parse(formula)
    if not isinstance(formula, sp.Basic):
        return formula  # the caller names what it needed
    ours = {s: symbol(s.name) for s in formula.free_symbols if isinstance(s, sp.Symbol) and s != symbol(s.name)}
    return formula.xreplace(ours) if ours else formula


@lru_cache(maxsize=4096)
def to_formula(expr: sp.Expr) -> str:
    """The canonical formula string of an expression (SymPy's term ordering; constants stay exact); remembered, as a
    search prints the same expression to name it, to check it and to lower it."""
    return sp.sstr(expr)


#: Where a learnable constant starts when nothing sets it.
DEFAULT_CONSTANT = 1.0


def constant_values(expr: sp.Expr, params: dict[str, float] | None = None) -> dict[str, float]:
    """Each learnable constant of ``expr``, in name order, with its value from ``params`` (``DEFAULT_CONSTANT`` where
    not given)."""
    return {name: float((params or {}).get(name, DEFAULT_CONSTANT)) for name in constant_names(expr)}


def unknown_constant(expr: sp.Expr, params: Mapping[str, float]) -> str | None:
    """``name: the formula has no constant 'name' (its constants: ...)`` for the first of ``params``' names that is
    not a constant of ``expr`` (a typo would otherwise leave the constant at its default, silently), else None."""
    names = constant_names(expr)
    for name in params:
        if name not in names:
            return f"{name}: the formula has no constant {name!r}" + (
                f" (its constants: {', '.join(names)})" if names else " (it has no learnable constants)"
            )
    return None


def constant_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a learnable constant, or None when it can."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return "a constant's name is lowercase letters, digits and '_', starting with a letter"
    if name in _RESERVED or keyword.iskeyword(name) or keyword.issoftkeyword(name) or re.fullmatch(r"t\d+", name):
        return (
            f"{name!r} cannot name a constant: it is reserved (x, a function name, a Python keyword or builtin, an"
            " attribute of torch's nn.Module, or a name generated code uses)"
        )
    return None


def is_constant_name(name: str) -> bool:
    """Whether ``name`` may name a learnable constant (``constant_name_problem`` says why not)."""
    return constant_name_problem(name) is None


def parse(text: str, learnable: tuple[str, ...] | None = None) -> sp.Expr:
    """Parse a formula in ``x`` (and learnable constants) into a SymPy expression, with size limits.

    ``learnable`` limits which other names are allowed; ``None`` accepts any name ``is_constant_name`` allows.
    Never evaluates the text: a hand-written recursive-descent parser builds the expression.
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    expr = _Parser(text, learnable).parse()
    canonical = to_formula(expr)
    if canonical != text.strip():  # what is accepted is stored and exported as its canonical form: that must parse too
        try:
            if len(canonical) > MAX_LENGTH:
                raise FormulaError(f"it is {len(canonical)} characters long; the limit is {MAX_LENGTH}")
            _Parser(canonical, learnable).parse()
        except FormulaError as exc:
            raise FormulaError(
                f"its canonical form {canonical[:60]}{'...' if len(canonical) > 60 else ''} is refused: {exc}"
            ) from None
    if (height := _tower(expr, {})) > MAX_TOWER:
        raise FormulaError(f"formula stacks {height} powers with exponents in x; the limit is {MAX_TOWER}")
    return expr


def check_params(params: dict[str, float] | None) -> dict[str, float]:
    """Constant values as finite floats of magnitude at most ``MAX_CONSTANT``; a ``FormulaError`` names any other."""
    if params is not None and not isinstance(params, Mapping):
        raise FormulaError(f"constants must map names to numbers ({{'beta': 1.0}}), not a {type(params).__name__}")
    out = {}
    for name, value in (params or {}).items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormulaError(f"constant {name!r} = {value!r}: a constant's value must be a number")
        if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > MAX_CONSTANT:
            raise FormulaError(
                f"constant {name} = {value}: must be a finite number of magnitude at most {MAX_CONSTANT:g}"
            )
        out[name] = float(value)
    return out


def check_learned(learned: object, names: tuple[str, ...]) -> dict[str, list[float]]:
    """A run's learned values (constant -> one value per layer) for ``names``, checked: finite numbers, at most
    ``MAX_LAYERS`` each; a ``FormulaError`` says what else was found. Stored values come from files, so never
    trusted."""
    if not isinstance(learned, Mapping):
        raise FormulaError(f"learned values must map constant names to lists of numbers, got {type(learned).__name__}")
    out = {}
    for name in names:
        values = learned.get(name)
        if values is None:
            continue
        if not isinstance(values, (list, tuple)) or len(values) > MAX_LAYERS:
            raise FormulaError(f"learned values of {name} must be a list of at most {MAX_LAYERS} numbers")
        out[name] = [check_params({name: v})[name] for v in values]
    return out


def _tower(expr: sp.Expr, seen: dict) -> int:
    """How many powers with x in the exponent are stacked in ``expr``'s deepest chain (``exp`` is not counted: its
    towers merely overflow, and the symbolic steps on them are bounded in time)."""
    if expr in seen:
        return seen[expr]
    below = max((_tower(a, seen) for a in expr.args), default=0)
    exponent = expr.exp if isinstance(expr, sp.Pow) else None
    seen[expr] = height = below + (exponent is not None and X in exponent.free_symbols)
    return height


class _Parser:
    """Recursive descent over tokens. Every recursion passes through ``unary``, which bounds the depth."""

    def __init__(self, text: str, learnable: tuple[str, ...] | None) -> None:
        self.text, self.learnable = text, learnable
        self.tokens: list[tuple[str, str, int]] = []
        pos, end = 0, len(text.rstrip())
        while pos < end:
            m = _TOKEN.match(text, pos)
            if not m:
                at = len(text) - len(text[pos:].lstrip())
                raise FormulaError(f"position {at}: unexpected character {text[at]!r}")
            kind = "num" if m.group(1) else "name" if m.group(2) else "op"
            assert m.lastindex is not None  # every token alternative is a group
            self.tokens.append((kind, m.group(m.lastindex), m.start(m.lastindex)))
            pos = m.end()
        self.i = self.depth = self.nodes = 0

    def parse(self) -> sp.Expr:
        if not self.tokens:
            raise FormulaError("empty formula")
        expr = self.expr()
        if self.i < len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.i][1]!r}")
        return expr

    def error(self, problem: str) -> FormulaError:
        pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return FormulaError(f"position {pos}: {problem}")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str) -> None:
        if self.peek() != expected:
            raise self.error(
                f"expected {expected!r}" + (f", found {self.peek()!r}" if self.peek() else " before the end")
            )
        self.i += 1

    def node(self, expr: sp.Expr) -> sp.Expr:
        """Count a node and keep constant parts finite and small, so later numeric evaluation is cheap."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"formula has more than {MAX_NODES} nodes")
        if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise self.error("this part is infinite or undefined (division by zero?)")
        if expr.free_symbols:
            return expr
        try:
            value = complex(expr)
        except (TypeError, ValueError, OverflowError):
            raise self.error(f"constant {to_formula(expr)} cannot be evaluated") from None
        if value.imag != 0 or not math.isfinite(value.real) or abs(value.real) > MAX_CONSTANT:
            raise self.error(f"constant {to_formula(expr)} is not a real number of magnitude at most {MAX_CONSTANT:g}")
        return expr

    def expr(self) -> sp.Expr:
        result = self.term()
        while self.peek() in ("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.term()
            result = self.node(result + rhs if op == "+" else result - rhs)
        return result

    def term(self) -> sp.Expr:
        result = self.unary()
        while self.peek() in ("*", "/"):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.unary()
            result = self.node(result * rhs if op == "*" else result / rhs)
        return result

    def unary(self) -> sp.Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")
        if self.peek() in ("-", "+"):
            op = self.tokens[self.i][1]
            self.i += 1
            operand = self.unary()
            result = self.node(-operand) if op == "-" else operand
        else:
            result = self.power()
        self.depth -= 1
        return result

    def power(self) -> sp.Expr:
        base = self.atom()
        if self.peek() not in ("**", "^"):
            return base
        self.i += 1
        exponent = self.unary()
        if exponent.is_number and abs(float(exponent)) > MAX_EXPONENT:
            raise self.error(f"exponent {to_formula(exponent)} is outside [-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        if (
            base.is_number
            and exponent.is_number
            and (float(base) < 0 and not exponent.is_integer or float(base) == 0 and float(exponent) < 0)
        ):
            raise self.error(f"({to_formula(base)})**({to_formula(exponent)}) is not a real number")
        if base.is_number and float(base) == 0 and not exponent.is_number:
            raise self.error(f"0**({to_formula(exponent)}) is infinite wherever its exponent is negative")
        if base.is_number and float(base) < 0 and not exponent.is_number:
            raise self.error(
                f"({to_formula(base)})**({to_formula(exponent)}) is not a real number wherever its exponent is not an"
                " integer"
            )
        return self.node(base**exponent)

    def atom(self) -> sp.Expr:
        if self.i >= len(self.tokens):
            raise self.error("formula ends too early")
        kind, value, _ = self.tokens[self.i]
        if kind == "num":
            mantissa, _, written_exponent = value.lower().partition("e")
            digits = mantissa.replace(".", "").lstrip("0")
            if len(digits.rstrip("0")) > MAX_DIGITS:
                raise self.error(f"number {value[:40]} has more than {MAX_DIGITS} significant digits")
            if len(written_exponent.lstrip("+-").lstrip("0")) > 2:
                raise self.error(
                    f"number {value[:40]} is "
                    + (
                        f"smaller than 1e-{MAX_DECIMAL_EXPONENT}"
                        if written_exponent.startswith("-")
                        else f"larger than {MAX_CONSTANT:g}"
                    )
                )
            number = float(value)
            if not math.isfinite(number) or abs(number) > MAX_CONSTANT:
                raise self.error(f"number {value[:40]} is larger than {MAX_CONSTANT:g}")
            if number and not 10.0**-MAX_DECIMAL_EXPONENT <= abs(number):
                raise self.error(f"number {value[:40]} is smaller than 1e-{MAX_DECIMAL_EXPONENT}")
            self.i += 1
            return self.node(sp.Rational(value))
        if value == "(":
            self.i += 1
            inner = self.expr()
            self.take(")")
            return inner
        if kind != "name":
            raise self.error(f"unexpected {value!r}")
        if self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][1] == "(":
            return self.call(value)
        if value in FUNCTIONS:
            raise self.error(f"function {value!r} needs arguments in parentheses")
        if value.lower() in _NOT_NUMBERS:
            raise self.error(f"{value!r} is not allowed: a formula holds finite real numbers only")
        allowed = (
            value == "x"
            or value in _CONSTANTS
            or (is_constant_name(value) if self.learnable is None else value in self.learnable)
        )
        if not allowed:
            reserved = (
                self.learnable is None and re.fullmatch(r"[a-z][a-z0-9_]*", value) and constant_name_problem(value)
            )
            raise self.error(
                f"unknown name {value!r}; " + (reserved or "a formula uses x, learnable constants and known functions")
            )
        self.i += 1
        return self.node(X if value == "x" else _CONSTANTS.get(value) or symbol(value))

    def call(self, name: str) -> sp.Expr:
        if name not in FUNCTIONS:
            raise self.error(f"unknown function {name!r}")
        arity, build = FUNCTIONS[name]
        self.i += 1
        self.take("(")
        args = [self.expr()]
        while self.peek() == ",":
            self.i += 1
            args.append(self.expr())
        self.take(")")
        if (arity > 0 and len(args) != arity) or (arity < 0 and len(args) < -arity):
            raise self.error(
                f"{name} takes {arity if arity > 0 else f'at least {-arity}'} argument(s), got {len(args)}"
            )
        if len(args) > MAX_ARGS:
            raise self.error(f"{name} has {len(args)} arguments; the limit is {MAX_ARGS}")
        return self.node(build(*args))
