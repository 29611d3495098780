"""Torch's own activations, recognised in formulas: the one table of native equivalents and the matcher.

A formula, or a part of one, that is one of these functions of some argument (in SymPy's canonical form, as the
parser builds it) is computed by the native op, which is faster than the composed elementwise ops, above all on the
CPU. ``recognise`` finds such a part; the compiler's lowering calls it when asked for natives.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
import torch
import torch.nn.functional as F

from evoact.formula import X, parse, substitute
from evoact.ops import OPS, Operation, slope_function


@dataclass(frozen=True)
class Native:
    """A function torch has natively: its name in programs, its formulas in ``x`` (the forms of it SymPy does not
    bring to one canonical form), its torch callable, its source template and its C++ template for the CUDA kernels
    (``compiler/cuda.py``: in the stable form torch computes it in)."""

    name: str
    formulas: tuple[str, ...]
    torch: Callable[..., torch.Tensor]
    template: str
    cuda: str

    @functools.cached_property
    def expressions(self) -> tuple[sp.Expr, ...]:
        """The formulas parsed."""
        return tuple(parse(f) for f in self.formulas)

    @functools.cached_property
    def functions(self) -> frozenset[type]:
        """The SymPy functions its formulas all hold: an expression without one of them cannot be this native."""
        return frozenset.intersection(*map(_heads, self.expressions))


def _gelu_tanh(u: torch.Tensor) -> torch.Tensor:
    return F.gelu(u, approximate="tanh")


def _mish_slope(u: torch.Tensor) -> torch.Tensor:
    """Mish's derivative from ops whose own slopes are finite everywhere."""
    t = torch.tanh(torch.nn.functional.softplus(u))
    return t + u * torch.sigmoid(u) * (1 - t * t)


#: Torch's mish with torch's backward, and a second derivative that stays finite: torch's own is NaN for inputs above
#: about 100 in float32 (800 in float64).
_Mish = slope_function(torch.nn.functional.mish, _mish_slope, torch.ops.aten.mish_backward)


def _mish(u: torch.Tensor) -> torch.Tensor:
    """Torch's mish, through the stable form where it may be differentiated."""
    return _Mish.apply(u) if u.requires_grad and torch.is_grad_enabled() else torch.nn.functional.mish(u)


#: The stable Mish as source for a file that imports only torch and holds ``slope_function``'s source: ``_mish(u)``
#: there is ``_mish`` here.
STABLE_MISH = "\n\n".join(
    [
        inspect.getsource(_mish_slope),
        "_Mish = slope_function(torch.nn.functional.mish, _mish_slope, torch.ops.aten.mish_backward)\n",
        inspect.getsource(_mish),
    ]
)


def _op(name: str, formula: str) -> Native:
    """A native that is also an op of the op table: the lowering emits it already; listed for whole-formula use."""
    return Native(name, (formula,), OPS[name].torch, OPS[name].template, OPS[name].cuda)


_TABLE = (
    Native("relu", ("relu(x)",), F.relu, "torch.relu({0})", "(({0} > T(0) || {0} != {0}) ? {0} : T(0))"),
    Native(
        "relu6",
        ("Min(6, Max(0, x))", "Max(0, Min(6, x))"),
        F.relu6,
        "torch.nn.functional.relu6({0})",
        "({0} != {0} ? {0} : ({0} < T(0) ? T(0) : ({0} > T(6) ? T(6) : {0})))",
    ),
    Native(
        "hardtanh",
        ("Min(1, Max(-1, x))", "Max(-1, Min(1, x))"),
        F.hardtanh,
        "torch.nn.functional.hardtanh({0})",
        "({0} != {0} ? {0} : ({0} < T(-1) ? T(-1) : ({0} > T(1) ? T(1) : {0})))",
    ),
    Native(
        "elu",
        ("Max(0, x) + Min(0, exp(x) - 1)",),
        F.elu,
        "torch.nn.functional.elu({0})",
        "({0} > T(0) ? {0} : std::expm1({0}))",
    ),
    Native("silu", ("silu(x)",), F.silu, "torch.nn.functional.silu({0})", "({0} / (T(1) + std::exp(-{0})))"),
    Native(
        "gelu",
        ("gelu(x)",),
        F.gelu,
        "torch.nn.functional.gelu({0})",
        "(T(0.5) * {0} * (T(1) + std::erf({0} * T(0.7071067811865476))))",
    ),
    Native(
        "gelu_tanh",
        ("x/2*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))",),
        _gelu_tanh,
        "torch.nn.functional.gelu({0}, approximate='tanh')",
        "(T(0.5) * {0} * (T(1) + std::tanh(T(0.7978845608028654) * ({0} + T(0.044715) * {0} * {0} * {0}))))",
    ),
    Native(
        "mish",
        ("mish(x)",),
        _mish,
        "torch.nn.functional.mish({0})",
        "({0} * std::tanh({0} > T(20) ? {0} : std::log1p(std::exp({0}))))",
    ),
    Native(
        "logsigmoid",
        ("-softplus(-x)", "log(sigmoid(x))"),
        F.logsigmoid,
        "torch.nn.functional.logsigmoid({0})",
        "({0} < T(0) ? {0} - std::log1p(std::exp({0})) : -std::log1p(std::exp(-{0})))",
    ),
    _op("softplus", "softplus(x)"),
    _op("tanh", "tanh(x)"),
    _op("sigmoid", "sigmoid(x)"),
)

#: Name -> native, the op table's own activations (tanh, sigmoid, softplus) included.
NATIVES: dict[str, Native] = {n.name: n for n in _TABLE}
#: Every op a program can hold, by name: the op table's, then the natives it lacks.
PROGRAM_OPS: dict[str, Operation | Native] = {**OPS, **{n.name: n for n in _TABLE if n.name not in OPS}}
#: The natives a lowering looks for in subexpressions, largest formula first (SiLU before the sigmoid inside it).
_SOUGHT = sorted((n for n in _TABLE if n.name not in OPS), key=lambda n: -max(sp.count_ops(e) for e in n.expressions))
#: Where a match puts the native's value in what is left of the expression.
SLOT = sp.Dummy("native", real=True)


@dataclass(frozen=True)
class Match:
    """``expr`` = ``rest`` with ``SLOT`` standing for ``value``, the native applied to ``argument``."""

    native: Native
    argument: sp.Expr
    value: sp.Expr
    rest: sp.Expr


def recognise(expr: sp.Expr) -> Match | None:
    """The largest native (not one of the op table's) that ``expr`` is, or holds as a factor or as terms, of an
    argument in ``x``."""
    held = _heads(expr)
    for native in _SOUGHT:
        if not native.functions <= held:
            continue
        for form in native.expressions:
            for argument in _arguments(form, expr):
                value = substitute(form, {X: argument})
                if not native.functions <= _heads(value):  # Max(0, exp(u)) is exp(u): no native left to call
                    continue
                rest = _rest(expr, value)
                if rest is None or argument.could_extract_minus_sign() and rest.coeff(SLOT).could_extract_minus_sign():
                    continue  # -f(-u) is another function, as direct in the op table: softplus(u) = -logsigmoid(-u)
                if _far_scale(argument) or _far_scale(rest):
                    continue
                return Match(native, argument, value, rest)
    return None


#: The largest scale a native's match may put in and take out again: x*sigmoid(c*x) is silu(c*x)/c, which in float16
#: (its largest number 65,504, its smallest normal 6e-5) overflows from |x| = 65,504/c on (c = 500: at 131, where the
#: formula as written is finite) and loses digits near 0 for a small c, so such a formula is computed as written.
SCALE_LIMIT = 16


def _far_scale(expr: sp.Expr) -> bool:
    """Whether a number in ``expr`` lies beyond ``SCALE_LIMIT`` or within its inverse of 0."""
    return any(abs(n) > SCALE_LIMIT or 0 < abs(n) < 1 / SCALE_LIMIT for n in expr.atoms(sp.Number) if n.is_finite)


def _heads(expr: sp.Expr) -> frozenset[type]:
    """The functions ``expr`` applies (exp, tanh, Max...), sums, products and powers aside."""
    nodes = sp.preorder_traversal(expr)
    return frozenset(node.func for node in nodes if node.args and not (node.is_Add or node.is_Mul or node.is_Pow))


def _arguments(form: sp.Expr, expr: sp.Expr) -> set[sp.Expr]:
    """Candidate arguments: where ``form`` applies a function to ``c*x``, ``expr``'s argument there divided by ``c``."""
    slots = {
        (node.func, arg.as_independent(X, as_Add=False)[0])
        for node in sp.preorder_traversal(form)
        for arg in node.args
        if arg.as_independent(X, as_Add=False)[1] == X
    }
    return {
        arg / c
        for node in sp.preorder_traversal(expr)
        for func, c in slots
        if node.func == func
        for arg in node.args
        if X in arg.free_symbols
    }


def _rest(expr: sp.Expr, value: sp.Expr) -> sp.Expr | None:
    """``expr`` written with ``SLOT`` for ``value`` where ``value`` is all of it, a factor or a scaled set of terms."""
    if expr == value:
        return SLOT
    if expr.is_Mul:
        have, need = expr.as_powers_dict(), value.as_powers_dict()
        for base, power in need.items():
            if base.is_number and power.is_number:
                continue
            ratio = have.get(base, 0) / power
            if not (ratio.is_number and ratio >= 1):
                return None
        return SLOT * (expr / value)
    if expr.is_Add:
        have, need = expr.as_coefficients_dict(), value.as_coefficients_dict()
        first = next(iter(need))
        scale = have.get(first, 0) / need[first]
        if scale == 0 or any(have.get(term, 0) != scale * k for term, k in need.items()):
            return None
        return scale * SLOT + sp.Add(*(k * term for term, k in have.items() if term not in need))
    return None
