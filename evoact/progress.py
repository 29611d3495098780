"""Live progress of long work (a search, a confirmation): a rich display on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evoact.hooks import BestSoFar, Hook
from evoact.records import Candidate, Stage, Status
from evoact.terminal import measure, plain, shorten


def _eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class _Pace:
    """Time left at this session's own pace, timed from when the first wave of ``workers`` jobs is in, and said once
    a second wave is: before, the start's cost (Ray's workers, the tasks' data) would count as if every job paid it,
    and results of workers started together, which come at once, would make any pace too slow or too fast."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.wave_at: float | None = None
        self.wave = 0

    def remaining(self, fresh: int, left: int) -> str:
        """The time ``left`` jobs take at the pace of the ``fresh`` ones done so far, or "-" while too few are."""
        if left <= 0:  # a first wave that was the whole session's work has no pace, and needs none
            return _eta(0)
        if self.wave_at is None:
            if fresh > 0 and fresh >= min(self.workers, fresh + left):
                self.wave_at, self.wave = time.monotonic(), fresh
            return "-"
        if fresh - self.wave < min(self.workers, fresh - self.wave + left):
            return "-"
        return _eta((time.monotonic() - self.wave_at) / (fresh - self.wave) * left)


class SearchProgress(Hook):
    """Shows the generation, evaluations done out of the budget, rejections, failures, the best fitness and an ETA.

    An evaluation is what a generation's quota counts: a candidate that passed static screening (trained, rejected
    in training, or reused from the cache); ``total`` of them make the budget's number (96 at ``quick``), the
    ``baselines`` are counted apart (``baseline 2/4``), and generations are numbered from 0, as ``show``'s ``gen``
    column. The ETA comes from this session's own pace after its first wave of ``workers`` evaluations
    (``_Pace``), so neither the start's cost nor a resumed run's earlier work hastens or slows it. Racing's extra
    seeds are counted apart (``raced 6``), outside the ETA. Lines fit 80 columns, the live display its terminal's
    width: long formulas end in an ellipsis. ``trainings``: the quota counts trainings (``--surrogate-pool``), so
    reuses are shown uncounted and the candidates the surrogate ranked out not at all (the run's note says how many
    it ranked).
    """

    def __init__(
        self,
        total: int,
        generations: int,
        console: Console | None = None,
        workers: int = 1,
        baselines: int = 0,
        trainings: bool = False,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.trainings = trainings
        self.total, self.generations, self.baselines = total, generations, baselines
        self.done = self.failed = self.rejected = self.skipped = self.baselines_done = 0
        self.ranked_out = 0  # of the rejected: candidates the surrogate stage did not train
        self.race_done = 0  # racing's extra seeds this session (trained, or reused from the cache)
        self.every = False  # count every proposal, screened out or not (``planned``)
        self.removed: dict[str, int] = {}
        self._counted: set[int] = set()  # a resumed run's candidates may be reported twice: count each once
        self._so_far = BestSoFar()
        self.label = "baselines"
        self._pace = _Pace(workers)
        self._live = self.console.is_terminal
        # the best's formula: 12 characters in 80 columns, more in a wider live display
        self._width = max(12, min(60, self.console.width - 68)) if self._live else 12
        if self._live:
            self._bar = Progress(
                TextColumn("[bold]{task.fields[generation]}"),
                BarColumn(bar_width=10),
                MofNCompleteColumn(),
                TextColumn(
                    "rej {task.fields[rejected]} fail {task.fields[failed]}{task.fields[raced]}"
                    " best {task.fields[best]} ETA {task.fields[eta]}"
                ),
                console=self.console,
            )
            self._task = self._bar.add_task(
                "search", total=total, generation=self._stage(), failed=0, rejected=0, raced="", best="-", eta="-"
            )
            self._bar.start()

    def start(self, config: dict[str, Any]) -> None:
        """Say what the first seconds do, before any result can be shown (Ray's start took about 17 s on a loaded
        machine, in silence)."""
        workers = f"{self._pace.workers} worker{'s' if self._pace.workers > 1 else ''}"
        ray = f"on the Ray cluster at {config['address']}" if config.get("address") else "(Ray)"
        self.console.print(
            f"evoact: starting {workers} {ray} and loading the tasks' data",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )

    def planned(self, proposals: int) -> None:
        """An enumeration's budget: its ``proposals``, all counted, static screening's too (the ETA's pace then
        includes the instant ones, which the enumeration's shuffled order spreads evenly)."""
        self.total, self.every = proposals, True
        if self._live:
            self._bar.update(self._task, total=proposals)

    def generation(self, generation: int) -> None:
        """Announce the generation whose candidates are now being evaluated."""
        self.label = f"gen {generation} of 0-{self.generations - 1}"
        self._show()

    @property
    def best(self) -> tuple[float, str] | None:
        """The best fitness so far and its function's name, as the ranking orders them (``BestSoFar``)."""
        return self._so_far.best

    def _best(self) -> str:
        """The best as the ranking orders it; a raced mean says over how many seeds (a mean can fall as seeds come)."""
        best, seeds = self.best, self._so_far.seeds
        if best is None:
            return "-"
        return f"{measure(best[0])}{f' (mean of {seeds})' if seeds > 1 else ''} {shorten(best[1], self._width)}"

    def _stage(self) -> str:
        """The generation, or the baselines done while they train (the bar counts the evaluations)."""
        return f"baselines {self.baselines_done}/{self.baselines}" if self.label == "baselines" else self.label

    def _rejected(self) -> str:
        """The rejections, as ``show`` counts them (those screened out before training too, which are replaced, so
        not among the evaluations), and how many of them the surrogate skipped (not trained, unlike the cascade's
        others)."""
        rejected = self.rejected + (0 if self.every else self.removed.get(Stage.STATIC, 0))
        return f"{rejected} ({self.ranked_out} skipped by the surrogate)" if self.ranked_out else str(rejected)

    def _eta(self) -> str:
        done = self.done + self.baselines_done
        left = max(0, self.total - self.done) + max(0, self.baselines - self.baselines_done)
        return self._pace.remaining(done - self.skipped, left)

    def _show(self) -> None:
        if self._live:
            self._bar.update(
                self._task,
                completed=self.done,
                generation=self._stage(),
                failed=self.failed,
                raced=f" raced {self.race_done}" if self.race_done else "",
                rejected=self._rejected(),
                best=self._best(),
                eta=self._eta(),
            )

    def _uncounted(self, row: Candidate) -> bool:
        """Not one of the quota's trainings: a reuse or a ranked-out candidate, where the quota counts trainings."""
        return self.trainings and not row.label and row.outcome.stage in (Stage.CACHE, Stage.SURROGATE)

    def _count(self, row: Candidate) -> None:
        if row.id in self._counted:
            return
        self._counted.add(row.id)
        o = row.outcome
        if o.stage is not None and (o.stage in (Stage.STATIC, Stage.CACHE) or self._uncounted(row)):
            self.removed[o.stage] = self.removed.get(o.stage, 0) + 1
        if o.stage == Stage.STATIC and not self.every:  # refilled: not one of the budget's evaluations
            return
        if not self._uncounted(row):
            if row.label:
                self.baselines_done += 1
            else:
                self.done += 1
            self.rejected += o.status == Status.REJECTED
            self.ranked_out += o.stage == Stage.SURROGATE
            self.failed += o.status == Status.FAILED
        self._best_of(row)

    def _best_of(self, row: Candidate) -> None:
        self._so_far.update(row)

    def raced(self, row: Candidate) -> None:
        """Another seed of a raced candidate: counted, and the best shown follows the ranking's mean."""
        self.race_done += 1
        self._best_of(row)
        self._show()
        if not self._live:
            mean = measure(row.raced_fitness)
            failed = f", {row.raced_failed} failed" if row.raced_failed else ""
            what = row.label or shorten(row.formula, 40)
            self._line(f"raced #{row.id} {what}: mean {mean} over {row.raced_seeds} seeds{failed}")

    def scored(self, row: Candidate) -> None:
        """A baseline's fitness, set once the references are known: it counts for the best shown, as after a
        resume."""
        self._best_of(row)
        self._show()

    def finished(self, row: Candidate) -> None:
        """Account for a candidate that got its outcome: screened out before training, reused, or evaluated."""
        self._count(row)
        self._show()
        if self._live:
            return
        o = row.outcome
        what = row.label or shorten(row.formula, 40)
        count = f"baseline {self.baselines_done}/{self.baselines}" if row.label else f"{self.done}/{self.total}"
        if self._uncounted(row):
            if o.stage == Stage.CACHE:
                self._line(f"reused #{row.id} {what}: duplicate of {shorten(o.equivalent_to or '', 50)}")
            return
        if o.stage == Stage.STATIC:
            self._line(
                f"{f'{count} ' if self.every else ''}screened out #{row.id} {what}: {shorten(o.error or '', 60)}"
            )
        elif o.stage == Stage.CACHE:
            self._line(f"{count} #{row.id} {what}: duplicate of {shorten(o.equivalent_to or '', 50)}")
        else:
            outcome = (
                f"{o.status} {measure(o.fitness)}"
                if o.fitness is not None
                else o.status
                if o.status == Status.OK
                else f"{o.status}: {shorten(o.error or '', 60)}"
            )
            self._line(f"{count} #{row.id} {outcome} {what}")

    def _line(self, text: str) -> None:
        raced = f" | raced {self.race_done}" if self.race_done else ""
        self.console.print(
            f"[{self.label}] {text} | rejected {self._rejected()} | failed {self.failed}{raced} | best {self._best()}"
            f" | ETA {self._eta()}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )

    def resumed(self, row: Candidate) -> None:
        """Account for a candidate a resumed run found already finished."""
        before = self.done + self.baselines_done
        self._count(row)
        self.skipped += self.done + self.baselines_done - before
        self._show()

    def note(self, message: str) -> None:
        """Say something about the run as a whole (resuming, a damaged checkpoint)."""
        self.console.print(f"evoact: {plain(message)}", highlight=False, soft_wrap=True, markup=False)

    def close(self) -> None:
        """Stop the live display."""
        if self._live:
            self._bar.stop()


class CountProgress:
    """Progress of a known number of jobs (confirmation trainings): a bar on a terminal, a line per job otherwise; the
    ETA is timed from a first wave of ``workers`` jobs, as a search's is."""

    def __init__(self, total: int, title: str, console: Console | None = None, workers: int = 1) -> None:
        self.console = console or Console(stderr=True)
        self.total, self.done, self._pace = total, 0, _Pace(workers)
        self._live = self.console.is_terminal
        if self._live:
            self._bar = Progress(
                TextColumn(f"[bold]{title}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA {task.fields[eta]}"),
                console=self.console,
            )
            self._task = self._bar.add_task(title, total=total, eta="-")
            self._bar.start()

    def update(self, message: str) -> None:
        """One job finished; ``message`` says which and how it went."""
        self.done += 1
        eta = self._pace.remaining(self.done, self.total - self.done)
        if self._live:
            self._bar.update(self._task, advance=1, eta=eta)
            return
        self.console.print(
            f"{self.done}/{self.total} {plain(message)} | ETA {eta}", highlight=False, soft_wrap=True, markup=False
        )

    def close(self) -> None:
        """Stop the live display."""
        if self._live:
            self._bar.stop()
