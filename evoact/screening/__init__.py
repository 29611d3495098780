"""The rejection cascade: static screening, functional-equivalence cache, stability and quality hurdle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evoact.compiler import CompileError, lower
from evoact.formula import FormulaError, parse
from evoact.screening.cache import CACHE_FILE, CacheError, FitnessCache, Outcome, protocol_key
from evoact.screening.config import ScreeningConfig
from evoact.screening.fingerprint import fingerprint
from evoact.screening.kernel import Batch
from evoact.screening.probe import probe_points
from evoact.screening.stability import stability_reason
from evoact.screening.static import static_reason

_SECOND_SETTING = 0.5  # learnable constants are also probed at this multiple of their initial value
_FROM_ZERO = 0.5  # and one that starts at 0 (which no multiple moves) at this value


def second_setting(params: dict[str, float]) -> dict[str, float]:
    """Learnable constants at the second setting a function is also read at (its fingerprint, the surrogate's
    features): half their starting value, or ``_FROM_ZERO`` for one that starts at 0."""
    return {k: v * _SECOND_SETTING if v else _FROM_ZERO for k, v in params.items()}


@dataclass(frozen=True)
class StaticVerdict:
    """Stage-1 outcome of one candidate, and its fingerprint when it has one."""

    reason: str | None
    fingerprint: str | None


def screen_static(
    formulas: list[str],
    nodes: list[int | None],
    params: dict[str, float],
    max_nodes: int | None,
    config: ScreeningConfig,
    gate: bool = False,
) -> list[StaticVerdict]:
    """Run stage 1 on a batch with one numba call, and fingerprint the survivors (``gate``: GLU gates,
    ``static_reason``)."""
    programs, index, verdicts = [], [], [StaticVerdict(None, None)] * len(formulas)
    for i, text in enumerate(formulas):
        try:
            programs.append(lower(parse(text)))
            index.append(i)
        except (FormulaError, CompileError) as exc:
            verdicts[i] = StaticVerdict(f"cannot be compiled: {exc}", None)
    if not programs:
        return verdicts
    xs = probe_points()
    values, derivs = Batch(programs, [params] * len(programs)).evaluate(xs)
    values2, derivs2 = Batch(programs, [second_setting(params)] * len(programs)).evaluate(xs)
    for row, i in enumerate(index):
        reason = static_reason(values[row], derivs[row], nodes[i], max_nodes, config, gate)
        fp = fingerprint(
            np.stack([values[row], values2[row]]), np.stack([derivs[row], derivs2[row]]), config.fingerprint_bits
        )
        verdicts[i] = StaticVerdict(reason, fp)
    return verdicts


__all__ = [
    "CACHE_FILE",
    "CacheError",
    "FitnessCache",
    "Outcome",
    "ScreeningConfig",
    "StaticVerdict",
    "protocol_key",
    "screen_static",
    "second_setting",
    "stability_reason",
]
