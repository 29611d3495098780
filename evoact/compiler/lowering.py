"""Lower SymPy expressions to straight-line programs of torch ops (shared subexpressions computed once)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from evoact.formula import constant_names, to_formula
from evoact.native import NATIVES, SLOT, recognise
from evoact.ops import BY_SYMPY_CLASS, Sigmoid, Softplus

Arg = str | float


class CompileError(ValueError):
    """An expression uses something evoact cannot turn into torch code."""


@dataclass(frozen=True)
class Op:
    """One step of a program: ``target = PROGRAM_OPS[fn](*args)`` (the op table's ops and the natives)."""

    target: str
    fn: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Program:
    """A straight-line torch program computing one or more outputs from ``x`` and learnable constants."""

    formula: str
    params: tuple[str, ...]
    ops: tuple[Op, ...]
    outputs: tuple[str, ...]

    @property
    def output(self) -> str:
        """The first (for an activation, the only) output."""
        return self.outputs[0]

    @property
    def native(self) -> bool:
        """Whether the program is one native activation with only sums and multiples by numbers around it: autograd
        then records the native op alone, differentiates it as torch does and saves only the tensor torch saves."""
        return (
            not self.params
            and sum(op.fn in NATIVES for op in self.ops) == 1
            and all(
                op.fn in NATIVES or op.fn in ("add", "sub", "neg") or (op.fn == "mul" and float in map(type, op.args))
                for op in self.ops
            )
        )


@lru_cache(maxsize=4096)
def lower(expr: sp.Expr, natives: bool = False) -> Program:
    """Turn an expression into a single-output program (remembered: a search lowers a proposal to judge it, then to
    screen it). With ``natives``, parts that are torch's own activations (``evoact.native``) become their native ops:
    for torch modules; the screening kernel knows the op table's ops only. For torch modules ``sin(u)/u`` is computed
    as ``sinc(u)`` too: 1 at u = 0, where the quotient as written is 0/0."""
    written = expr.replace(lambda e: _sinc_form(e) is not None, _sinc_form) if natives else expr
    return lower_many([written], expr, natives)


def lower_many(exprs: list[sp.Expr], of: sp.Expr, natives: bool = False) -> Program:
    """One program computing several expressions (e.g. a function's derivatives) with shared subexpressions.

    ``of`` is the activation they belong to: it names the program and fixes its parameters.
    """
    return _Lowering(natives).run(exprs, of)


class _Lowering:
    def __init__(self, natives: bool) -> None:
        self.natives = natives
        self.ops: list[Op] = []
        self.memo: dict[sp.Expr, Arg] = {}

    def run(self, exprs: list[sp.Expr], of: sp.Expr) -> Program:
        x = sp.Symbol("x", real=True)
        params = constant_names(of)
        outputs = []
        for expr in exprs:
            out = self.value(expr)
            if isinstance(out, float):
                out = self.emit("full_like", "x", out)
            elif x not in expr.free_symbols:
                out = self.emit("broadcast", "x", out)
            outputs.append(out)
        return Program(to_formula(of), params, tuple(self.ops), tuple(outputs))

    def emit(self, fn: str, *args: Arg) -> str:
        name = f"t{len(self.ops)}"
        self.ops.append(Op(name, fn, args))
        return name

    def value(self, e: sp.Expr) -> Arg:
        if not e.free_symbols:
            try:
                c = float(e)
            except (TypeError, ValueError, OverflowError):
                raise CompileError(f"constant {to_formula(e)} is not a real number") from None
            if not math.isfinite(c):
                raise CompileError(f"constant {to_formula(e)} is not finite")
            return c
        if e.is_Symbol:
            return e.name
        if e not in self.memo:
            self.memo[e] = self.node(e)
        return self.memo[e]

    def node(self, e: sp.Expr) -> Arg:
        if self.natives and (match := recognise(e)) is not None:
            if match.value not in self.memo:
                self.memo[match.value] = self.emit(match.native.name, self.value(match.argument))
            return self.value(match.rest.xreplace({SLOT: sp.Symbol(str(self.memo[match.value]), real=True)}))
        if e.is_Add:
            return self.add(e)
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if (inner := _softplus_arg(e)) is not None:
            return self.emit("softplus", self.value(inner))
        if e.func in (sp.Max, sp.Min):
            return self.extremum(e)
        if e.func in BY_SYMPY_CLASS:  # Heaviside's second argument is its value at 0, fixed to 1/2 by the op
            return self.emit(BY_SYMPY_CLASS[e.func], self.value(e.args[0]))
        raise CompileError(f"cannot compile {e.func.__name__} in {to_formula(e)}")

    def partial(self, key: sp.Expr, fn: str, a: Arg, b: Arg) -> Arg:
        """A partial sum or product, memoized like any subexpression so that programs share it."""
        if key not in self.memo:
            self.memo[key] = self.emit(fn, a, b)
        return self.memo[key]

    def add(self, e: sp.Expr) -> Arg:
        const = sum(float(self.value(t)) for t in e.args if not t.free_symbols)
        parts = sorted((t for t in e.args if t.free_symbols), key=lambda t: t.could_extract_minus_sign())
        acc = self.value(parts[0])
        for k, term in enumerate(parts[1:], 2):
            minus = term.could_extract_minus_sign()
            acc = self.partial(sp.Add(*parts[:k]), "sub" if minus else "add", acc, self.value(-term if minus else term))
        return self.emit("add", acc, const) if const != 0 else acc

    def mul(self, e: sp.Expr) -> Arg:
        coeff = math.prod(float(self.value(f)) for f in e.args if not f.free_symbols)
        num, den = [], []
        for factor in (f for f in e.args if f.free_symbols):
            if factor.is_Pow and factor.exp.is_number and factor.exp.is_negative and _sigmoid_arg(factor) is None:
                den.append(factor.base ** (-factor.exp))
            else:
                num.append(factor)
        acc: Arg | None = None
        for k, factor in enumerate(num):
            acc = (
                self.value(factor)
                if acc is None
                else self.partial(sp.Mul(*num[: k + 1]), "mul", acc, self.value(factor))
            )
        if den:
            d = self.value(sp.Mul(*den))
            acc = self.emit("reciprocal", d) if acc is None else self.emit("div", acc, d)
        assert acc is not None  # a product with free symbols has a factor that holds them
        if coeff == -1:
            return self.emit("neg", acc)
        return self.emit("mul", acc, coeff) if coeff != 1 else acc

    def pow(self, base: sp.Expr, exp: sp.Expr) -> Arg:
        sig = _sigmoid_arg(sp.Pow(base, exp, evaluate=False))
        if sig is not None:
            return self.emit("sigmoid", self.value(sig))
        if not base.free_symbols:
            return self.emit("exp", self.value(exp * sp.log(base)))
        b = self.value(base)
        if exp.is_number:
            special = {2: "square", sp.S.Half: "sqrt", -sp.S.Half: "rsqrt", -1: "reciprocal"}
            for k, fn in special.items():
                if exp == k:
                    return self.emit(fn, b)
            return self.emit("pow", b, float(exp))
        return self.emit("pow", b, self.value(exp))

    def extremum(self, e: sp.Expr) -> Arg:
        consts = [float(a) for a in e.args if not a.free_symbols]
        tensors = [self.value(a) for a in e.args if a.free_symbols]
        is_max = e.func == sp.Max
        acc = tensors[0]
        for t in tensors[1:]:
            acc = self.emit("maximum" if is_max else "minimum", acc, t)
        if consts:
            acc = self.emit("clamp_min" if is_max else "clamp_max", acc, max(consts) if is_max else min(consts))
        return acc


def stable_form(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every sigmoid and softplus pattern written as ``Sigmoid``/``Softplus`` functions, and ``sin(u)/u``
    as ``sinc(u)``, whose slope does not cancel near 0 as the quotient's does."""
    expr = expr.replace(lambda e: e.free_symbols and _sigmoid_arg(e) is not None, lambda e: Sigmoid(_sigmoid_arg(e)))
    expr = expr.replace(lambda e: e.free_symbols and _softplus_arg(e) is not None, lambda e: Softplus(_softplus_arg(e)))
    return expr.replace(lambda e: _sinc_form(e) is not None, _sinc_form)


def _sinc_form(e: sp.Expr) -> sp.Expr | None:
    """``sinc(u)*k`` when ``e`` is ``sin(u)*k/u`` and ``u`` divides ``e`` only there (``sin(x)/x``, ``sin(3*x)/(3*x)``,
    ``2*sin(beta*x)/(beta*x)``), else None."""
    if not e.is_Mul:
        return None
    for factor in e.args:
        if factor.func == sp.sin and factor.args[0].free_symbols:
            u = factor.args[0]
            rest = sp.Mul(*[f for f in e.args if f is not factor])
            if _divided_by(rest, u) and not _divided_by(k := rest * u, u):
                return sp.sinc(u) * k
    return None


def _divided_by(e: sp.Expr, u: sp.Expr) -> bool:
    """Whether a factor of ``e`` divides by something in ``u``'s symbols."""
    return any(f.is_Pow and f.exp.is_negative and f.base.free_symbols & u.free_symbols for f in sp.Mul.make_args(e))


def _softplus_arg(e: sp.Expr) -> sp.Expr | None:
    """``u`` when ``e`` is ``log(1 + exp(u))``, else None."""
    if e.func == sp.log and e.args[0].is_Add and len(e.args[0].args) == 2 and sp.S.One in e.args[0].args:
        other = e.args[0].args[0] if e.args[0].args[1] == 1 else e.args[0].args[1]
        if other.func == sp.exp:
            return other.args[0]
    return None


def _sigmoid_arg(e: sp.Expr) -> sp.Expr | None:
    """``u`` when ``e`` is ``1/(1 + exp(-u))``, else None."""
    if e.is_Pow and e.exp == -1 and e.base.is_Add and len(e.base.args) == 2 and sp.S.One in e.base.args:
        other = e.base.args[0] if e.base.args[1] == 1 else e.base.args[1]
        if other.func == sp.exp:
            return -other.args[0]
    return None
