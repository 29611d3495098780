"""A compiled activation's autograd Function: its backward multiplies symbolic slopes computed from the saved input
alone, and mends a slope the ops give as NaN by a central difference of the function.

Written with torch alone and quoted annotations: an exported file holds these functions' source
(``compiler/standalone.py``), so that the module evoact compiles and the file it exports differentiate alike.
"""

from collections.abc import Callable

import torch

#: A central difference's step where a symbolic slope is NaN, relative to the point's size: the cube root of
#: float64's machine epsilon.
DIFFERENCE_STEP = 6.06e-6


def _finite(slope: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":  # noqa: UP037
    """``slope`` with NaN as 0 and infinities as float's largest, except at a NaN input: there as computed, as
    autograd gives it (NaN where the slope depends on the input, so a NaN reaching the activation shows in the
    gradients it touches; a constant's slope that does not, such as ``beta``'s in ``sin(x)/x + beta``, as it is)."""
    return torch.where(torch.isnan(x), slope, torch.nan_to_num(slope, nan=0.0))


def _bounded(slope: "torch.Tensor", x: "torch.Tensor") -> "torch.Tensor":  # noqa: UP037
    """``slope`` with infinities as float's largest (as ``_finite`` gives them), NaN kept for mending: an infinite
    slope was inf or float's largest by whether another element of the batch needed mending."""
    return torch.where(torch.isnan(x), slope, torch.nan_to_num(slope, nan=float("nan")))


def _gradients(grad: "torch.Tensor", slopes: "list[torch.Tensor]") -> "list[torch.Tensor]":  # noqa: UP037
    """The input's gradient, then each constant's (summed over the elements)."""
    grads = [grad * s for s in slopes]
    return [grads[0]] + [g.sum() for g in grads[1:]]


def plain_backward(slopes: "Callable[..., list[torch.Tensor]]") -> "Callable[..., list[torch.Tensor]]":  # noqa: UP037
    """The backward ``(x, grad, keep, *params)`` from ``slopes(x, *params)`` (of the input, then of each constant):
    with ``keep`` NaN slopes stay, for ``autograd_function`` to mend; otherwise they count as 0 (0/0 at a
    measure-zero point, as sin(x)/x's at 0, must not poison the gradient where the forward is finite)."""

    def backward(
        x: "torch.Tensor",  # noqa: UP037
        grad: "torch.Tensor",  # noqa: UP037
        keep: bool,
        *params: "torch.Tensor",  # noqa: UP037
    ) -> "list[torch.Tensor]":  # noqa: UP037
        if keep:
            return _gradients(grad, [_bounded(s, x) for s in slopes(x, *params)])
        return _gradients(grad, [_finite(s, x) for s in slopes(x, *params)])

    return backward


def _mended_backward(
    value: "Callable[..., torch.Tensor]",  # noqa: UP037
    slopes: "Callable[..., list[torch.Tensor]]",  # noqa: UP037
    x: "torch.Tensor",  # noqa: UP037
    grad: "torch.Tensor",  # noqa: UP037
    *params: "torch.Tensor",  # noqa: UP037
) -> "list[torch.Tensor]":  # noqa: UP037
    """The backward where a slope is NaN: a factor overflowing against one that underflows (x*tanh(exp(x)) above
    x = 88 in float32: exp(x)*(1 - tanh(...)**2) is inf*0), or 0/0 (sin(x)/x at 0). Such a slope is a central
    difference of ``value`` in float64 where that is finite, else 0. Differentiated again (``create_graph``), it is
    computed from inputs cut where it is NaN (the ops' NaN must not reach the second derivatives through the zeros
    autograd sends back), and the difference keeps the inputs' graph: its own slope is a difference of the slope,
    the second derivative. Constants held per element (not one number each) are not mended."""
    found = slopes(x, *params)
    if any(p.numel() != 1 for p in params):
        return _gradients(grad, [_finite(s, x) for s in found])
    wide = [p.double().reshape(()) for p in params]
    for k, slope in enumerate(found):
        if not torch.isnan(slope).any():
            continue
        slope, at = torch.broadcast_tensors(slope, x)
        bad = torch.isnan(slope.detach()) & ~torch.isnan(at.detach())  # a NaN input's slope stays NaN
        if not bad.any():
            continue
        if torch.is_grad_enabled():
            cut = [torch.where(bad, p.detach(), p) for p in params]
            slope = torch.broadcast_tensors(slopes(torch.where(bad, x.detach(), x), *cut)[k], x)[0]
        slope, at = slope.clone(), at[bad].double()
        if k == 0:
            step = DIFFERENCE_STEP * at.detach().abs().clamp(min=1.0)
            up, down = value(at + step, *wide), value(at - step, *wide)
        else:
            step = DIFFERENCE_STEP * wide[k - 1].detach().abs().clamp(min=1.0)
            up = value(at, *[w + step if j == k - 1 else w for j, w in enumerate(wide)])
            down = value(at, *[w - step if j == k - 1 else w for j, w in enumerate(wide)])
        difference = (up - down) / (2 * step)
        slope[bad] = torch.where(torch.isfinite(difference), difference, torch.zeros_like(difference)).to(slope.dtype)
        found[k] = slope
    return _gradients(grad, [_finite(s, x) for s in found])


def autograd_function(
    forward: "Callable[..., torch.Tensor]",  # noqa: UP037
    backward: "Callable[..., list[torch.Tensor]]",  # noqa: UP037
    value: "Callable[..., torch.Tensor]",  # noqa: UP037
    slopes: "Callable[..., list[torch.Tensor]]",  # noqa: UP037
    formula: str,
) -> "type[torch.autograd.Function]":  # noqa: UP037
    """The autograd Function ``(x, *params)`` of ``formula`` (its name in tracebacks): ``forward``, and
    ``backward`` (``plain_backward``'s, or a compiled or kernel's form of it), saving only the inputs. Where its
    gradients hold a NaN, the slopes are mended from the eager ``value`` and ``slopes`` (``_mended_backward``): on
    the CPU, with values to look at. On a GPU looking would wait on it, a graph torch.compile traces cannot branch on
    it, and under a dispatch mode (fake tensors, make_fx) there are no values: there NaN slopes count as 0."""

    class SymbolicActivation(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: "torch.Tensor", *params: "torch.Tensor") -> "torch.Tensor":  # noqa: UP037
            ctx.save_for_backward(x, *params)
            return forward(x, *params)

        @staticmethod
        def backward(ctx, grad: "torch.Tensor") -> "tuple[torch.Tensor | None, ...]":  # noqa: UP037
            x, *params = ctx.saved_tensors
            grad = grad.contiguous()
            keep = (
                x.device.type == "cpu"
                and not torch.compiler.is_compiling()
                and torch.utils._python_dispatch._get_current_dispatch_mode() is None
            )
            grads = backward(x, grad, keep, *params)
            if keep and bool(torch.isnan(torch.stack([g.sum() for g in grads])).any()):  # a slope to mend (or grad's)
                grads = _mended_backward(value, slopes, x, grad, *params)
            return tuple(g if needed else None for g, needed in zip(grads, ctx.needs_input_grad))

    SymbolicActivation.__qualname__ = f"SymbolicActivation[{formula}]"
    return SymbolicActivation
