"""Compile SymPy activations to torch: lower an expression to a straight-line op program, then run it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

import sympy as sp
import torch
import torch.nn.functional as F
from torch import nn

from evoact.formula import parse, to_formula

Arg = Union[str, float]
_INV_PI = 1.0 / math.pi


class CompileError(ValueError):
    """An expression uses something evoact cannot turn into torch code."""


#: Op name -> (torch callable, Python source template). Templates are filled with argument names
#: or float literals only, so exported code is built from the op table, never from input text.
OPS: dict[str, tuple[Callable, str]] = {
    "add": (torch.add, "{0} + {1}"),
    "sub": (torch.sub, "{0} - {1}"),
    "mul": (torch.mul, "{0} * {1}"),
    "div": (torch.div, "{0} / {1}"),
    "neg": (torch.neg, "-{0}"),
    "reciprocal": (torch.reciprocal, "torch.reciprocal({0})"),
    "square": (torch.square, "torch.square({0})"),
    "sqrt": (torch.sqrt, "torch.sqrt({0})"),
    "rsqrt": (torch.rsqrt, "torch.rsqrt({0})"),
    "pow": (torch.pow, "torch.pow({0}, {1})"),
    "exp": (torch.exp, "torch.exp({0})"),
    "log": (torch.log, "torch.log({0})"),
    "sin": (torch.sin, "torch.sin({0})"),
    "cos": (torch.cos, "torch.cos({0})"),
    "tan": (torch.tan, "torch.tan({0})"),
    "sinh": (torch.sinh, "torch.sinh({0})"),
    "cosh": (torch.cosh, "torch.cosh({0})"),
    "tanh": (torch.tanh, "torch.tanh({0})"),
    "asinh": (torch.asinh, "torch.asinh({0})"),
    "atan": (torch.atan, "torch.atan({0})"),
    "erf": (torch.erf, "torch.erf({0})"),
    "erfc": (torch.erfc, "torch.erfc({0})"),
    "abs": (torch.abs, "torch.abs({0})"),
    "sign": (torch.sign, "torch.sign({0})"),
    "sigmoid": (torch.sigmoid, "torch.sigmoid({0})"),
    "softplus": (F.softplus, "torch.nn.functional.softplus({0})"),
    "sinc": (lambda u: torch.sinc(u * _INV_PI), "torch.sinc({0} * " + repr(_INV_PI) + ")"),
    "heaviside": (lambda u: torch.heaviside(u, torch.full_like(u, 0.5)), "torch.heaviside({0}, torch.full_like({0}, 0.5))"),
    "maximum": (torch.maximum, "torch.maximum({0}, {1})"),
    "minimum": (torch.minimum, "torch.minimum({0}, {1})"),
    "clamp_min": (torch.clamp_min, "torch.clamp_min({0}, {1})"),
    "clamp_max": (torch.clamp_max, "torch.clamp_max({0}, {1})"),
    "full_like": (torch.full_like, "torch.full_like({0}, {1})"),
    "broadcast": (lambda x, p: torch.zeros_like(x) + p, "torch.zeros_like({0}) + {1}"),
}

_UNARY_FUNCS = {
    sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.sinh: "sinh", sp.cosh: "cosh", sp.tanh: "tanh",
    sp.asinh: "asinh", sp.atan: "atan", sp.erf: "erf", sp.erfc: "erfc", sp.Abs: "abs", sp.sign: "sign",
    sp.sinc: "sinc", sp.exp: "exp",
}


@dataclass(frozen=True)
class Op:
    """One step of a program: ``target = OPS[fn](*args)``."""

    target: str
    fn: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Program:
    """A straight-line torch program computing an activation from ``x`` and learnable constants."""

    formula: str
    params: tuple[str, ...]
    ops: tuple[Op, ...]
    output: str


def lower(expr: sp.Expr) -> Program:
    """Turn an expression into a program; shared subexpressions are computed once."""
    return _Lowering().run(expr)


class _Lowering:
    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.memo: dict[sp.Expr, Arg] = {}

    def run(self, expr: sp.Expr) -> Program:
        x = sp.Symbol("x", real=True)
        params = tuple(sorted(s.name for s in expr.free_symbols if s.name != "x"))
        out = self.value(expr)
        if isinstance(out, float):
            out = self.emit("full_like", "x", out)
        elif x not in expr.free_symbols:
            out = self.emit("broadcast", "x", out)
        return Program(to_formula(expr), params, tuple(self.ops), out)

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
        if e.is_Add:
            return self.add(e)
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if e.func == sp.log:
            inner = e.args[0]
            if inner.is_Add and len(inner.args) == 2 and sp.S.One in inner.args:
                other = inner.args[0] if inner.args[1] == 1 else inner.args[1]
                if other.func == sp.exp:
                    return self.emit("softplus", self.value(other.args[0]))
            return self.emit("log", self.value(inner))
        if e.func in (sp.Max, sp.Min):
            return self.extremum(e)
        if e.func == sp.Heaviside:
            return self.emit("heaviside", self.value(e.args[0]))
        if e.func in _UNARY_FUNCS:
            return self.emit(_UNARY_FUNCS[e.func], self.value(e.args[0]))
        raise CompileError(f"cannot compile {e.func.__name__} in {to_formula(e)}")

    def add(self, e: sp.Expr) -> Arg:
        const = sum(float(self.value(t)) for t in e.args if not t.free_symbols)
        parts = sorted((t for t in e.args if t.free_symbols), key=lambda t: t.could_extract_minus_sign())
        acc = self.value(parts[0])
        for term in parts[1:]:
            acc = self.emit("sub", acc, self.value(-term)) if term.could_extract_minus_sign() else self.emit("add", acc, self.value(term))
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
        for factor in num:
            acc = self.value(factor) if acc is None else self.emit("mul", acc, self.value(factor))
        if den:
            d = self.value(sp.Mul(*den))
            acc = self.emit("reciprocal", d) if acc is None else self.emit("div", acc, d)
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


def _sigmoid_arg(e: sp.Expr) -> sp.Expr | None:
    """``u`` when ``e`` is ``1/(1 + exp(-u))``, else None."""
    if e.is_Pow and e.exp == -1 and e.base.is_Add and len(e.base.args) == 2 and sp.S.One in e.base.args:
        other = e.base.args[0] if e.base.args[1] == 1 else e.base.args[1]
        if other.func == sp.exp:
            return -other.args[0]
    return None


def run_program(program: Program, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Execute a program on a tensor of any shape."""
    env: dict[str, torch.Tensor] = {"x": x, **params}
    for op in program.ops:
        env[op.target] = OPS[op.fn][0](*[env[a] if isinstance(a, str) else a for a in op.args])
    return env[program.output]


def program_source(program: Program) -> list[str]:
    """Python source lines (assignments, then ``return``) computing the program with torch."""
    lines = [f"{op.target} = " + OPS[op.fn][1].format(*[a if isinstance(a, str) else repr(a) for a in op.args]) for op in program.ops]
    return lines + [f"return {program.output}"]


class CompiledActivation(nn.Module):
    """An activation compiled from a formula; learnable constants are ``nn.Parameter``s."""

    def __init__(self, program: Program, init: dict[str, float] | None = None) -> None:
        super().__init__()
        self.program = program
        init = init or {}
        self.params = nn.ParameterDict({p: nn.Parameter(torch.tensor(float(init.get(p, 1.0)))) for p in program.params})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_program(self.program, x, dict(self.params.items()))

    def extra_repr(self) -> str:
        return self.program.formula


def compile_activation(formula_or_expr: str | sp.Expr, params: dict[str, float] | None = None) -> CompiledActivation:
    """Compile a formula (parsed safely) or a SymPy expression into a torch activation module."""
    expr = parse(formula_or_expr) if isinstance(formula_or_expr, str) else formula_or_expr
    return CompiledActivation(lower(expr), params)
