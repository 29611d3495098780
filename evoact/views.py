"""What the command line prints: a run, the runs of a folder, runs side by side and a confirmation, as rich tables."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from evoact.commands import confirm_command, resume_command
from evoact.comparison import tables
from evoact.config import SearchConfig
from evoact.options import option_values
from evoact.records import Candidate, RunState, Stage, Status
from evoact.run import RunReader
from evoact.run_files import DB_FILE
from evoact.summaries import (
    FAILED_MORE,
    BaselineRow,
    Confirmation,
    ConfirmedVerdict,
    ParetoPoint,
    RankedCandidate,
    RunOverview,
    RunSummary,
    TaskMean,
    Verdict,
)
from evoact.tasks import SUITES
from evoact.terminal import measure, shorten, shown

console = Console(width=None if sys.stdout.isatty() else 160)


def print_run(run: RunReader, summary: RunSummary, top: int, status: Status | str | None) -> None:
    """A run's header, cascade, ranking (or one status's candidates), per-task scores, Pareto front and confirmation."""
    config = run.config
    console.print(
        f"[bold]{shown(str(run.path))}[/]  state: {summary.state}"
        + (
            f" ({shown(summary.stopped_because)}"
            + ("" if summary.state == RunState.FINISHED else "; evoact resume continues it")
            + ")"
            if summary.stopped_because
            else ""
        )
        + f"  {config.algorithm} over {shown(config.space)}"
        f"  tasks: {shown(', '.join(config.tasks))}  selection: {config.selection}"
        + (f" (aggregate: {config.aggregate})" if len(config.tasks) > 1 else "")
        + f"  seed: {config.seed}"
        + ("  mode: async (results in the order they arrived)" if config.steady else ""),
        highlight=False,
    )
    baselines = len(summary.baselines)
    console.print(
        f"candidates: {sum(summary.counts.values()) - baselines} proposed and {baselines} baselines; "
        + ", ".join(f"{k} {v}" for k, v in summary.counts.items()),
        highlight=False,
    )
    if not sum(summary.counts.values()) and summary.state != RunState.RUNNING:
        console.print(
            f"note: no candidate is stored: its search stopped before it stored one, or this folder was copied"
            f" without {DB_FILE}-wal while a search wrote it (the database's log holds what was not yet moved into"
            " the database; copy the folder again with it)",
            highlight=False,
            soft_wrap=True,
        )
    print_verdict(summary.verdict, "the tables below")

    def rejected(origin: str) -> str:
        n = summary.user_trees_rejected.get(origin, 0)
        return f"; {n} rejected by the cascade: show --status rejected says why" if n else ""

    if config.guesses or config.warm_trees:
        console.print(
            "first generation also seeded with: "
            + ", ".join(
                (
                    [
                        f"{len(config.guesses)} guess{'es' if len(config.guesses) > 1 else ''} (origin 'guess'"
                        f"{rejected('guess')})"
                    ]
                    if config.guesses
                    else []
                )
                + (
                    [
                        f"{len(config.warm_trees)} of {shown(str(config.warm_start))}'s best (origin 'warm start'"
                        f"{rejected('warm start')})"
                    ]
                    if config.warm_trees
                    else []
                )
            ),
            highlight=False,
        )
    b = summary.cascade
    failed_baselines = sum(r.candidate.status == Status.FAILED for r in summary.baselines)  # beside the proposed ones
    reasons = ", ".join(f"{k} {v}" for k, v in b.static_reasons.items())
    per_task = ", ".join(f"{shown(t)} {n}" for t, n in b.rejected_quality_by_task.items())
    console.print(
        f"cascade: {b.proposed} proposed -> {b.rejected_static} rejected by static screening"
        + (f" ({shown(reasons)})" if reasons else "")
        + f", {b.cache_hits} cache hit{'' if b.cache_hits == 1 else 's'} (functions met before: status duplicate)"
        + (f", {b.skipped_surrogate} skipped by the surrogate" if b.skipped_surrogate else "")
        + (
            f" (ranked below their generation's top; the pool proposes {config.screening.surrogate_pool}x)"
            if b.skipped_surrogate and config.screening.surrogate_pool > 1
            else ""
        )
        + f", {b.rejected_stability} rejected as unstable,"
        f" {b.rejected_quality} below a task's quality hurdle"
        + (f" ({per_task})" if per_task else "")
        + f", {b.fully_trained} fully trained, {b.failed} failed"
        + (f", {b.pending} not evaluated yet" if b.pending else "")
        + (
            f" (and {failed_baselines} baseline{'s' if failed_baselines > 1 else ''} failed)"
            if failed_baselines
            else ""
        ),
        highlight=False,
    )
    if b.hurdles:
        console.print(
            "hurdles: "
            + ", ".join(
                f"{shown(t)} {shown(h['metric'])} {'>=' if h['metric'] == 'accuracy' else '<='} {h['limit']:.4g}"
                for t, h in b.hurdles.items()
            ),
            highlight=False,
        )
    console.print(
        f"training time: {b.train_seconds:.0f} s spent, about {b.train_seconds_saved:.0f} s saved by the cascade"
        f" ({b.full_training_seconds:.1f} s per full training"
        + (
            f"; the surrogate skipped {b.skipped_surrogate}, about {b.surrogate_seconds_saved:.0f} s"
            if b.skipped_surrogate and b.surrogate_seconds_saved
            else ""
        )
        + ")",
        highlight=False,
    )
    if b.surrogate_prior:
        console.print(
            "surrogate: started from "
            + " and ".join(f"{n} {shown(source)}" for source, n in b.surrogate_prior.items())
            + ", and learns from this run's results",
            highlight=False,
        )
    if b.race_trainings:
        best = next((r.candidate for r in summary.ranking if not r.candidate.label), None)
        first = f" (the first: {shorten(' '.join(b.race_error.split()), 160)})" if b.race_error else ""
        failed = f"; {b.race_failed} of them failed{first}" if b.race_failed else ""
        if b.single_seed_best is None or best is None:
            outcome = "; no evolved candidate has trained yet"
        elif best.raced_seeds < 2:  # the first evolved is ranked by one seed: no mean to name a best by
            outcome = "; no evolved candidate has a mean over seeds yet: the ranking is by first seeds" + (
                ", and a candidate that failed a raced seed ranks below those that did not (a task that fails on some"
                " seeds for every function needs mending)"
                if b.race_failed
                else ""
            )
        else:
            outcome = f"; the best by one seed was #{b.single_seed_best}" + (
                ", also the best by the mean"
                if b.single_seed_best == best.id
                else f", the best by the mean is #{best.id}"
            )
        console.print(
            shown(
                f"racing: each candidate in the top k = {config.race_top} trains on n = {config.race_seeds} seeds and"
                f" ranks by their mean: {b.race_trainings} extra trainings ({b.race_reused} reused from the fitness"
                f" cache), {b.race_seconds:.0f} s{failed}{outcome}"
            ),
            highlight=False,
        )
    rows: list[tuple[int | None, Candidate]]
    variants: dict[int, RankedCandidate] = {}
    if status:
        rows, title = list(enumerate(summary.candidates or (), 1)), f"{status} candidates (first {top})"
    else:
        listed = {r.candidate.id for r in summary.ranking}
        ranked: list[RankedCandidate | BaselineRow] = [*summary.ranking]
        ranked += [b for b in summary.baselines if b.rank and b.candidate.id not in listed]
        rows = sorted(((r.rank, r.candidate) for r in ranked), key=lambda pair: pair[0] or 0)
        rows += [(None, b.candidate) for b in summary.baselines if not b.rank]  # failed: below, with why
        variants = {r.candidate.id: r for r in summary.ranking if r.variant_of is not None}
        title = f"ranking (top {top} and every baseline; fitness = {run.fitness_measure()})"
    test = run.test_measure  # several tasks: their measures follow in a table of their own
    if test and config.racing:
        test += " (first seed)"  # beside a fitness that is the mean over the raced seeds
    table = Table(title=title, title_justify="left")
    ranks = [] if status else ["rank"]  # a list of one status is in id order: no rank to show
    for col in (*ranks, "id", "formula", "fitness", *([test] if test else []), "tree nodes", "gen", "status"):
        table.add_column(col, justify="left" if col in ("formula", "status") else "right", overflow="fold")
    for rank, r in rows:
        if r.id in variants:
            continue  # listed under the function it rescales
        o = r.outcome
        formula = shown(r.formula)
        same = [v for v in variants.values() if v.variant_of == r.id]
        if same:
            formula += "\n" + "\n".join(
                f"  [dim]rank {v.rank}: variant #{v.candidate.id} = {v.factor or 0:.3g} x this{v.shifted}:"
                f" {shown(v.candidate.formula)}"
                f" ({_fitness(v.candidate)})[/]"
                for v in same
            )
        note = (
            o.status
            + (f" [{o.stage}]" if o.stage else "")
            + (f" ({o.error})" if o.error else "")
            + (f" = #{o.duplicate_of}" if o.duplicate_of else "")
        )
        measured = [measure(run.test_value(r))] if test else []
        table.add_row(
            *([] if status else ["-" if rank is None else str(rank)]),
            str(r.id),
            f"[cyan]baseline {shown(r.label)}[/]: {formula}" if r.label else formula,
            _fitness(r),
            *measured,
            str(r.nodes or "-"),
            "-" if r.generation is None else str(r.generation),
            shown(note),
        )
    console.print(table)
    if len(config.tasks) > 1 and not status:
        means = {r.candidate.id: r.task_means for r in summary.ranking}
        means.update({b.candidate.id: b.task_means for b in summary.baselines})
        _task_scores(run.metrics, [(r, means.get(r.id, {})) for _, r in rows])
    if config.selection == "pareto" and not status:
        _pareto(summary.pareto_front or (), config)
    if summary.confirmation and not status:
        print_confirmation(summary.confirmation)
        if unconfirmed := _unconfirmed_best(summary, run.path, config.tasks):
            console.print(f"note: {shown(unconfirmed)}", highlight=False, soft_wrap=True)


def _unconfirmed_best(summary: RunSummary, path: Path, tasks: Sequence[str]) -> str | None:
    """A note where the run's best is not among the functions its confirmations trained (they were made before the
    search went on, or of others), so that their tables are not read as the best's."""
    assert summary.confirmation is not None
    confirmed = {r.formula for t in summary.confirmation.tasks.values() for r in t.rows if not r.baseline}
    best = next((r.candidate for r in summary.ranking if not r.candidate.label), None)
    if best is None or best.formula in confirmed:
        return None
    return (
        f"the confirmation above does not cover the run's best, #{best.id} (it confirmed others, or came before the"
        f" search went on); {confirm_command(path, tasks)} trains it"
    )


def _rescaled(described: str | None) -> bool:
    """Whether a rediscovery is a known function times a factor (``2 × Mish``), as ``Match.described`` writes it; one
    at its own ``beta`` (``SiLU / Swish (beta = 1.5)``), or of -x, is the function itself."""
    return described is not None and " × " in described


def _task_scores(metrics: dict[str, str], rows: list[tuple[Candidate, Mapping[str, TaskMean]]]) -> None:
    """Each task's validation measure of the ranked rows: accuracy (higher is better) or loss (lower is better); a
    raced row's is the mean over its seeds, with their number."""
    table = Table(
        title="per task: validation accuracy (acc) or loss; a raced candidate's is the mean over its seeds (n);"
        " 'rejected' marks the task whose quality hurdle a candidate missed; 'cached' a fitness taken from the"
        " shared fitness cache, which keeps no per-task measures (its source: evoact inspect)",
        title_justify="left",
    )
    table.add_column("id", justify="right")
    for task, metric in metrics.items():
        table.add_column(
            f"{shown(task)} ({'acc' if metric == 'accuracy' else 'loss'})", justify="right", overflow="fold"
        )
    for r, means in rows:
        cells = []
        for task, metric in metrics.items():
            s, mean = r.outcome.scores.get(task), means.get(task)
            if mean is not None and mean.mean is not None and (mean.seeds > 1 or s is None):
                cells.append(f"{measure(mean.mean)} ({mean.seeds})")
            elif s is None:
                cells.append("cached" if r.outcome.stage == Stage.CACHE else "-")
            else:
                cells.append("rejected" if s.stopped else measure(s.validation(metric)))
        table.add_row(str(r.id), *cells)
    console.print(table)


def _pareto(rows: tuple[ParetoPoint, ...], config: SearchConfig) -> None:
    table = Table(
        title=f"Pareto front ({len(rows)} candidates; task scores relative to the best baseline's)",
        title_justify="left",
    )
    names = [*config.tasks, *(["nodes"] if config.complexity_objective else [])]
    for col in ("id", "formula", *names):
        table.add_column(shown(col), justify="left" if col == "formula" else "right", overflow="fold")
    for r in rows:
        table.add_row(
            str(r.candidate.id),
            shown(r.candidate.formula),
            *(str(r.objectives[n]) if n == "nodes" else measure(r.objectives[n]) for n in names),
        )
    console.print(table)


def _fitness(row: Candidate) -> str:
    """The fitness the ranking uses: one training's, or the mean ± std over the raced seeds (and how many)."""
    failed = f", {row.raced_failed} failed" if row.raced_failed else ""
    if row.raced_seeds > 1 and row.raced_fitness is not None:
        return f"{measure(row.raced_fitness)} ± {measure(row.raced_std or 0.0)} ({row.raced_seeds}{failed})"
    if failed:
        return f"{measure(row.outcome.fitness)} (1{failed})"
    return measure(row.outcome.fitness)


def print_verdict(verdict: Verdict | None, tables: str) -> None:
    """The run's verdict in words, as ``show`` heads it and ``confirm`` ends: a rediscovery, a note when its best
    is no better than a baseline or leads only within noise, and what confirmations on fresh seeds found (``tables``:
    where their numbers are)."""
    if verdict is None:
        return
    given = verdict.winner.given
    if verdict.known_as:
        console.print(
            f"best evolved: #{verdict.winner.id} is {shown(verdict.rediscovery or verdict.known_as)}, a published"
            f" function{' rescaled' if _rescaled(verdict.rediscovery) else ''}"
            + (
                f", given to the search ({given}), not found by it"
                if given
                else " (a rediscovery: `evoact inspect` says how close)"
            ),
            highlight=False,
        )
    elif given:
        console.print(f"best evolved: #{verdict.winner.id} was given to the search ({given}), not found by it")
    if verdict.note:
        console.print(f"[yellow]note:[/] {shown(verdict.note)}", highlight=False)
    elif verdict.wins and (b := verdict.best_baseline) is not None and verdict.margin is not None:
        w = verdict.winner
        spread = [s for s in (w.std, b.std) if s is not None]
        console.print(
            f"[green]winner:[/] #{w.id} {shown(w.formula)} leads the best baseline {shown(b.name)} by"
            f" {measure(verdict.margin, signed=True)} in fitness ({measure(w.fitness)} against {measure(b.fitness)}"
            + (
                f", more than their seeds' spread, sd {measure(max(spread))}"
                if spread and verdict.margin > max(spread)
                else ""
            )
            + ")"
            + ("" if verdict.confirmed else "; `evoact confirm` checks it on fresh seeds and held-out tasks"),
            highlight=False,
        )
    said = {c.verdict: c.against for c in (verdict.confirmed or {}).values()}
    confirmed = [
        f"{v} {said[v]} {tasks}"
        for v in ("better", "no significant difference", "the same function", "worse", FAILED_MORE)
        if (tasks := verdict.confirmed_as(v))
    ]
    if confirmed:
        console.print(
            f"confirmed on fresh seeds: #{verdict.winner.id} {'; '.join(confirmed)} (paired t-tests against each"
            f" task's best baseline, better Holm-adjusted over the tasks judged; {tables})",
            highlight=False,
        )


def print_confirmation(summary: Confirmation, markdown: bool = False) -> None:
    """Per task: mean ± std test measure over fresh seeds, differences and paired p-values against ReLU and the best
    baseline."""
    for title, header, rows in tables(summary):
        if markdown:
            click.echo(f"\n**{title}**\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
            for row in rows:
                cells = [c.replace("|", "\\|") for c in row]
                click.echo("| " + " | ".join(f"`{c}`" if i == 1 else c for i, c in enumerate(cells)) + " |")
            continue
        table = Table(title=shown(title), title_justify="left")
        for col in header:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(shown(c) for c in row))
        console.print(table)


#: The columns of ``evoact runs`` and of the dashboard's runs list.
RUNS_HEADER = (
    "run",
    "state",
    "tasks",
    "best (fitness, id)",
    "best baseline",
    "confirmed (tasks)",
    "candidates",
    "time",
    "continue or run again with",
)


def run_row(o: RunOverview) -> list[str]:
    """One run as a row under ``RUNS_HEADER`` (plain text: each view escapes it its own way)."""
    best, base = o.best, o.best_baseline
    unfinished = o.state in (RunState.INTERRUPTED, RunState.STOPPED)
    return [
        o.name,
        o.state
        + (f" ({shorten(o.stopped_because.splitlines()[0], 90)})" if o.stopped_because else "")
        + ("; being confirmed" if o.confirming else ""),
        _tasks_text(o.tasks),
        "-" if best is None else f"{measure(best.fitness)} #{best.id}",
        "-" if base is None else f"{measure(base.fitness)} {base.name}",
        _confirmed_cell(o),
        str(o.candidates),
        _duration(o.seconds),
        resume_command(o.path, o.tasks) if unfinished else o.command or "-",
    ]


#: How ``confirmed_text`` counts each verdict.
_VERDICT_WORDS = {
    "better": "better",
    "worse": "worse",
    FAILED_MORE: "failed more",
    "no significant difference": "tied",
    "the same function": "the baseline itself",
    "-": "undecided",
}


def _confirmed_cell(o: RunOverview) -> str:
    """A run's "confirmed" cell in ``runs`` and ``compare``: ``confirmed_text``, or why its confirmation is unread."""
    return "unreadable" if o.confirmation_unreadable else confirmed_text(o.confirmed)


def confirmed_text(confirmed: Mapping[str, ConfirmedVerdict] | None) -> str:
    """What confirmations said of a run's best, counted over its tasks (``1 better, 2 tied of 3``), or ``-``."""
    if not confirmed:
        return "-"
    counts = Counter(v.verdict for v in confirmed.values())
    said = [f"{counts[v]} {word}" for v, word in _VERDICT_WORDS.items() if counts[v]]
    return f"{', '.join(said)} of {len(confirmed)}"


def print_runs(folder: Path, overviews: Sequence[RunOverview], unreadable: Sequence[str]) -> None:
    """The runs of a folder, one row each, then the runs that could not be read."""
    table = Table(
        title=f"runs in {shown(str(folder))} (compare some: evoact compare RUN RUN ...)", title_justify="left"
    )
    for col in RUNS_HEADER[:-1]:
        table.add_column(col, overflow="fold")
    rows = [run_row(o) for o in overviews]
    for row in rows:
        table.add_row(*(shown(cell) for cell in row[:-1]))
    console.print(table)
    if rows:  # a whole line each, to copy (a table's narrow column would fold them)
        console.print(f"{RUNS_HEADER[-1]}:", highlight=False)
    for row in rows:
        console.print(f"  {shown(row[0])}: {shown(row[-1])}", highlight=False, soft_wrap=True)
    for line in unreadable:
        console.print(f"not listed: {shown(line)}", highlight=False)


def comparison_rows(opened: Sequence[RunReader], overviews: Sequence[RunOverview], top: int) -> list[list[str]]:
    """Runs side by side as rows of plain text: a label, then one cell per run (settings, results, best functions:
    one idea a rank, its variants counted)."""

    def best_baseline(o: RunOverview) -> str:
        return "-" if o.best_baseline is None else f"{measure(o.best_baseline.fitness)} {o.best_baseline.name}"

    best = {id(r): r.distinct(top) for r in opened}  # one idea a row, as confirm --top takes them

    def nth_best(r: RunReader, i: int) -> str:
        chosen, passed = best[id(r)]
        if len(chosen) <= i:
            return "-"
        variants = sum(head == chosen[i].id for _, head in passed)
        more = f" (+{variants} variant{'s' if variants > 1 else ''})" if variants else ""
        return f"{_fitness(chosen[i])} {chosen[i].formula}{more}"

    rows: list[tuple[str, Callable[[RunReader, RunOverview], str]]] = [
        ("state", lambda r, o: o.state),
        ("tasks", lambda r, o: _tasks_text(o.tasks)),
        ("seed", lambda r, o: str(o.seed)),
        ("budget", lambda r, o: o.budget),
        ("fitness", lambda r, o: r.fitness_measure()),
        ("candidates", lambda r, o: str(o.candidates)),
        ("time", lambda r, o: _duration(o.seconds)),
        ("best baseline", lambda r, o: best_baseline(o)),
        (
            "rank 1 confirmed (tasks)",
            lambda r, o: _confirmed_cell(o),
        ),
    ]
    values = {id(r): option_values(r.config) for r in opened}
    for r in opened:  # auto is a setting, not a mode: with the mode it ran in, as show and the report say it
        if values[id(r)].get("--mode") == "auto":
            values[id(r)]["--mode"] = f"auto ({r.mode})"
    above = {"--budget", "--seed", "--suite"}  # rows of their own
    differ = [f for f in values[id(opened[0])] if f not in above and len({v[f] for v in values.values()}) > 1]
    at = next(i for i, (label, _) in enumerate(rows) if label == "budget") + 1  # the settings that differ, after it
    rows[at:at] = [(f, lambda r, o, f=f: values[id(r)][f]) for f in differ]  # type: ignore[misc]
    rows += [(f"rank {i + 1}", lambda r, o, i=i: nth_best(r, i)) for i in range(top)]  # type: ignore[misc]
    return [[label, *(cell(r, o) for r, o in zip(opened, overviews))] for label, cell in rows]


def print_comparison(opened: Sequence[RunReader], overviews: Sequence[RunOverview], top: int) -> None:
    """Runs side by side: settings, results and each run's best functions."""
    table = Table(title="runs side by side", title_justify="left")
    table.add_column("")
    names = [o.name for o in overviews]
    for o in overviews:  # runs of one name in other folders: by their paths
        table.add_column(shown(o.name if names.count(o.name) == 1 else o.path), overflow="fold")
    for row in comparison_rows(opened, overviews, top):
        table.add_row(*(shown(cell) for cell in row))
    console.print(table)


def _tasks_text(tasks: tuple[str, ...] | list[str]) -> str:
    return next((f"{name} suite" for name, members in SUITES.items() if list(members) == list(tasks)), ", ".join(tasks))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"
