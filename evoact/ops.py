"""The op vocabulary, in one table: every operation a formula, a compiled program or an exported file can hold.

Each entry carries its SymPy meaning, its torch callable, its source template, its branch of the screening
kernel and whether torch's ONNX exporter handles it. The parser's function names, the lowering's SymPy-class
map, the interpreter, the generated code, the kernel's op codes and the ONNX notes are all read from here.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp
import torch
import torch.nn.functional as F
from sympy.functions.elementary.miscellaneous import MinMaxBase, ShortCircuit

_INV_PI = 1.0 / math.pi


class Sigmoid(sp.Function):
    """``1/(1+exp(-u))`` as one function, so that derivatives stay in the stable form s*(1-s)."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return Sigmoid(self.args[0]) * (1 - Sigmoid(self.args[0]))

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real


class Softplus(sp.Function):
    """``log(1+exp(u))`` as one function, whose derivative is ``Sigmoid(u)``."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return Sigmoid(self.args[0])

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real


class SincSlope(sp.Function):
    """sinc's slope, ``(u*cos(u) - sin(u))/u**2``, as one function: written so, it cancels near 0 (float32 gives -5e14
    at u = 1e-20), so its op computes it from its series there."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        u = self.args[0]
        return -sp.sinc(u) - 2 * SincSlope(u) / u

    def _eval_is_extended_real(self) -> bool | None:
        return self.args[0].is_extended_real


class Sinc(sp.sinc):
    """SymPy's sinc, differentiated to ``SincSlope``: what ``compiler.derivative`` differentiates in its place."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return SincSlope(self.args[0])


#: Below this |u| sinc's slope is its series, ``SINC_TERMS`` terms of it, exact to 1e-13 of its value there; beyond
#: it the quotient ``(cos(u) - sin(u)/u)/u`` loses at most about 1e-7 of its value to cancellation in float32 (it is
#: never written with u**2, which overflows in float16 from 256).
SINC_SERIES = 1.0
#: The series' coefficients of u, u**3, ..., u**13: (-1)**k * 2k/(2k+1)!.
SINC_TERMS = tuple((-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(1, 8))


def _horner(t: str, u2: str, number: Callable[[float], str]) -> str:
    """The series of sinc's slope at ``t`` as source, with ``u2`` for t*t and ``number`` writing a coefficient."""
    inner = number(SINC_TERMS[-1])
    for c in reversed(SINC_TERMS[:-1]):
        inner = f"{number(c)} + {u2} * ({inner})"
    return f"{t} * ({inner})"


# Each branch is fed a stand-in where the other is taken (0 to the series, 1 to the quotient): neither is then infinite
# or 0/0, whose slope, times torch.where's zero, would be NaN in a second derivative.
_TORCH_SLOPE = (
    "(lambda u, t, s: torch.where(u.abs() < {limit}, {series}, (torch.cos(s) - torch.sin(s) / s) / s))"
    "({{0}}, torch.where({{0}}.abs() < {limit}, {{0}}, torch.zeros_like({{0}})),"
    " torch.where({{0}}.abs() < {limit}, torch.ones_like({{0}}), {{0}}))"
).format(limit=SINC_SERIES, series=_horner("t", "t * t", repr))
_JAX_SLOPE = (
    "(lambda u, t, s: _jnp.where(_jnp.abs(u) < {limit}, {series}, (_jnp.cos(s) - _jnp.sin(s) / s) / s))"
    "({{0}}, _jnp.where(_jnp.abs({{0}}) < {limit}, {{0}}, 0.0), _jnp.where(_jnp.abs({{0}}) < {limit}, 1.0, {{0}}))"
).format(limit=SINC_SERIES, series=_horner("t", "t * t", repr))
_CUDA_SLOPE = "(std::abs({{0}}) < T({limit}) ? {series} : (std::cos({{0}}) - std::sin({{0}}) / {{0}}) / {{0}})".format(
    limit=SINC_SERIES, series=_horner("{0}", "{0} * {0}", lambda c: f"T({c!r})")
)


#: sinc's slope, its series near 0 and the quotient elsewhere: ``_TORCH_SLOPE``, the source an exported file holds,
#: made a function of this process (from this module's own text, never from input).
_sinc_slope: Callable[[torch.Tensor], torch.Tensor] = eval(f"lambda u: {_TORCH_SLOPE.format('u')}", {"torch": torch})
_sinc_slope.__module__, _sinc_slope.__name__, _sinc_slope.__qualname__ = __name__, "_sinc_slope", "_sinc_slope"


def slope_function(  # quoted annotations: an exported file holds this source, and imports only torch
    value: "Callable[[torch.Tensor], torch.Tensor]",  # noqa: UP037
    slope: "Callable[[torch.Tensor], torch.Tensor]",  # noqa: UP037
    first: "Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None" = None,  # noqa: UP037
) -> "type[torch.autograd.Function]":  # noqa: UP037
    """An autograd Function computing ``value(u)`` whose slope is ``slope(u)``, written with ops whose own slopes are
    finite, so that a second derivative through it is ``slope``'s; ``first(grad, u)``: torch's own backward kernel,
    for a first derivative alone. Usable by ``torch.func`` (vmap, grad of grad) and forward-mode differentiation.
    Written with torch alone: an exported file holds this same source (``compiler/standalone.py``)."""

    class Stable(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(u: torch.Tensor) -> torch.Tensor:
            return value(u)

        @staticmethod
        def setup_context(ctx: torch.autograd.function.FunctionCtx, inputs: tuple, output: torch.Tensor) -> None:
            ctx.save_for_backward(*inputs)
            ctx.save_for_forward(*inputs)

        @staticmethod
        def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
            (u,) = ctx.saved_tensors  # type: ignore[attr-defined]
            if first is not None and not torch.is_grad_enabled():  # a first derivative only: torch's kernel
                return first(grad, u)
            return grad * slope(u)  # differentiated again (create_graph), or no kernel of torch's

        @staticmethod
        def jvp(ctx: torch.autograd.function.FunctionCtx, tangent: torch.Tensor) -> torch.Tensor:
            (u,) = ctx.saved_tensors  # type: ignore[attr-defined]
            return tangent * slope(u)

    return Stable


def _sinc_value(u: torch.Tensor) -> torch.Tensor:
    """sinc of u (sin(u)/u, 1 at 0); while torch exports to ONNX, in ops ONNX has (torch's exporter has no sinc)."""
    if not torch.jit.is_scripting():  # TorchScript cannot compile the check below (and exports no sinc of its own)
        if torch.onnx.is_in_onnx_export():
            one = torch.ones_like(u)
            safe = torch.where(u == 0, one, u)
            return torch.where(u == 0, one, torch.sin(safe) / safe)
    return torch.sinc(u * 0.3183098861837907)  # 1/pi (_INV_PI): TorchScript reads no module's floats


#: Torch's sinc of u (not of u/pi), whose slope is ``_sinc_slope``: torch's own backward cancels near 0, and a second
#: derivative goes through it.
_Sinc = slope_function(_sinc_value, _sinc_slope)


def _sinc(u: torch.Tensor) -> torch.Tensor:
    """sinc of u, with the stable slope where it may be differentiated."""
    return _Sinc.apply(u) if u.requires_grad and torch.is_grad_enabled() else _sinc_value(u)


#: The stable sinc as source for a file that imports only torch and holds ``slope_function``'s source: ``_sinc(u)``
#: there is ``_sinc`` here, its slope written from ``_TORCH_SLOPE``.
STABLE_SINC = "\n\n".join(
    [
        f"_INV_PI = {_INV_PI!r}\n",
        f"def _sinc_slope(u: torch.Tensor) -> torch.Tensor:\n    return {_TORCH_SLOPE.format('u')}\n",
        inspect.getsource(_sinc_value),
        "_Sinc = slope_function(_sinc_value, _sinc_slope)\n",
        inspect.getsource(_sinc),
    ]
)


#: The stable sinc as source for an exported JAX file (``jax`` as ``_jax``, ``jax.numpy`` as ``_jnp``): ``_sinc(u)``,
#: whose slope is ``_JAX_SLOPE`` (JAX's own slope of jnp.sinc cancels near 0: 2,300 times too large at 1e-5).
JAX_STABLE_SINC = "\n\n".join(
    [
        f"@_jax.custom_jvp\ndef _sinc(u):\n    return _jnp.sinc(u * {_INV_PI!r})\n",
        "@_sinc.defjvp\ndef _sinc_jvp(primals, tangents):\n    (u,), (du,) = primals, tangents\n"
        f"    return _sinc(u), {_JAX_SLOPE.format('u')} * du\n",
    ]
)


def sigmoid(u: sp.Expr) -> sp.Expr:
    """Logistic sigmoid in SymPy's own vocabulary, so that it simplifies and differentiates."""
    return 1 / (1 + sp.exp(-u))


def softplus(u: sp.Expr) -> sp.Expr:
    """``log(1 + exp(u))`` in SymPy's own vocabulary."""
    return sp.log(1 + sp.exp(u))


_LATTICE: dict[tuple[type[MinMaxBase], frozenset], sp.Expr] = {}
_LATTICE_SIZE = 1 << 15


def _lattice(cls: type[MinMaxBase], *args: Any) -> sp.Expr:
    """``Max`` or ``Min`` of ``args`` with SymPy's cheap simplifications only, remembered by argument set.

    SymPy's own ``Max`` compares every pair of arguments through its assumptions and factoring, the costliest step
    of building a formula (milliseconds each). Here: nested ones flatten, numbers reduce to one, an argument whose
    sign shows it cannot win goes, and of two arguments that differ by a number the losing one goes; anything subtler
    stays (a functional duplicate is still found by its fingerprint). The same ones are built again and again: a
    child keeps most of its parent, and screening reads back the formula text the algorithm printed.
    """
    key = (cls, frozenset(map(sp.sympify, args)))
    out = _LATTICE.get(key)
    if out is None:
        if len(_LATTICE) >= _LATTICE_SIZE:
            _LATTICE.clear()
        out = _LATTICE[key] = _simplified(cls, key[1])
        if isinstance(out, cls):  # what its printed form is read back as
            _LATTICE[(cls, frozenset(out.args))] = out
    return out


def _simplified(cls: type[MinMaxBase], args: frozenset) -> sp.Expr:
    try:
        args = cls._collapse_arguments(frozenset(cls._new_args_filter(args)))
    except ShortCircuit:
        return cls.zero
    big = cls is sp.Max

    def beats(difference: sp.Expr) -> bool:
        """Whether ``a`` wins over ``b``, given the number ``a - b``."""
        decided = difference >= 0 if big else difference <= 0
        if decided not in (sp.true, sp.false):  # a gap below SymPy's working precision (tanh(127) - 1 is -2e-110)
            gap = difference.evalf(1000)
            decided = (gap >= 0 if big else gap <= 0) if gap.is_Float else sp.true  # none seen at 1000 digits: a tie
        return bool(decided)

    kept: list[sp.Expr] = []
    for a in (a for a in args if not a.is_comparable):
        gaps = [(b, a - b) for b in kept]
        if any(gap.is_comparable and beats(-gap) for _, gap in gaps):
            continue
        kept = [b for b, gap in gaps if not (gap.is_comparable and beats(gap))] + [a]
    numbers = [a for a in args if a.is_comparable]
    if numbers:
        best = numbers[0]
        for n in numbers[1:]:
            best = n if beats(n - best) else best
        wins_over_zero = (lambda a: a.is_extended_nonnegative) if big else (lambda a: a.is_extended_nonpositive)
        loses_to_zero = (lambda a: a.is_extended_nonpositive) if big else (lambda a: a.is_extended_nonnegative)
        if beats(-best) and any(wins_over_zero(a) for a in kept):  # a >= 0 >= best (for Max)
            numbers = []
        else:
            numbers = [best]
            if beats(best):  # best >= 0 >= a (for Max)
                kept = [a for a in kept if not loses_to_zero(a)]
    out = frozenset(kept + numbers)
    if not out:
        return cls.identity
    return next(iter(out)) if len(out) == 1 else cls(*out, evaluate=False)


def maximum(*args: Any) -> sp.Expr:
    """SymPy's ``Max``, remembered."""
    return _lattice(sp.Max, *args)


def minimum(*args: Any) -> sp.Expr:
    """SymPy's ``Min``, remembered."""
    return _lattice(sp.Min, *args)


@dataclass(frozen=True)
class Operation:
    """One operation: how programs name it, compute it, print it, screen it and export it.

    ``arity``: its arguments in a program. ``sympy``: the SymPy function class the lowering turns into this op (None
    for ops it emits from the shape of an expression: sums, products, powers, constants). ``formula``: the op's name in
    formulas, built by ``build`` (default: ``sympy``) from ``arity`` arguments, or two or more when ``variadic``.
    ``kernel``: the op code of its branch in ``screening/kernel.py``; codes are fixed, so a new op takes a new code.
    """

    name: str
    arity: int
    torch: Callable[..., torch.Tensor]
    template: str
    kernel: int
    onnx: bool = True
    sympy: Any = None
    formula: str | None = None
    build: Callable[..., sp.Expr] | None = None
    variadic: bool = False
    jax: str = ""  # its source template for the JAX export, over the modules ``_jax`` and ``_jnp`` (jax.numpy)
    #: its C++ template for the CUDA kernels of ``compiler/cuda.py`` (NVRTC): arguments and result of the compute
    #: type ``T``, as torch computes it (float for bfloat16 and half tensors)
    cuda: str = ""


def _heaviside(u: torch.Tensor) -> torch.Tensor:
    """Heaviside with H(0) = 1/2 from comparisons: differentiable (zero slope), so double backward works."""
    return (u > 0).to(u.dtype) + (u == 0).to(u.dtype) * 0.5


_TABLE = (
    Operation("add", 2, torch.add, "{0} + {1}", 0, jax="{0} + {1}", cuda="({0} + {1})"),
    Operation("sub", 2, torch.sub, "{0} - {1}", 1, jax="{0} - {1}", cuda="({0} - {1})"),
    Operation("mul", 2, torch.mul, "{0} * {1}", 2, jax="{0} * {1}", cuda="({0} * {1})"),
    Operation("div", 2, torch.div, "{0} / {1}", 3, jax="{0} / {1}", cuda="({0} / {1})"),
    Operation("neg", 1, torch.neg, "-{0}", 4, jax="-{0}", cuda="(-{0})"),
    Operation(
        "reciprocal", 1, torch.reciprocal, "torch.reciprocal({0})", 5, jax="_jnp.reciprocal({0})", cuda="(T(1) / {0})"
    ),
    Operation("square", 1, torch.square, "torch.square({0})", 6, jax="_jnp.square({0})", cuda="({0} * {0})"),
    Operation(
        "sqrt",
        1,
        torch.sqrt,
        "torch.sqrt({0})",
        7,
        formula="sqrt",
        build=sp.sqrt,
        jax="_jnp.sqrt({0})",
        cuda="std::sqrt({0})",
    ),
    Operation(
        "rsqrt", 1, torch.rsqrt, "torch.rsqrt({0})", 8, jax="_jax.lax.rsqrt({0})", cuda="(T(1) / std::sqrt({0}))"
    ),
    Operation("pow", 2, torch.pow, "torch.pow({0}, {1})", 9, jax="_jnp.power({0}, {1})", cuda="std::pow({0}, {1})"),
    Operation(
        "exp",
        1,
        torch.exp,
        "torch.exp({0})",
        10,
        sympy=sp.exp,
        formula="exp",
        jax="_jnp.exp({0})",
        cuda="std::exp({0})",
    ),
    Operation(
        "log",
        1,
        torch.log,
        "torch.log({0})",
        11,
        sympy=sp.log,
        formula="log",
        jax="_jnp.log({0})",
        cuda="std::log({0})",
    ),
    Operation(
        "sin",
        1,
        torch.sin,
        "torch.sin({0})",
        12,
        sympy=sp.sin,
        formula="sin",
        jax="_jnp.sin({0})",
        cuda="std::sin({0})",
    ),
    Operation(
        "cos",
        1,
        torch.cos,
        "torch.cos({0})",
        13,
        sympy=sp.cos,
        formula="cos",
        jax="_jnp.cos({0})",
        cuda="std::cos({0})",
    ),
    Operation(
        "tan",
        1,
        torch.tan,
        "torch.tan({0})",
        14,
        sympy=sp.tan,
        formula="tan",
        jax="_jnp.tan({0})",
        cuda="std::tan({0})",
    ),
    Operation(
        "sinh",
        1,
        torch.sinh,
        "torch.sinh({0})",
        15,
        onnx=False,
        sympy=sp.sinh,
        formula="sinh",
        jax="_jnp.sinh({0})",
        cuda="std::sinh({0})",
    ),
    Operation(
        "cosh",
        1,
        torch.cosh,
        "torch.cosh({0})",
        16,
        onnx=False,
        sympy=sp.cosh,
        formula="cosh",
        jax="_jnp.cosh({0})",
        cuda="std::cosh({0})",
    ),
    Operation(
        "tanh",
        1,
        torch.tanh,
        "torch.tanh({0})",
        17,
        sympy=sp.tanh,
        formula="tanh",
        jax="_jnp.tanh({0})",
        cuda="std::tanh({0})",
    ),
    Operation(
        "asinh",
        1,
        torch.asinh,
        "torch.asinh({0})",
        18,
        onnx=False,
        sympy=sp.asinh,
        formula="asinh",
        jax="_jnp.arcsinh({0})",
        cuda="std::asinh({0})",
    ),
    Operation(
        "atan",
        1,
        torch.atan,
        "torch.atan({0})",
        19,
        sympy=sp.atan,
        formula="atan",
        jax="_jnp.arctan({0})",
        cuda="std::atan({0})",
    ),
    Operation(
        "erf",
        1,
        torch.erf,
        "torch.erf({0})",
        20,
        sympy=sp.erf,
        formula="erf",
        jax="_jax.scipy.special.erf({0})",
        cuda="std::erf({0})",
    ),
    Operation(
        "erfc",
        1,
        torch.erfc,
        "torch.erfc({0})",
        21,
        onnx=False,
        sympy=sp.erfc,
        formula="erfc",
        jax="_jax.scipy.special.erfc({0})",
        cuda="std::erfc({0})",
    ),
    Operation(
        "abs",
        1,
        torch.abs,
        "torch.abs({0})",
        22,
        sympy=sp.Abs,
        formula="Abs",
        jax="_jnp.abs({0})",
        cuda="std::fabs({0})",
    ),
    Operation(
        "sign",
        1,
        torch.sign,
        "torch.sign({0})",
        23,
        sympy=sp.sign,
        formula="sign",
        jax="_jnp.sign({0})",
        cuda="T(({0} > T(0)) - ({0} < T(0)))",
    ),
    Operation(
        "sigmoid",
        1,
        torch.sigmoid,
        "torch.sigmoid({0})",
        24,
        sympy=Sigmoid,
        formula="sigmoid",
        build=sigmoid,
        jax="_jax.nn.sigmoid({0})",
        cuda="(T(1) / (T(1) + std::exp(-{0})))",
    ),
    Operation(
        "softplus",
        1,
        F.softplus,
        "torch.nn.functional.softplus({0})",
        25,
        sympy=Softplus,
        formula="softplus",
        build=softplus,
        jax="_jax.nn.softplus({0})",
        cuda="({0} > T(20) ? {0} : std::log1p(std::exp({0})))",
    ),
    Operation(
        "sinc",
        1,
        _sinc,
        "torch.sinc({0} * " + repr(_INV_PI) + ")",
        26,
        sympy=sp.sinc,
        formula="sinc",
        jax="_jnp.sinc({0} * " + repr(_INV_PI) + ")",
        cuda="({0} == T(0) ? T(1) : std::sin({0}) / {0})",
    ),
    Operation(
        "sinc_slope",  # in backward programs only: no formula names it
        1,
        _sinc_slope,
        _TORCH_SLOPE,
        34,
        onnx=False,
        sympy=SincSlope,
        jax=_JAX_SLOPE,
        cuda=_CUDA_SLOPE,
    ),
    Operation(
        "heaviside",
        1,
        _heaviside,
        "(({0} > 0).to({0}.dtype) + ({0} == 0).to({0}.dtype) * 0.5)",
        27,
        sympy=sp.Heaviside,
        formula="Heaviside",
        build=lambda u: sp.Heaviside(u, sp.S.Half),
        jax="_jnp.heaviside({0}, 0.5)",
        cuda="({0} > T(0) ? T(1) : ({0} == T(0) ? T(0.5) : T(0)))",
    ),
    Operation(
        "maximum",
        2,
        torch.maximum,
        "torch.maximum({0}, {1})",
        28,
        sympy=sp.Max,
        formula="Max",
        variadic=True,
        build=maximum,
        jax="_jnp.maximum({0}, {1})",
        cuda="(({0} > {1} || {0} != {0}) ? {0} : {1})",
    ),
    Operation(
        "minimum",
        2,
        torch.minimum,
        "torch.minimum({0}, {1})",
        29,
        sympy=sp.Min,
        formula="Min",
        variadic=True,
        build=minimum,
        jax="_jnp.minimum({0}, {1})",
        cuda="(({0} < {1} || {0} != {0}) ? {0} : {1})",
    ),
    Operation(
        "clamp_min",
        2,
        torch.clamp_min,
        "torch.clamp_min({0}, {1})",
        30,
        jax="_jnp.maximum({0}, {1})",
        cuda="(({0} > {1} || {0} != {0}) ? {0} : {1})",
    ),
    Operation(
        "clamp_max",
        2,
        torch.clamp_max,
        "torch.clamp_max({0}, {1})",
        31,
        jax="_jnp.minimum({0}, {1})",
        cuda="(({0} < {1} || {0} != {0}) ? {0} : {1})",
    ),
    Operation(
        "full_like", 2, torch.full_like, "torch.full_like({0}, {1})", 32, jax="_jnp.full_like({0}, {1})", cuda="{1}"
    ),
    Operation(
        "broadcast",
        2,
        lambda x, p: torch.zeros_like(x) + p,
        "torch.zeros_like({0}) + {1}",
        33,
        jax="_jnp.zeros_like({0}) + {1}",
        cuda="{1}",
    ),
)

#: Op name -> its entry.
OPS: dict[str, Operation] = {op.name: op for op in _TABLE}
#: The kernel's op code of every op.
KERNEL_CODES: dict[str, int] = {op.name: op.kernel for op in _TABLE}
#: SymPy function class -> the op the lowering turns it into.
BY_SYMPY_CLASS: dict[Any, str] = {op.sympy: op.name for op in _TABLE if op.sympy is not None}
#: Ops torch's ONNX exporter (torch 2.13, TorchScript-based, opset 20) cannot export; measured in tests.
ONNX_UNSUPPORTED: tuple[str, ...] = tuple(op.name for op in _TABLE if not op.onnx)
