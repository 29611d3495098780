"""Stage 2 key: a hash of a function's values and slopes on the probe set, with truncated mantissas."""

from __future__ import annotations

import hashlib

import numpy as np


def fingerprint(values: np.ndarray, derivs: np.ndarray, bits: int) -> str:
    """Equal for functionally identical candidates (near-identical ones collide on purpose); stable across runs.

    ``values``/``derivs`` may hold several rows (e.g. two settings of the learnable constants).
    """
    data = np.concatenate([np.atleast_2d(values), np.atleast_2d(derivs)], axis=1).astype(np.float64)
    finite = np.isfinite(data)
    mantissa, exponent = np.frexp(np.where(finite, data, 0.0))
    rounded = np.round(mantissa * 2.0**bits).astype(np.int64)
    exponent = np.where(rounded == 0, 0, exponent)
    code = np.where(
        finite,
        rounded,
        np.where(np.isnan(data), 2**62, np.sign(np.nan_to_num(data, nan=0.0)).astype(np.int64) * (2**61)),
    )
    digest = hashlib.sha256(code.tobytes() + exponent.astype(np.int64).tobytes())
    return digest.hexdigest()[:32]


def scale_free_fingerprint(values: np.ndarray, bits: int = 10, shifted: bool = False) -> str | None:
    """Equal for functions that differ only by a constant output factor, sign included (``f`` and ``-2 f``), and with
    ``shifted`` by an added constant too (``f`` and ``-2 f + 3``): the values (less their mean, where shifted) divided
    by their RMS and signed so that the first clearly nonzero one is positive. None when the values are not all finite
    or (so taken) all zero."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return None
    if shifted:
        values = values - np.mean(values)
    with np.errstate(over="ignore"):
        scale = float(np.sqrt(np.mean(values**2)))
    if scale == 0.0 or not np.isfinite(scale):
        return None
    unit = values / scale
    unit[np.abs(unit) < 1e-9] = 0.0  # rounding's leftovers (an odd function's mean, centred away) hash as 0 does
    first = np.flatnonzero(np.abs(unit) > 1e-3)
    return fingerprint(unit * np.sign(unit[first[0]]), np.zeros_like(unit), bits)
