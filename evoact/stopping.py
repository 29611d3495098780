"""Stopping rules: end a search session at a deadline, at a target fitness, or when it stops improving.

The rules belong to a session, not to the run: a stopped run is resumed like an interrupted one, with the same rules,
new ones or none (Ray Tune's stoppers, asked by the driver after every checkpointed step).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from evoact.config import check
from evoact.terminal import measure

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhd]))+?")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``45s``, ``10m``, ``1h30m`` or ``2d``; a one-line error for anything else."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    elif text and re.fullmatch(r"(\d+(\.\d+)?[smhd])+", text):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    else:
        raise ValueError(f"--max-time {text!r}: give a duration such as 90s, 10m, 1h30m or 2d")
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 365 * 86400:
        raise ValueError(f"--max-time {text!r}: a duration above 0 and at most a year")
    return seconds


@dataclass(frozen=True)
class StopRules:
    """When a session ends before the run's last generation: ``max_time`` seconds of this session,
    ``target_fitness`` reached by the best evolved candidate (its raced mean where raced, as ``show`` ranks), or
    ``patience`` steps without a better best (generations; in async mode candidates proposed, rejected ones too)."""

    max_time: float | None = None
    target_fitness: float | None = None
    patience: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_time", "target_fitness", "patience"):
            if (value := getattr(self, name)) is not None:
                check(name, value)

    @property
    def any(self) -> bool:
        """Whether any rule is set."""
        return (self.max_time, self.target_fitness, self.patience) != (None, None, None)


class Stopper:
    """Applies ``StopRules`` to one session: asked after each checkpointed step, says why to stop, or None."""

    def __init__(self, rules: StopRules, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.clock = clock
        self.started = clock()
        self.best = -math.inf
        self.improved_at: int | None = None

    def overdue(self) -> bool:
        """Whether the session's time is up: then the next step is checkpointed and checked at once."""
        return self.rules.max_time is not None and self.clock() - self.started >= self.rules.max_time

    def check(self, step: int, best: float | None, settled: bool = True) -> str | None:
        """Why the session should stop after ``step`` with this best fitness so far (None: go on). Where the best is
        not ``settled`` (its raced seeds still training), only the deadline is checked: a first seed's luck neither
        reaches the target nor, kept as the best, holds patience back."""
        rules = self.rules
        if settled:
            if best is not None and best > self.best:
                self.best, self.improved_at = best, step
            elif self.improved_at is None:
                self.improved_at = step
            if rules.target_fitness is not None and best is not None and best >= rules.target_fitness:
                return f"the best fitness {measure(best)} reached the target {rules.target_fitness:g}"
            if rules.patience is not None and step - self.improved_at >= rules.patience:
                waited = step - self.improved_at
                return f"no better fitness for {waited} step{'' if waited == 1 else 's'} (patience {rules.patience})"
        elapsed = self.clock() - self.started
        if rules.max_time is not None and elapsed >= rules.max_time:
            return f"the session ran {elapsed:.0f} s, its limit is {rules.max_time:g} s"
        return None
