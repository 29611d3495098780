"""A formula's forward and backward as one CUDA kernel each, written at run time (torch.cuda.jiterator, NVRTC).

The symbolic mode runs one torch op per program step, each a pass over memory; on a GPU a formula with no native op
then costs several times a native activation (``bench/results/cuda_27.md``). Here the program becomes one C++ functor
(the ``cuda`` templates of the op table and of the natives, in torch's stable forms) that jiterator compiles once per
process and runs as one elementwise kernel: the forward one pass over memory; the backward one more, writing the
gradient by x and, per learnable constant, a tensor that one reduction then sums.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from evoact.compiler.lowering import CompileError, Program
from evoact.native import PROGRAM_OPS

#: jiterator takes at most 8 input tensors: ``x``, the incoming gradient and at most this many constants.
MAX_PARAMS = 6
#: The compute type's largest finite value (double's, or float's: the compute type of float, bfloat16 and half
#: tensors): the backward maps an infinite slope to it, as ``torch.nan_to_num`` does, and leaves a finite one as it is.
_FLOAT_MAX = "T(sizeof(T) == 8 ? 1.7976931348623157e308 : 3.4028234663852886e38)"
#: Every backward's first function: its slopes' guard for 0/0 at a measure-zero point (sin(x)/x at 0), NaN to 0 and
#: infinite to finite, except at a NaN input, whose slopes stay as computed (as autograd gives them).
GUARD = (
    "template <typename T> T evoact_finite(T s, T x) { return x != x ? s :"
    f" (s != s ? T(0) : (s > {_FLOAT_MAX} ? {_FLOAT_MAX} : (s < -{_FLOAT_MAX} ? -{_FLOAT_MAX} : s))); }}\n"
)


def _arg(a: str | float) -> str:
    if isinstance(a, str):
        return f"v_{a}"  # prefixed: a constant's name never meets a C++ keyword or the kernel template's names
    if not math.isfinite(a):
        raise CompileError(f"the number {a} has no CUDA form")
    return f"T({float(a)!r})"


def _body(program: Program) -> list[str]:
    lines = []
    for op in program.ops:
        template = PROGRAM_OPS[op.fn].cuda
        if not template:
            raise CompileError(f"{op.fn} has no CUDA form")
        lines.append(f"  T v_{op.target} = " + template.format(*map(_arg, op.args)) + ";")
    return lines


def forward_source(program: Program, params: Sequence[str], name: str) -> str:
    """C++ of a jiterator functor ``name(x, *params)`` returning the program's one output per element."""
    args = ", ".join(f"T v_{p}" for p in ("x", *params))
    return "\n".join(
        [f"template <typename T> T {name}({args}) {{", *_body(program), f"  return {_arg(program.output)};", "}"]
    )


def backward_source(program: Program, params: Sequence[str], name: str) -> str:
    """C++ of a jiterator functor ``name(x, grad, *params, out...)`` writing ``grad * slope`` for each of the program's
    outputs (the derivatives by ``x`` and by each constant), a NaN slope as 0 except at a NaN input (as the symbolic
    backward does)."""
    outs = [f"T& out{i}" for i in range(len(program.outputs))]
    args = ", ".join(["T v_x", "T evoact_grad", *(f"T v_{p}" for p in params), *outs])
    writes = [f"  out{i} = evoact_grad * evoact_finite({_arg(o)}, v_x);" for i, o in enumerate(program.outputs)]
    return GUARD + "\n".join([f"template <typename T> void {name}({args}) {{", *_body(program), *writes, "}"])


def kernels(
    forward: Program, backward: Program, tag: str
) -> tuple[Callable[..., torch.Tensor], Callable[..., list[torch.Tensor]]]:
    """The forward ``(x, *params) -> y`` and backward ``(x, grad, *params) -> [grad_x, *grad_params]`` as jiterator
    kernels (compiled at their first call on a CUDA tensor). ``tag`` names them apart in NVRTC's cache."""
    from torch.cuda import jiterator

    params = forward.params
    if len(params) > MAX_PARAMS:
        raise CompileError(f"a CUDA kernel takes at most {MAX_PARAMS} constants, the formula has {len(params)}")
    fwd_kernel = jiterator._create_jit_fn(forward_source(forward, params, f"evoact_fwd_{tag}"))
    bwd_kernel = jiterator._create_multi_output_jit_fn(
        backward_source(backward, params, f"evoact_bwd_{tag}"), num_outputs=len(backward.outputs)
    )

    def fwd(x: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        # the constants on x's device (jiterator takes no CPU scalars) and of its dtype (no casts in the kernel)
        return fwd_kernel(x, *(v.to(x.device, x.dtype) for v in values))

    def bwd(x: torch.Tensor, grad: torch.Tensor, *values: torch.Tensor) -> list[torch.Tensor]:
        out = bwd_kernel(x, grad, *(v.to(x.device, x.dtype) for v in values))
        out = [out] if isinstance(out, torch.Tensor) else list(out)
        return [out[0], *(g.sum() for g in out[1:])]

    return fwd, bwd
