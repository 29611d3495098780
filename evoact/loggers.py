"""Experiment-tracker loggers: hooks that write a search's events where people watch experiments (local files only).

``TensorBoardLogger(DIR)`` writes TensorBoard event files (``pip install evoact[tensorboard]``): per candidate its
fitness, its score on each task and its formula with the cascade's verdict (step: the candidate's id); per run the
config and the best fitness so far after each step (step: the generation, or evaluations in async mode). Pass one to
``evoact.search(..., callbacks=[...])`` or give ``--log-to tensorboard DIR``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from evoact.hooks import Hook
from evoact.records import Candidate, Status

#: ``--log-to`` names and the extra each needs.
LOGGERS = {"tensorboard": "tensorboard"}


class TensorBoardLogger(Hook):
    """Writes a search's candidates, config and best-so-far curve as TensorBoard event files in ``log_dir``."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError(
                "the TensorBoard logger needs the tensorboard package: pip install evoact[tensorboard]"
            ) from None
        self.writer = SummaryWriter(str(log_dir))
        self.best = -math.inf

    def start(self, config: dict[str, Any]) -> None:
        """Log the run's config (as text: TensorBoard's text tab)."""
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2) + "\n```", 0)

    def resumed(self, candidate: Candidate) -> None:
        """A resumed run's earlier candidate: it counts toward the best so far (it was logged when it finished)."""
        fitness = candidate.outcome.fitness
        if not candidate.label and fitness is not None and math.isfinite(fitness):
            self.best = max(self.best, fitness)

    def finished(self, candidate: Candidate) -> None:
        """Log one candidate: fitness (its first seed's, as the algorithm is told it), per-task scores, formula and
        verdict."""
        o, step = candidate.outcome, candidate.id
        name = candidate.label or f"#{candidate.id}"
        verdict = o.status if o.stage is None else f"{o.status} at {o.stage}"
        detail = f": {o.error}" if o.error and o.status != Status.OK else ""
        self.writer.add_text("candidates", f"{name} `{candidate.formula}` {verdict}{detail}", step)
        if o.fitness is not None and math.isfinite(o.fitness):
            self.writer.add_scalar("fitness", o.fitness, step)
            if not candidate.label:
                self.best = max(self.best, o.fitness)
        for task, score in o.scores.items():
            for measure in ("val_acc", "val_loss", "test_acc", "test_loss"):
                value = getattr(score, measure)
                if value is not None and math.isfinite(value):
                    self.writer.add_scalar(f"{task}/{measure}", value, step)

    def step(self, index: int, state: dict[str, Any]) -> None:
        """Log the best evolved fitness so far."""
        if math.isfinite(self.best):
            self.writer.add_scalar("best_fitness", self.best, index)
        self.writer.flush()

    def close(self) -> None:
        """Write what is buffered and close the files."""
        self.writer.close()


def make_logger(kind: str, log_dir: str | Path) -> Hook:
    """The logger ``--log-to KIND DIR`` names; a one-line error for an unknown kind."""
    if kind not in LOGGERS:
        raise ValueError(f"--log-to {kind!r}: known loggers are {', '.join(LOGGERS)}")
    return TensorBoardLogger(log_dir)
