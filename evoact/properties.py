"""What an activation is like: values at 0, limits, bounds, monotonicity, smoothness, gating, slope, cost.

Each property says how it was found: ``symbolic`` (SymPy, exact) or ``numeric`` (evaluated on grids, an
estimate), or ``measured`` (timed on this machine).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp
import torch

from evoact.bounded import StepFailed, TooSlow, bounded
from evoact.compiler import compile_activation, derivatives, values_at
from evoact.features import one_thread
from evoact.formula import X, as_expression, constant_values, symbol
from evoact.screening.probe import N_NORMAL, probe_points
from evoact.symbolic import WILD, gaps, limit, slope_at, value_at

_KINKS = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside)
_SYMBOLIC_SECONDS = 3.0  # for all SymPy steps of one activation together
_FINE = np.linspace(-10.0, 10.0, 20_001) + 1e-5 * math.pi  # offset so that no grid point sits on a kink at 0


def _plain(value: float) -> float | str | None:
    """A float for JSON: infinities as strings, NaN as None."""
    if math.isnan(value):
        return None
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


class _SymPyBudget:
    """Runs SymPy steps while a shared time budget lasts: a tower like exp(exp(...)) must not hang.

    Each step runs in the bounded helper process (``evoact.bounded``), so the limit holds in any thread. None means
    "not decided symbolically" (out of time, or SymPy cannot); the caller then estimates numerically. Only
    kink-free expressions are given to SymPy (its limits crash on Max/Min).
    """

    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.left <= 0.05:
            return None
        start = time.perf_counter()
        try:
            return bounded(fn, *args, seconds=self.left)
        except (TooSlow, StepFailed):
            return None
        finally:
            self.left -= time.perf_counter() - start


def _jsonable(value: Any) -> Any:
    """Floats made JSON-safe all the way down (see ``_plain``)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return _plain(float(value)) if isinstance(value, (float, np.floating)) else value


#: Where a limit is looked for numerically: 1e2 ... 1e6, then further out for a monotone approach too slow to judge
#: there (log(log(x)) grows from 1.5 to 2.6 by 1e6, to 6.5 by 1e300).
_NEAR, _FURTHER = 10.0 ** np.arange(2, 7), 10.0 ** np.array([10, 30, 100, 300])


def _numeric_limit(near: np.ndarray, further: np.ndarray) -> float | str | None:
    """From values at ``_NEAR`` in one direction, then ``_FURTHER`` while finite: converging, growing or neither
    (oscillating); None where the values move one way too slowly to tell a limit from growth."""
    judged = _judged(near)
    if judged != "oscillates" or not _monotone(near):
        return judged
    far = further[: next((i for i, v in enumerate(further) if np.isnan(v)), len(further))]
    values = np.concatenate([near, far])
    judged = _judged(values)
    return None if judged == "oscillates" and _monotone(values) else judged


def _judged(f: np.ndarray) -> float | str:
    """Values far out in one direction: converging, growing or neither."""
    growing = np.isinf(f[-1]) or (np.all(np.diff(np.abs(f)) > 0) and abs(f[-1]) > 2 * max(1.0, abs(f[0])))
    if growing and np.all(np.sign(f[1:]) == np.sign(f[-1])):
        return "inf" if f[-1] > 0 else "-inf"
    if abs(f[-1] - f[-2]) <= 1e-4 * max(1.0, abs(f[-1])):
        return float(f[-1])
    return "oscillates" if np.all(np.abs(f) <= 1e3) else WILD


def _monotone(f: np.ndarray) -> bool:
    """The values move one way only."""
    steps = np.diff(f)
    return bool(np.all(steps > 0) or np.all(steps < 0))


def _bounded(limits: tuple[dict[str, Any], ...], infinity: str) -> bool | None:
    """Whether neither limit is ``infinity`` (or oscillates unboundedly); None where a limit that could not be told
    moves towards it."""
    if any(lim["value"] in (infinity, WILD) for lim in limits):
        return False
    towards = "up" if infinity == "inf" else "down"
    return None if any(lim["value"] is None and lim.get("moves") == towards for lim in limits) else True


def _as_float(value: Any) -> float | None:
    """A limit as a number (its infinities too: "inf" as written), None where it has none."""
    if isinstance(value, str) and value in ("inf", "-inf"):
        return float(value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _isolated_jumps(values: np.ndarray, floor: float) -> bool:
    """A step between neighbours much larger than the steps around it: a jump, not steep smooth change."""
    step = np.abs(np.diff(values))
    around = np.maximum(np.concatenate([[0.0], step[:-1]]), np.concatenate([step[1:], [0.0]]))
    return bool(np.any(step > 10.0 * around + floor))


def _measured_cost(expr: sp.Expr, params: dict[str, float], rounds: int = 15) -> dict[str, float | list[float]]:
    """Forward + backward time relative to torch's ReLU on up to 2^18 floats, on one thread: the two timed in
    alternation (so that the machine's load falls on both), after warm-up, and the median of the per-round ratios
    with its quartiles. A costly formula is timed on fewer floats, so that measuring it takes about a second at
    most."""
    with one_thread():
        return _timed_cost(expr, params, rounds)


def _timed_cost(expr: sp.Expr, params: dict[str, float], rounds: int) -> dict[str, float | list[float]]:
    module = compile_activation(expr, constant_values(expr, params))
    x = torch.randn(1 << 14, requires_grad=True)

    def timed(fn) -> float:
        start = time.perf_counter()
        fn(x).sum().backward()
        return time.perf_counter() - start

    per_float = timed(module) / x.numel()
    x = torch.randn(int(min(1 << 18, max(1 << 14, 0.02 / max(per_float, 1e-12)))), requires_grad=True)
    for _ in range(3):
        timed(module), timed(torch.relu)
    ratios = sorted(timed(module) / timed(torch.relu) for _ in range(rounds))
    return {
        "value": round(ratios[rounds // 2], 2),
        "quartiles": [round(ratios[rounds // 4], 2), round(ratios[3 * rounds // 4], 2)],
        "rounds": rounds,
    }


def activation_properties(
    formula: str | sp.Expr, params: dict[str, float] | None = None, cost: bool = True
) -> dict[str, dict[str, Any]]:
    """Properties of an activation with its learnable constants at ``params`` (default 1)."""
    with np.errstate(all="ignore"):  # overflow and inf - inf are expected on wide grids; results say so
        return _properties(formula, params, cost)


def _properties(formula: str | sp.Expr, params: dict[str, float] | None, cost: bool) -> dict[str, dict[str, Any]]:
    expr = as_expression(formula)
    values = constant_values(expr, params)
    fixed = expr.subs({symbol(n): sp.Integer(int(v)) if v.is_integer() else sp.Float(v) for n, v in values.items()})
    slope = derivatives(fixed)[0]
    kinked = fixed.has(*_KINKS)  # SymPy's limits crash on Max/Min: such a function's are estimated
    symbolic = _SymPyBudget(_SYMBOLIC_SECONDS)
    f_fine = values_at(fixed, _FINE, {})
    # a pole or a gap in the domain (tan, 1/x, sqrt) in words, or "": where SymPy cannot tell, a NaN on [-10, 10]
    found = symbolic(gaps, fixed, X)
    gap, undefined_below, undefined_above = found if found is not None else (None, False, False)
    broken = gap if gap is not None else "NaN seen on [-10, 10]" if np.isnan(f_fine).any() else ""
    out: dict[str, dict[str, Any]] = {}

    def put(name: str, value: Any, how: str, **detail: Any) -> None:
        value = 0.0 if isinstance(value, float) and value == 0 else value  # never -0 on a page
        out[name] = {"value": value, "how": how, **detail}

    def f(x: np.ndarray) -> np.ndarray:
        return values_at(fixed, x, {})

    def df(x: np.ndarray) -> np.ndarray:
        return values_at(slope, x, {})

    h = 1e-6
    below, zero, above = f(np.array([-h, 0.0, h]))
    at_zero = symbolic(value_at, fixed, X, 0) if not kinked else None
    put("f(0)", at_zero, "symbolic") if isinstance(at_zero, float) else put("f(0)", float(zero), "numeric")
    left, right = (zero - below) / h, (above - zero) / h
    slope_zero = symbolic(slope_at, fixed, X, 0) if not kinked else None
    nearer_below, nearer_above = f(np.array([-h / 10, h / 10]))  # a jump's quotient grows as the step shrinks
    jumps_at_zero = abs(nearer_above - nearer_below) > 0.5 * abs(above - below) > 1e-12
    if isinstance(slope_zero, float):
        put("f'(0)", slope_zero, "symbolic")
    elif jumps_at_zero:
        put("f'(0)", None, "numeric", note=f"not continuous at 0: it jumps from {below:.4g} to {above:.4g}")
    elif abs(left - right) > 1e-3 * max(1.0, abs(left), abs(right)):
        put("f'(0)", None, "numeric", note=f"not differentiable at 0: left {left:.4g}, right {right:.4g}")
    else:
        put("f'(0)", round(float((left + right) / 2), 9), "numeric")  # finite differences: noise below 1e-9

    for name, to, side, undefined in (
        ("limit at -inf", -sp.oo, -1.0, undefined_below),
        ("limit at +inf", sp.oo, 1.0, undefined_above),
    ):
        exact = symbolic(limit, fixed, X, to) if not kinked and not undefined else None
        if undefined:
            put(name, None, "symbolic", note="undefined there")
        elif exact is not None:
            put(name, exact, "symbolic")
        elif (found := _numeric_limit(near := f(side * _NEAR), f(side * _FURTHER))) is not None:
            put(name, found, "numeric")
        else:  # which way it moves: the bound on that side is what cannot be told
            moves = "up" if near[-1] > near[0] else "down"
            put(name, None, "numeric", moves=moves, note="too slow to tell: moves one way out to 1e300, unsettled")

    probes = probe_points()
    wide = np.concatenate([np.linspace(-1e3, 1e3, 200_001), probes])
    y = f(wide)
    limits = (out["limit at -inf"], out["limit at +inf"])
    how = "symbolic" if all(lim["how"] == "symbolic" for lim in limits) and not kinked else "numeric"
    for name, infinity, seen in (
        ("bounded above", "inf", {"sup_seen": np.nanmax(y)}),
        ("bounded below", "-inf", {"inf_seen": np.nanmin(y)}),
    ):
        if np.any(y == float(infinity)):
            put(name, False, how, **seen)
        elif broken and _bounded(limits, infinity) is not False:  # the limits say nothing of a pole's side
            put(name, None, "numeric", **seen, note="undefined or not continuous somewhere: not told by its limits")
        else:
            put(name, _bounded(limits, infinity), how, **seen)

    d_fine, d_wide = df(_FINE), df(wide)
    steps = np.diff(f_fine)  # steps catch jumps the derivative misses
    steps = steps[~np.isnan(steps)]  # inf - inf: an overflowing function's steps say nothing there
    finite = np.abs(d_wide[np.isfinite(d_wide)])
    tolerance = 1e-9 * max(1.0, float(np.max(finite, initial=0.0)))
    # where the derivative overflows (inf - inf: NaN) it says nothing; there the function's own steps on the grid do
    grid = y[: len(wide) - len(probes)]
    wide_steps, scale = np.diff(grid), np.maximum(1.0, np.abs(grid[1:]))
    judged = np.isnan(d_wide[: len(grid)])[1:] & np.isfinite(wide_steps)
    d_known = d_wide[~np.isnan(d_wide)]
    defined = not (np.isnan(y).any() or np.isnan(f_fine).any())  # undefined somewhere (sqrt(x)): not monotonic
    rising = np.all(wide_steps[judged] >= -1e-9 * scale[judged])
    falling = np.all(wide_steps[judged] <= 1e-9 * scale[judged])
    # a finite limit beyond what the grids saw says it turns back out there (x*exp(-x/2000) peaks at 2000)
    low, high = (_as_float(lim["value"]) for lim in limits)
    seen_low, seen_high = float(np.nanmin(y)), float(np.nanmax(y))
    finite_y = y[np.isfinite(y)]
    slack = 1e-9 * max(1.0, float(np.max(np.abs(finite_y), initial=0.0)))  # a limit found numerically may fall short
    turns_up = (high is not None and high < seen_high - slack) or (low is not None and low > seen_low + slack)
    turns_down = (high is not None and high > seen_low + slack) or (low is not None and low < seen_high - slack)
    increasing = defined and bool(np.all(d_known >= -tolerance) and np.all(steps >= -1e-12) and rising)
    decreasing = defined and bool(np.all(d_known <= tolerance) and np.all(steps <= 1e-12) and falling)
    increasing, decreasing = increasing and not turns_up, decreasing and not turns_down
    put("monotonic", "increasing" if increasing else "decreasing" if decreasing else False, "numeric")

    broken_how = "numeric" if gap is None else "symbolic"
    if not kinked and not broken:
        put("smoothness", "C-infinity", "symbolic" if gap == "" else "numeric")
    elif broken:
        put("smoothness", "undefined or not continuous somewhere", broken_how, where=broken[:100])
    elif _isolated_jumps(f_fine, 1e-6):
        put("smoothness", "discontinuous", "numeric")
    elif _isolated_jumps(d_fine, 1e-3):
        put("smoothness", "continuous, not differentiable (kinks)", "numeric")
    else:
        put("smoothness", "C1", "numeric")

    normal = f(probes[:N_NORMAL])
    rms = float(np.sqrt(np.mean(normal**2)))
    put(
        "zero-centred",  # a mean and RMS that overflow (exp(exp(exp(x)))) are no evidence of it
        bool(np.isfinite(rms) and rms > 0 and abs(float(np.mean(normal))) <= 0.05 * rms),
        "numeric",
        mean_on_normal=float(np.mean(normal)),
    )

    gate = _gate(fixed)
    put("self-gated", gate is not None, "symbolic", **({"gate": str(gate)} if gate is not None else {}))

    inner, outer = float(np.nanmax(np.abs(d_fine))), float(np.nanmax(np.abs(d_wide)))
    lipschitz = bool(np.isfinite(outer) and outer <= 1.1 * inner + 1e-9)
    put("max |f'| on [-10, 10]", inner, "numeric")
    if broken:  # a pole's slopes grow without bound, however few a grid meets
        put("Lipschitz", False, broken_how, note="undefined or not continuous somewhere")
    elif out["smoothness"]["value"] == "discontinuous" or jumps_at_zero:  # its slope is 0 but at the jumps
        put("Lipschitz", False, "numeric", note="not continuous: it jumps")
    else:
        put(  # the constant is the steepest slope seen on either grid (the wide one is coarser than [-10, 10]'s)
            "Lipschitz",
            lipschitz,
            "numeric",
            **({"constant": max(inner, outer)} if lipschitz else {"max_slope_on_[-1000,1000]": max(inner, outer)}),
        )
    if cost:
        measured = _measured_cost(expr, values)
        put(
            "cost vs ReLU",
            measured.pop("value"),
            "measured",
            **measured,
            note="median of alternating rounds with torch.relu",
        )
    return _jsonable(out)  # every float JSON-safe: infinities as strings, NaN as None


def _gate(expr: sp.Expr) -> sp.Expr | None:
    """``g`` when the activation is ``x*g(x)`` with ``g`` not constant."""
    if (
        isinstance(expr, sp.Mul)
        and X in expr.args
        or isinstance(expr, sp.Pow)
        and expr.base == X
        and expr.exp.is_number
        and expr.exp > 1
    ):
        gate = expr / X  # SymPy cancels the factor x as it builds the quotient
        return gate if gate.has(X) else None
    return None
