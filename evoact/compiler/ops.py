"""The torch operations compiled programs are made of: a callable and a source template for each."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

_INV_PI = 1.0 / math.pi

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
    # Heaviside with H(0) = 1/2 from comparisons: differentiable (zero slope), so double backward works.
    "heaviside": (lambda u: (u > 0).to(u.dtype) + (u == 0).to(u.dtype) * 0.5, "(({0} > 0).to({0}.dtype) + ({0} == 0).to({0}.dtype) * 0.5)"),
    "maximum": (torch.maximum, "torch.maximum({0}, {1})"),
    "minimum": (torch.minimum, "torch.minimum({0}, {1})"),
    "clamp_min": (torch.clamp_min, "torch.clamp_min({0}, {1})"),
    "clamp_max": (torch.clamp_max, "torch.clamp_max({0}, {1})"),
    "full_like": (torch.full_like, "torch.full_like({0}, {1})"),
    "broadcast": (lambda x, p: torch.zeros_like(x) + p, "torch.zeros_like({0}) + {1}"),
}
