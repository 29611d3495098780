"""Hooks: what the driver and the problem announce, for the progress display and the checkpoints to act on.

A hook is any object with some of these methods; ``Hooks`` calls each subscriber that has the event's method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evoact.checkpoint import write_checkpoint
from evoact.records import Candidate

EVENTS = ("note", "generation", "resumed", "finished", "step", "close")


class Hooks:
    """The subscribers of a search, called in order for each event.

    ``note(message)``: something about the run as a whole; ``generation(index)``: a step starts; ``resumed(candidate)``:
    a resumed run found this outcome already stored; ``finished(candidate)``: a candidate got its outcome;
    ``step(index, state)``: the algorithm was told a step's results and its state is ``state``; ``close()``: the end.
    """

    def __init__(self, *subscribers: Any) -> None:
        self.subscribers = list(subscribers)

    def _call(self, event: str, *args: Any) -> None:
        for subscriber in self.subscribers:
            method = getattr(subscriber, event, None)
            if method is not None:
                method(*args)

    def note(self, message: str) -> None:
        """Say something about the run as a whole."""
        self._call("note", message)

    def generation(self, index: int) -> None:
        """A step starts."""
        self._call("generation", index)

    def resumed(self, candidate: Candidate) -> None:
        """A resumed run found this candidate's outcome already stored."""
        self._call("resumed", candidate)

    def finished(self, candidate: Candidate) -> None:
        """A candidate got its outcome."""
        self._call("finished", candidate)

    def step(self, index: int, state: dict[str, Any]) -> None:
        """The algorithm was told a step's results; ``state`` is its state now."""
        self._call("step", index, state)

    def close(self) -> None:
        """The search ends."""
        self._call("close")


class Checkpoints:
    """Writes the algorithm's state after every step, so that a resumed run continues exactly there."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def step(self, index: int, state: dict[str, Any]) -> None:
        write_checkpoint(self.run_dir, index, state)
