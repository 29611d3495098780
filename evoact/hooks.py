"""Hooks: what the driver and the problem announce, for the progress display, the checkpoints and loggers to act on.

A subscriber subclasses ``Hook`` and overrides the events it wants; ``Hooks`` refuses one with a public method that
is no event (a misspelt ``finnished`` would otherwise never fire, and nothing would say so).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evoact.checkpoint import write_checkpoint
from evoact.records import Candidate, Status


class Hook:
    """The events of a search; each does nothing here, and a subscriber overrides the ones it acts on."""

    def start(self, config: dict[str, Any]) -> None:
        """A search session starts (a new run, or a resumed one): its config, as the run stores it, ``run_dir``, the
        run directory's absolute path, and ``run_started``, when the run began (the same in every session)."""

    def note(self, message: str) -> None:
        """Something about the run as a whole."""

    def planned(self, proposals: int) -> None:
        """The run ends after at most ``proposals`` proposals, each counted, static screening's rejections too (an
        enumeration's, when its trees run out before the budget)."""

    def generation(self, index: int) -> None:
        """A step starts."""

    def resumed(self, candidate: Candidate) -> None:
        """A resumed run found this candidate's outcome already stored."""

    def finished(self, candidate: Candidate) -> None:
        """A candidate got its outcome."""

    def scored(self, candidate: Candidate) -> None:
        """A candidate's fitness was set after its outcome: a multi-task search's baselines, once their scores have
        made each task's reference."""

    def raced(self, candidate: Candidate) -> None:
        """Racing learned another seed of a candidate: its ``rank_fitness`` (the mean over its seeds, which the
        ranking orders by) is now this."""

    def step(self, index: int, state: dict[str, Any]) -> None:
        """The algorithm was told a step's results; ``state`` is its state now."""

    def end(self, state: str) -> None:
        """The session ends: ``finished``, ``stopped`` (by a stopping rule; resumable) or ``interrupted``."""

    def close(self) -> None:
        """The search ends (after ``end``): release what the hook holds."""


class BestSoFar:
    """The best fitness so far as the store's ranking orders candidates (the raced mean where raced, ties to the
    earlier; one that failed a raced seed, or duplicates another candidate of the run, left out), kept as results
    and raced means arrive: what the progress line and the loggers' curve show. ``evolved_only``: baselines left out."""

    def __init__(self, evolved_only: bool = False) -> None:
        self.evolved_only = evolved_only
        self._ranked: dict[int, Candidate] = {}  # id -> the row as last told, where it counts
        self._top: Candidate | None = None

    @property
    def best(self) -> tuple[float, str] | None:
        """The best fitness and its function's name (its label or formula), or None before any."""
        top = self._top
        return None if top is None or top.rank_fitness is None else (top.rank_fitness, top.label or top.formula)

    @property
    def seeds(self) -> int:
        """How many seeds the best fitness is the mean of (1 unless racing trained it on more)."""
        return 1 if self._top is None else self._top.raced_seeds or 1

    def update(self, row: Candidate) -> None:
        """A candidate's outcome or raced mean, as it stands now."""
        fitness, o = row.rank_fitness, row.outcome
        self._ranked.pop(row.id, None)
        counts = o.status in (Status.OK, Status.DUPLICATE) and not (row.raced_failed or o.duplicate_of)
        if counts and fitness is not None and math.isfinite(fitness) and not (self.evolved_only and row.label):
            self._ranked[row.id] = row
            if self._top is None or row.rank_key < self._top.rank_key:
                self._top = row
                return
        if self._top is not None and self._top.id == row.id and self._ranked.get(row.id) is not self._top:
            self._top = min(self._ranked.values(), key=lambda r: r.rank_key, default=None)  # the best fell: look again


#: The events, by name: the public methods of ``Hook``.
EVENTS = tuple(name for name, _ in inspect.getmembers(Hook, inspect.isfunction) if not name.startswith("_"))


class HookError(TypeError):
    """A subscriber that is not a ``Hook``, or one with a method that no event calls."""


def _checked(subscriber: Any) -> Hook:
    """``subscriber`` if it is a ``Hook`` whose public methods are all events; a one-line ``HookError`` otherwise."""
    name = type(subscriber).__name__
    if not isinstance(subscriber, Hook):
        raise HookError(f"hook {name} must subclass evoact.hooks.Hook (events: {', '.join(EVENTS)})")
    unknown = [
        attr
        for attr, value in inspect.getmembers(type(subscriber), callable)
        if not attr.startswith("_") and attr not in EVENTS and not isinstance(value, type)
    ]
    if unknown:
        raise HookError(
            f"hook {name} has method(s) {', '.join(unknown)} that no event calls (events: {', '.join(EVENTS)})"
        )
    for event in EVENTS:  # an event method must take what the event gives, or it would fail mid-run
        mine, declared = (inspect.signature(getattr(hook, event)) for hook in (subscriber, Hook()))
        try:
            mine.bind(*declared.parameters)  # events pass their arguments by position; *args takes any
        except TypeError:
            raise HookError(f"hook {name}.{event} takes {_shape(mine)}; the event gives {_shape(declared)}") from None
    return subscriber


def _shape(signature: inspect.Signature) -> str:
    """A method's parameters as written, without annotations: ``(candidate, *args, flag)``."""
    plain = [
        p.replace(annotation=inspect.Parameter.empty, default=inspect.Parameter.empty)
        for p in signature.parameters.values()
    ]
    return str(signature.replace(parameters=plain, return_annotation=inspect.Signature.empty))


class Hooks(Hook):
    """The subscribers of a search, each checked when registered and called in order for each event."""

    def __init__(self, *subscribers: Any) -> None:
        self.subscribers = [_checked(s) for s in subscribers]

    def start(self, config: dict[str, Any]) -> None:
        for subscriber in self.subscribers:
            subscriber.start(config)

    def note(self, message: str) -> None:
        for subscriber in self.subscribers:
            subscriber.note(message)

    def planned(self, proposals: int) -> None:
        for subscriber in self.subscribers:
            subscriber.planned(proposals)

    def generation(self, index: int) -> None:
        for subscriber in self.subscribers:
            subscriber.generation(index)

    def resumed(self, candidate: Candidate) -> None:
        for subscriber in self.subscribers:
            subscriber.resumed(candidate)

    def finished(self, candidate: Candidate) -> None:
        for subscriber in self.subscribers:
            subscriber.finished(candidate)

    def scored(self, candidate: Candidate) -> None:
        for subscriber in self.subscribers:
            subscriber.scored(candidate)

    def raced(self, candidate: Candidate) -> None:
        for subscriber in self.subscribers:
            subscriber.raced(candidate)

    def step(self, index: int, state: dict[str, Any]) -> None:
        for subscriber in self.subscribers:
            subscriber.step(index, state)

    def end(self, state: str) -> None:
        """Every subscriber hears the end, even after one of them raised (the first error is raised then)."""
        _each(lambda subscriber: subscriber.end(state), self.subscribers)

    def close(self) -> None:
        """Every subscriber closes (its files, its connections), even after one of them raised."""
        _each(lambda subscriber: subscriber.close(), self.subscribers)


def _each(call: Callable[[Hook], None], subscribers: Sequence[Hook]) -> None:
    """``call`` on every subscriber, then the first error any of them raised."""
    first: BaseException | None = None
    for subscriber in subscribers:
        try:
            call(subscriber)
        except BaseException as exc:
            first = first or exc
    if first is not None:
        raise first


class Checkpoints(Hook):
    """Writes the algorithm's state after every step, so that a resumed run continues exactly there."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def step(self, index: int, state: dict[str, Any]) -> None:
        """Write the step's state."""
        write_checkpoint(self.run_dir, index, state)
