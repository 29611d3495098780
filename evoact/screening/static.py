"""Stage 1: reject broken, flat and oversized candidates from their values and slopes on the probe set."""

from __future__ import annotations

import numpy as np

from evoact.screening.config import ScreeningConfig
from evoact.screening.probe import N_NORMAL, probe_grid


def static_reason(
    values: np.ndarray,
    derivs: np.ndarray,
    nodes: int | None,
    max_nodes: int | None,
    config: ScreeningConfig,
    gate: bool = False,
) -> str | None:
    """Why a candidate is rejected by static screening, or None when it passes. A GLU ``gate`` is multiplied by the
    layer's other projection: an affine gate makes a bilinear GLU and an even one keeps the sign through it, so only
    a constant gate (a linear layer) is rejected of the three."""
    bad = ~(np.isfinite(values) & np.isfinite(derivs))
    if bad.mean() > config.max_nonfinite or bad.all():  # a limit of 1 lets through all but the nowhere finite
        return (
            f"non-finite value or derivative on {bad.mean():.1%} of the probe points (limit {config.max_nonfinite:.1%})"
        )
    v, d = values[~bad], derivs[~bad]
    if np.ptp(v) <= config.flat_tolerance * (1.0 + np.abs(v).max()):
        return "constant function"
    if not gate and np.ptp(d) <= config.flat_tolerance * (1.0 + np.abs(d).max()):
        return f"affine function (slope {d.mean():.4g}): no nonlinearity"
    sign_checked = not gate and config.min_rank_correlation > 0  # the tail check refines it: off with it
    spearman = _spearman(values) if sign_checked else 0.0  # once, for both checks
    if sign_checked and (rho := abs(spearman)) < config.min_rank_correlation:
        flat = flat_share(values)
        why = (
            f"constant on {flat:.0%} of N(0, 1), where x's sign is lost"
            if flat >= FLAT_SHARE
            else "even, or a deep or wide dip"
        )
        return (
            f"too far from monotone in x to keep its sign ({why}): rank correlation with x on N(0, 1) is {rho:.2f}"
            f" (minimum {config.min_rank_correlation:g}; --min-rank-correlation 0 turns it off)"
        )
    if (
        sign_checked
        and config.max_tail_reversal > 0
        and (turn := tail_reversal(values, spearman)) > config.max_tail_reversal
    ):
        return (
            f"its tails undo the sign it keeps near 0: over [-10, 10] it turns against its trend by {turn:.2f} of its"
            f" range on N(0, 1) (maximum {config.max_tail_reversal:g}; --max-tail-reversal 0 turns it off)"
        )
    if nodes is not None and max_nodes is not None and nodes > max_nodes:
        return f"{nodes} nodes, over the space's limit of {max_nodes}"
    return None


#: A unit constant on at least this share of the N(0, 1) sample is called flat there, not even, when its ranks fail.
FLAT_SHARE = 0.25


def flat_share(values: np.ndarray) -> float:
    """The largest share of the probe's N(0, 1) sample on which a unit takes one value (its widest flat piece)."""
    sample = values[:N_NORMAL]
    sample = sample[np.isfinite(sample)]
    return float(np.unique(sample, return_counts=True)[1].max() / N_NORMAL) if sample.size else 0.0


def rank_correlation(values: np.ndarray) -> float:
    """|Spearman correlation| of a unit's values with its input on the probe's N(0, 1) sample (probe order): 0 for an
    even function, which gives the next layer no way to tell x from -x; a negated unit counts as its mirror image."""
    return abs(_spearman(values))


def tail_reversal(values: np.ndarray, spearman: float | None = None) -> float:
    """How far a unit turns against its own trend (the sign of its rank correlation on N(0, 1)) away from 0, on the
    probe's grid over [-10, 10]: its largest fall below its running peak going out from 0 to 10, or rise above its
    running trough going out to -10 (mirrored for a falling unit), as a share of its range on N(0, 1). 0 for a
    monotone unit, 0.05 for GELU's dip; 1.5 for (2 - x)*tanh(x), which falls like -x for large x. ``spearman``: that
    rank correlation, where the caller has it."""
    sample, grid, xs = values[:N_NORMAL], values[N_NORMAL:], probe_grid()
    keep = np.isfinite(sample)
    if keep.sum() < 3 or np.ptp(sample[keep]) == 0:
        return 0.0
    trend = -1.0 if (_spearman(values) if spearman is None else spearman) < 0 else 1.0
    scale = float(np.ptp(sample[keep]))
    right = trend * grid[xs >= 0]
    left = trend * grid[xs <= 0][::-1]  # from 0 out to -10
    right, left = right[np.isfinite(right)], left[np.isfinite(left)]
    fall = float(np.max(np.maximum.accumulate(right) - right)) if right.size else 0.0
    rise = float(np.max(left - np.minimum.accumulate(left))) if left.size else 0.0
    return max(fall, rise) / scale


def _spearman(values: np.ndarray) -> float:
    """Spearman correlation of a unit's values with its input on the probe's N(0, 1) sample (0 where undefined)."""
    from scipy.stats import spearmanr  # here: scipy.stats takes half a second to import, and every command imports this

    sample, xs = values[:N_NORMAL], np.arange(N_NORMAL)  # the sample is sorted, so its ranks are its positions
    keep = np.isfinite(sample)
    if keep.sum() < 3 or np.ptp(sample[keep]) == 0:
        return 0.0
    return float(spearmanr(sample[keep], xs[keep])[0])
