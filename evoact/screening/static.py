"""Stage 1: reject broken, flat and oversized candidates from their values and slopes on the probe set."""

from __future__ import annotations

import numpy as np

from evoact.screening.config import ScreeningConfig


def static_reason(
    values: np.ndarray, derivs: np.ndarray, nodes: int | None, max_nodes: int | None, config: ScreeningConfig
) -> str | None:
    """Why a candidate is rejected by static screening, or None when it passes."""
    bad = ~(np.isfinite(values) & np.isfinite(derivs))
    if bad.mean() > config.max_nonfinite:
        return (
            f"non-finite value or derivative on {bad.mean():.1%} of the probe points (limit {config.max_nonfinite:.1%})"
        )
    v, d = values[~bad], derivs[~bad]
    if np.ptp(v) <= config.flat_tolerance * (1.0 + np.abs(v).max()):
        return "constant function"
    if np.ptp(d) <= config.flat_tolerance * (1.0 + np.abs(d).max()):
        return f"affine function (slope {d.mean():.4g}): no nonlinearity"
    if nodes is not None and max_nodes is not None and nodes > max_nodes:
        return f"{nodes} nodes, over the space's limit of {max_nodes}"
    return None
