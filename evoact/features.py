"""Features of an activation that take milliseconds and no training: what the surrogate predicts scores from.

Three kinds, after AQuaSurF (Bingham & Miikkulainen 2023) and mean-field theory: the function's values and slopes on
fixed probe points (the screening kernel's), its moments under N(0, 1) inputs (what decides how a signal and its
gradient travel through a deep network at initialisation), and measured statistics of activations and gradients
through deep random networks of the suite's kinds: a plain MLP and a residual MLP with LayerNorm.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from statistics import NormalDist

import numpy as np
import torch
from torch import nn

from evoact.compiler import CompileError, compile_activation, lower
from evoact.formula import FormulaError, constant_values, parse
from evoact.screening import second_setting
from evoact.screening.kernel import Batch

#: Where values and slopes are read: N(0, 1) quantiles and a wider grid.
POINTS = np.array(
    [NormalDist().inv_cdf((i + 0.5) / 12) for i in range(12)] + [-8.0, -5.0, -3.0, -2.0, 2.0, 3.0, 5.0, 8.0]
)
_NORMAL = np.array([NormalDist().inv_cdf((i + 0.5) / 2000) for i in range(2000)])  # for the moments
_DEPTH, _WIDTH, _BATCH = 8, 48, 128
MOMENTS = ("mean", "std", "mean_slope", "mean_sq_slope", "corr_x", "neg_fraction", "curvature")
NETWORKS = tuple(
    f"{net}_{what}{layer}"
    for net in ("plain", "residual")
    for what, layers in (("act", (2, 4, 8)), ("grad", (1,)))
    for layer in layers
)
#: The names of the columns ``features`` returns, in order.
NAMES = (
    *(f"value@{x:.2f}" for x in POINTS),
    *(f"slope@{x:.2f}" for x in POINTS),
    *(f"value@{x:.2f},constants/2" for x in POINTS),
    *(f"slope@{x:.2f},constants/2" for x in POINTS),
    *MOMENTS,
    *NETWORKS,
)
_SQUASH = 50.0  # what a non-finite value counts as


def _squash(a: np.ndarray) -> np.ndarray:
    """Values beyond +-1 compressed logarithmically: one exploding function must not dominate the trees' splits."""
    a = np.nan_to_num(a, nan=_SQUASH, posinf=_SQUASH, neginf=-_SQUASH)
    return np.where(np.abs(a) <= 1, a, np.sign(a) * (1 + np.log(np.maximum(np.abs(a), 1))))


def probe_values(formulas: list[str], params: dict[str, float]) -> np.ndarray:
    """Each formula's values on ``POINTS`` with its constants at ``params`` (NaN where it does not compile)."""
    out = np.full((len(formulas), len(POINTS)), np.nan)
    programs, index = _programs(formulas)
    if programs:
        out[index] = Batch(programs, [params] * len(programs)).evaluate(POINTS)[0]
    return out


def _programs(formulas: list[str]) -> tuple[list, list[int]]:
    programs, index = [], []
    for i, text in enumerate(formulas):
        try:
            programs.append(lower(parse(text)))
            index.append(i)
        except (FormulaError, CompileError):
            continue
    return programs, index


def features(formulas: list[str], params: dict[str, float]) -> np.ndarray:
    """One row of ``NAMES`` per formula, its learnable constants at ``params`` (a formula that does not compile gets a
    row of zeros: the cascade rejects it before any surrogate sees it)."""
    out = np.zeros((len(formulas), len(NAMES)))
    programs, index = _programs(formulas)
    if not programs:
        return out
    with one_thread():
        batch = Batch(programs, [params] * len(programs))
        values, slopes = batch.evaluate(POINTS)
        # learnable constants are also read at a second setting, as the fingerprint does (one that starts at 0 too)
        values2, slopes2 = Batch(programs, [second_setting(params)] * len(programs)).evaluate(POINTS)
        nv, ns = batch.evaluate(_NORMAL)
        probes = 4 * len(POINTS)
        for row, i in enumerate(index):
            out[i, :probes] = _squash(np.concatenate([values[row], slopes[row], values2[row], slopes2[row]]))
            out[i, probes : probes + len(MOMENTS)] = _squash(_moments(nv[row], ns[row]))
            out[i, -len(NETWORKS) :] = _networks(formulas[i], params)
    return out


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread meanwhile: for tensors this small a thread pool only waits, and on a busy machine its
    threads wait for cores (40 formulas with other jobs running: 1.6 s on one thread, 11.4 s on two); timings on one
    thread also vary less with the machine's load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _moments(values: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """Moments of f(z) and f'(z) for z ~ N(0, 1), and how much f bends (slope change across the sample)."""
    finite = np.isfinite(values) & np.isfinite(slopes)
    if finite.sum() < 10:
        return np.full(len(MOMENTS), _SQUASH)
    v, s, z = values[finite], slopes[finite], _NORMAL[finite]
    std = float(v.std())
    corr = float(np.corrcoef(v, z)[0, 1]) if std > 1e-12 else 0.0
    half = len(s) // 2
    return np.array([v.mean(), std, s.mean(), (s**2).mean(), corr, (v < 0).mean(), s[half:].mean() - s[:half].mean()])


def _networks(formula: str, params: dict[str, float]) -> np.ndarray:
    """log10 RMS of the activations after layers 2, 4 and 8 and of the first layer's weight gradient, in a plain
    He-initialised MLP and a residual MLP with LayerNorm (fixed random weights and inputs)."""
    try:
        expr = parse(formula)
        act = compile_activation(expr, constant_values(expr, params))
    except (FormulaError, CompileError):
        return np.zeros(len(NETWORKS))
    out = []
    for residual in (False, True):
        gen = torch.Generator().manual_seed(0)
        weights = [
            (torch.randn(_WIDTH, _WIDTH, generator=gen) * math.sqrt(2.0 / _WIDTH)).requires_grad_()
            for _ in range(_DEPTH)
        ]
        x = torch.randn(_BATCH, _WIDTH, generator=gen)
        norm = nn.LayerNorm(_WIDTH, elementwise_affine=False)
        h, seen = x, []
        with np.errstate(all="ignore"):
            for w in weights:
                h = h + act(norm(h) @ w.T) / math.sqrt(_DEPTH) if residual else act(h @ w.T)
                seen.append(h.detach().pow(2).mean().sqrt().item())
            loss = h.pow(2).mean()
            grad = torch.autograd.grad(loss, weights[0], allow_unused=True)[0]
        g = grad.pow(2).mean().sqrt().item() if grad is not None else 0.0
        out += [seen[1], seen[3], seen[7], g]
    return np.array([math.log10(v + 1e-12) if math.isfinite(v) else 12.0 for v in out]).clip(-12, 12)
