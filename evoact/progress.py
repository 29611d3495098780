"""Live progress of long work (a search, a confirmation): a rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from evoact.records import Candidate


def _eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class SearchProgress:
    """Shows generation, evaluated and failed counts, the best fitness so far and an ETA."""

    def __init__(self, total: int, generations: int, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.total, self.generations = total, generations
        self.done = self.failed = self.skipped = 0
        self.removed: dict[str, int] = {}
        self.best: tuple[float, str] | None = None
        self.label = "baselines"
        self.started = time.monotonic()
        self._live = self.console.is_terminal
        if self._live:
            self._bar = Progress(
                TextColumn("[bold]{task.fields[generation]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}  screened out {task.fields[screened]}  best {task.fields[best]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
            )
            self._task = self._bar.add_task("search", total=total, generation=self.label, failed=0, best="-", screened="-")
            self._bar.start()

    def generation(self, generation: int) -> None:
        """Announce the generation whose candidates are now being evaluated."""
        self.label = f"gen {generation}/{self.generations - 1}"
        if self._live:
            self._bar.update(self._task, generation=self.label)

    def update(self, row: Candidate) -> None:
        """Account for one finished candidate (a store row)."""
        self.done += 1
        o = row.outcome
        self.failed += o.status in ("failed", "rejected")
        if o.status in ("ok", "duplicate") and o.fitness is not None and (self.best is None or o.fitness > self.best[0]):
            self.best = (o.fitness, row.label or row.formula)
        best = f"{self.best[0]:.4f} {self.best[1]}" if self.best else "-"
        if self._live:
            self._bar.update(self._task, advance=1, failed=self.failed, best=best)
            return
        elapsed = time.monotonic() - self.started
        eta = _eta(elapsed / (self.done - self.skipped) * (self.total - self.done))
        outcome = f"{o.status} {o.fitness:.4f}" if o.fitness is not None else f"{o.status}: {o.error}"
        self.console.print(
            f"[{self.label}] {self.done}/{self.total} #{row.id} {outcome} {row.label or row.formula}"
            f" | failed {self.failed} | best {best} | ETA {eta}", highlight=False, soft_wrap=True, markup=False,
        )

    def finished(self, row: Candidate) -> None:
        """Account for a candidate that got its outcome: screened out before training, or evaluated."""
        self.screened(row) if row.outcome.stage in ("static", "cache") else self.update(row)

    def resumed(self, row: Candidate) -> None:
        """Account for a candidate a resumed run found already finished."""
        self.done += 1
        self.skipped += 1
        if self._live:
            self._bar.update(self._task, advance=1)

    def note(self, message: str) -> None:
        """Say something about the run as a whole (resuming, a damaged checkpoint)."""
        self.console.print(f"evoact: {message}", highlight=False, soft_wrap=True, markup=False)

    def screened(self, row: Candidate) -> None:
        """Account for a candidate the cascade removed before training (rejected at stage 1, or a cache hit)."""
        o = row.outcome
        self.removed[o.stage] = self.removed.get(o.stage, 0) + 1
        summary = ", ".join(f"{k} {v}" for k, v in self.removed.items())
        if self._live:
            self._bar.update(self._task, screened=summary)
            return
        outcome = f"rejected ({o.error})" if o.status == "rejected" else f"duplicate of {o.equivalent_to}"
        self.console.print(f"[{self.label}] screened #{row.id} {row.formula}: {outcome} | removed so far: {summary}",
                           highlight=False, soft_wrap=True, markup=False)

    def close(self) -> None:
        """Stop the live display."""
        if self._live:
            self._bar.stop()


class CountProgress:
    """Progress of a known number of jobs (confirmation trainings): a bar on a terminal, a line per job otherwise."""

    def __init__(self, total: int, title: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.total, self.done, self.started = total, 0, time.monotonic()
        self._live = self.console.is_terminal
        if self._live:
            self._bar = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
            self._task = self._bar.add_task(title, total=total)
            self._bar.start()

    def update(self, message: str) -> None:
        """One job finished; ``message`` says which and how it went."""
        self.done += 1
        if self._live:
            self._bar.update(self._task, advance=1)
            return
        eta = _eta((time.monotonic() - self.started) / self.done * (self.total - self.done))
        self.console.print(f"{self.done}/{self.total} {message} | ETA {eta}", highlight=False, soft_wrap=True, markup=False)

    def close(self) -> None:
        """Stop the live display."""
        if self._live:
            self._bar.stop()
