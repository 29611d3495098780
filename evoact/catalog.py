"""Published activation functions, and which of them a formula is closest to (is it a rediscovery?).

Closeness is functional: the relative RMS difference on the fixed probe points (an N(0,1) sample and a grid
over [-10, 10]), after the best output scale ``a`` (a network absorbs it in the next layer) and, for entries
with a learnable ``beta``, the best ``beta``. So ``x*sigmoid(x)`` is SiLU, and ``x*sigmoid(1.702*x)`` is
close to GELU.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import sympy as sp

from evoact.baselines import PAU_FORMULA, PAU_INIT
from evoact.compiler import values_at
from evoact.formula import as_expression, constant_values, parse
from evoact.screening.probe import probe_points

#: Relative RMS difference under which a match counts as a rediscovery.
REDISCOVERY = 0.01
_BETAS = np.geomspace(0.05, 20.0, 121)
#: How much closer a known function of -x must be than the function itself to be named instead.
MIRROR_MARGIN = 1e-6


@dataclass(frozen=True)
class Known:
    """One published activation: name, formula (``beta`` is fitted when present), reference, and the values its other
    constants start from (a PAU's coefficients)."""

    name: str
    formula: str
    reference: str
    params: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}), compare=False)


CATALOG: tuple[Known, ...] = (
    Known("ReLU", "max(0, x)", "Nair & Hinton 2010, Rectified linear units improve restricted Boltzmann machines"),
    Known(
        "LeakyReLU",
        "max(x, 0.01*x)",
        "Maas et al. 2013, Rectifier nonlinearities improve neural network acoustic models",
    ),
    Known("PReLU", "max(x, 0) + min(beta*x, 0)", "He et al. 2015, Delving deep into rectifiers"),
    Known("ReLU6", "min(max(0, x), 6)", "Krizhevsky 2010, Convolutional deep belief networks on CIFAR-10"),
    Known("Squared ReLU", "max(0, x)**2", "So et al. 2021, Primer: searching for efficient transformers"),
    Known(
        "ELU", "max(0, x) + min(0, exp(x) - 1)", "Clevert et al. 2016, Fast and accurate deep network learning by ELUs"
    ),
    Known(
        "SELU",
        "1.0507009873554805*(max(0, x) + min(0, 1.6732632423543772*(exp(x) - 1)))",
        "Klambauer et al. 2017, Self-normalizing neural networks",
    ),
    Known(
        "CELU",
        "max(0, x) + min(0, beta*(exp(x/beta) - 1))",
        "Barron 2017, Continuously differentiable exponential linear units",
    ),
    Known("GELU", "gelu(x)", "Hendrycks & Gimpel 2016, Gaussian error linear units"),
    Known("GELU (tanh approximation)", "x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))/2", "Hendrycks & Gimpel 2016"),
    Known(
        "SiLU / Swish",
        "x*sigmoid(beta*x)",
        "Elfwing et al. 2018; Ramachandran, Zoph & Le 2017, Searching for activation functions",
    ),
    Known("E-swish", "1.375*x*sigmoid(x)", "Alcaide 2018, E-swish: adjusting activations to different network depths"),
    Known("Mish", "mish(x)", "Misra 2019, Mish: a self regularized non-monotonic activation function"),
    Known("Softplus", "softplus(beta*x)/beta", "Dugas et al. 2001, Incorporating second-order functional knowledge"),
    Known("Softsign", "x/(1 + abs(x))", "Bergstra et al. 2009, Quadratic polynomials learn better image features"),
    Known("Tanh", "tanh(x)", "LeCun et al. 1998, Efficient backprop"),
    Known("Sigmoid", "sigmoid(x)", "Rumelhart, Hinton & Williams 1986"),
    Known("HardTanh", "max(-1, min(1, x))", "Collobert 2004, Large scale machine learning"),
    Known("HardSigmoid", "max(0, min(1, x/6 + 1/2))", "Courbariaux et al. 2015, BinaryConnect"),
    Known("HardSwish", "x*max(0, min(1, x/6 + 1/2))", "Howard et al. 2019, Searching for MobileNetV3"),
    Known("LogSigmoid", "-softplus(-x)", "PyTorch nn.LogSigmoid"),
    Known("TanhShrink", "x - tanh(x)", "PyTorch nn.Tanhshrink"),
    Known("SoftShrink", "max(0, x - 1/2) + min(0, x + 1/2)", "Donoho 1995, De-noising by soft-thresholding"),
    Known("HardShrink", "x*Heaviside(abs(x) - 1/2)", "PyTorch nn.Hardshrink"),
    Known("GoLU", "x*exp(-exp(-x))", "Das et al. 2025, Gompertz linear units"),
    Known(
        "Snake",
        "x + sin(beta*x)**2/beta",
        "Ziyin, Hartwig & Ueda 2020, Neural networks fail to learn periodic functions",
    ),
    Known(
        "SQNL",
        "sign(x)*(min(abs(x), 2) - min(abs(x), 2)**2/4)",
        "Wuraola & Patel 2018, SQNL: a new computationally efficient activation",
    ),
    Known("Bent identity", "(sqrt(x**2 + 1) - 1)/2 + x", "Bent identity (Wikipedia table of activation functions)"),
    Known(
        "ISRU",
        "x/sqrt(1 + beta*x**2)",
        "Carlile et al. 2017, Improving deep learning by inverse square root linear units",
    ),
    Known("ISRLU", "max(0, x) + min(0, x/sqrt(1 + beta*x**2))", "Carlile et al. 2017"),
    Known(
        "Sine (SIREN)",
        "sin(beta*x)",
        "Sitzmann et al. 2020, Implicit neural representations with periodic activation functions",
    ),
    Known("Cosine", "cos(x)", "Parascandolo et al. 2016, Taming the waves: sine as activation function"),
    Known("Gaussian", "exp(-x**2)", "Broomhead & Lowe 1988, Radial basis functions"),
    Known("Sinc", "sinc(x)", "Ramachandran, Zoph & Le 2017 (primitive)"),
    Known(
        "ELiSH",
        "sigmoid(x)*(max(0, x) + min(0, exp(x) - 1))",
        "Basirat & Roth 2018, The quest for the golden activation function",
    ),
    Known("HardELiSH", "max(0, min(1, (x + 1)/2))*(max(0, x) + min(0, exp(x) - 1))", "Basirat & Roth 2018"),
    Known(
        "Serf", "x*erf(softplus(x))", "Nag & Bhattacharyya 2021, SERF: towards better training of deep neural networks"
    ),
    Known(
        "Logish", "x*log(1 + sigmoid(x))", "Zhu et al. 2021, Logish: a new nonlinear nonmonotonic activation function"
    ),
    Known(
        "Smish", "x*tanh(log(1 + sigmoid(x)))", "Wang et al. 2022, Smish: a novel activation function for deep learning"
    ),
    Known(
        "TanhExp", "x*tanh(exp(x))", "Liu & Di 2020, TanhExp: a smooth activation function with high convergence speed"
    ),
    Known("Phish", "x*tanh(gelu(x))", "Naveen 2022, Phish: a novel hyper-optimizable activation function"),
    Known("LiSHT", "x*tanh(x)", "Roy et al. 2019, LiSHT: non-parametric linearly scaled hyperbolic tangent"),
    Known("Arctan", "atan(x)", "Arctangent (Wikipedia table of activation functions)"),
    Known("Arsinh", "asinh(x)", "Inverse hyperbolic sine (Wikipedia table of activation functions)"),
    Known("Erf", "erf(x)", "Error function as a sigmoidal activation"),
    Known(
        "Absolute value",
        "abs(x)",
        "Jarrett et al. 2009, What is the best multi-stage architecture for object recognition?",
    ),
    Known("Identity", "x", "linear (no nonlinearity)"),
    Known("Square", "x**2", "quadratic unit (Livni, Shalev-Shwartz & Shamir 2014)"),
    Known(
        "PAU",
        PAU_FORMULA,
        "Molina, Schramowski & Kersting 2020, Pade activation units (5/4, safe form, Leaky ReLU initialisation)",
        PAU_INIT,
    ),
)


@dataclass(frozen=True)
class Match:
    """How close a formula is to a known activation, or to it of ``-x`` (``Min(0, x)`` is ``-1 × ReLU of -x``)."""

    name: str
    formula: str
    reference: str
    distance: float  # relative RMS difference on the probe points after fitting scale and beta
    scale: float
    beta: float | None
    mirrored: bool = False  # the known function of -x: a network's weights flip the sign of its inputs for it

    @property
    def rediscovery(self) -> bool:
        """Within ``REDISCOVERY`` of the known function."""
        return self.distance <= REDISCOVERY

    @property
    def described(self) -> str:
        """The known function as the formula is it: scaled (``-2 × Mish``) and at its ``beta``, where they are not 1."""
        scale = "" if abs(self.scale - 1) < 1e-3 else f"{self.scale:.3g} × "
        beta = "" if self.beta is None or abs(self.beta - 1) < 1e-3 else f" (beta = {self.beta:.3g})"
        return labelled(f"{scale}{self.name}{beta}", self.mirrored)


def labelled(name: str, mirrored: bool) -> str:
    """A known function's name as a match names it: ``ReLU``, or ``ReLU of -x`` for the function of -x."""
    return f"{name} of -x" if mirrored else name


@functools.lru_cache(maxsize=1)
def _catalog_values() -> list[tuple[Known, np.ndarray, np.ndarray | None]]:
    """Each entry's values on the probe points: one row, or one row per candidate ``beta``."""
    x = probe_points()
    out: list[tuple[Known, np.ndarray, np.ndarray | None]] = []
    for known in CATALOG:
        expr = parse(known.formula)
        if any(s.name == "beta" for s in expr.free_symbols):
            out.append((known, values_at(expr, x[None, :], {"beta": _BETAS[:, None]}), _BETAS))
        else:
            out.append((known, values_at(expr, x, dict(known.params))[None, :], None))
    return out


def nearest_known(formula: str | sp.Expr, params: dict[str, float] | None = None, top: int = 3) -> list[Match]:
    """The ``top`` closest catalog entries to a formula (its constants at ``params``, default 1)."""
    expr = as_expression(formula)
    values = constant_values(expr, params)
    f = values_at(expr, probe_points(), values)
    mirrored = values_at(expr, -probe_points(), values)
    with np.errstate(all="ignore"):  # values too large to square are no catalog entry's: they compare as no match
        return _nearest(f, mirrored, top)


def _fit(f: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best output scale for ``f`` and its relative RMS difference from ``f`` (inf for a row not finite)."""
    finite = np.all(np.isfinite(rows), axis=1)
    g = np.where(finite[:, None], rows, 0.0)
    gg = np.einsum("kn,kn->k", g, g)
    scale = np.divide(g @ f, gg, out=np.zeros_like(gg), where=gg > 0)
    error = np.sqrt(np.mean((f[None, :] - scale[:, None] * g) ** 2, axis=1)) / np.sqrt(np.mean(f**2))
    error[~finite] = np.inf
    return scale, error


def _nearest(f: np.ndarray, mirrored: np.ndarray, top: int) -> list[Match]:
    """The closest catalog entries to the values ``f`` on the probe points, or to ``mirrored``, those at ``-x``."""
    norm = float(np.sqrt(np.mean(f**2)))
    if not np.all(np.isfinite(f)) or norm == 0.0 or not math.isfinite(norm):
        return []
    matches = []
    for known, rows, betas in _catalog_values():
        direct, flipped = _match(known, rows, betas, f), _match(known, rows, betas, mirrored, True)
        if flipped is not None and (direct is None or flipped.distance < direct.distance - MIRROR_MARGIN):
            direct = flipped  # a function as close either way (an odd one: tanh of -x is -tanh) is the direct one
        if direct is not None:
            matches.append(direct)
    # of entries as close (to rounding: softplus of -x is -1 × logsigmoid), the one of x first
    return sorted(matches, key=lambda m: (round(m.distance, 9), m.mirrored))[:top]


def _match(
    known: Known, rows: np.ndarray, betas: np.ndarray | None, f: np.ndarray, mirrored: bool = False
) -> Match | None:
    """``known``'s best fit to ``f`` over its output scale and ``beta`` (the grid's best, refined between its
    neighbours); None where no row is finite."""
    scale, error = _fit(f, rows)
    best = int(np.argmin(error))
    if not math.isfinite(error[best]):
        return None
    beta = None
    if betas is not None:
        from scipy.optimize import minimize_scalar  # here: slow to import, and every command imports this module

        beta = float(betas[best])
        low, high = betas[max(best - 1, 0)], betas[min(best + 1, len(betas) - 1)]
        fitted = minimize_scalar(functools.partial(_beta_error, f, known.formula), bounds=(low, high), method="bounded")
        if fitted.success and fitted.fun < error[best]:
            beta = float(fitted.x)
            (scale_at,), (error_at,) = _fit(f, _beta_row(known.formula, beta))
            scale[best], error[best] = scale_at, error_at
    return Match(known.name, known.formula, known.reference, float(error[best]), float(scale[best]), beta, mirrored)


def _beta_error(f: np.ndarray, formula: str, beta: float) -> float:
    """A catalog entry's relative RMS difference from ``f`` at one ``beta``, after the best output scale."""
    return float(_fit(f, _beta_row(formula, beta))[1][0])


def _beta_row(formula: str, beta: float) -> np.ndarray:
    """A catalog entry's values on the probe points at one ``beta``, as a row."""
    return values_at(_parsed(formula), probe_points()[None, :], {"beta": np.array([[beta]])})


@functools.lru_cache(maxsize=64)
def _parsed(formula: str) -> sp.Expr:
    return parse(formula)
