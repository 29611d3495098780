"""A run as one self-contained HTML file: config, progress, cascade, hall of fame with plots and properties, baselines.

Images are embedded as data URIs and nothing is fetched, so the file opens anywhere, offline.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from evoact.catalog import labelled
from evoact.commands import confirm_command
from evoact.comparison import tables
from evoact.config import BOUNDS
from evoact.files import write_file
from evoact.inspection import describe_formula
from evoact.plotting import figure_png, plot_png, plt
from evoact.records import Candidate, RaceResult, Status, TaskScore
from evoact.run import RunReader
from evoact.store import RunStore
from evoact.summaries import ConfirmedVerdict, ParetoPoint, TaskMean, Verdict

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f3f3f3}code{font-size:13px}.entry{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
img{max-width:100%}.muted{color:#777}.warn{color:#a40}
"""


def image_tag(png: bytes, alt: str) -> str:
    """A PNG inlined as an ``img`` tag: the report stays one self-contained file."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    """An HTML table of escaped cells: numbers to 4 digits, None as ``-``, dicts and lists as JSON."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _with_spread(prop: dict[str, Any]) -> Any:
    """A property's value, with its quartiles where it was timed (a timing on a loaded machine spreads widely)."""
    if "quartiles" not in prop:
        return prop["value"]
    low, high = prop["quartiles"]
    return f"{_text(prop['value'])} (quartiles {_text(low)}-{_text(high)} over {prop.get('rounds', '?')} rounds)"


def _over_seeds(mean: float | None, std: float | None, seeds: int) -> Any:
    """A measure over seeds: ``0.912 ± 0.004 (3 seeds)``, or the one value of a single training."""
    if seeds < 2:
        return mean
    return f"{_text(mean)} ± {_text(std)} ({seeds} seeds)"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _learned_text(learned: Mapping[str, Sequence[float]]) -> str | None:
    """Each learned constant as its mean over the layers (and seeds) that trained it, with their range and count:
    what the exported module starts from, not the raw list of every layer's value."""
    parts = []
    for name, values in learned.items():
        if values:
            spread = f", {min(values):.3g} to {max(values):.3g}" if len(values) > 1 else ""
            counted = f"{len(values)} layer value{'s' if len(values) > 1 else ''}"
            parts.append(f"{name} = {statistics.fmean(values):.4g} ({counted}{spread})")
    return "; ".join(parts) or None


def progress_png(run: RunReader) -> bytes | None:
    """Best-so-far and median fitness per generation, with the best baseline as a line."""
    by_generation: dict[int, list[float]] = {}
    for r in run.store.candidates():
        if r.label is None and r.outcome.fitness is not None and r.generation is not None:
            by_generation.setdefault(r.generation, []).append(r.outcome.fitness)
    if not by_generation:
        return None
    generations = sorted(by_generation)
    medians = [statistics.median(by_generation[g]) for g in generations]
    best, bests = float("-inf"), []
    for g in generations:
        best = max(best, *by_generation[g])
        bests.append(best)
    fig, axis = plt.subplots(figsize=(7, 3.2), dpi=110)
    axis.plot(generations, bests, marker="o", label="best so far")
    axis.plot(generations, medians, marker="s", label="median of the generation")
    baselines = [r for r in run.store.ranked() if r.label]
    if baselines and baselines[0].rank_fitness is not None:
        axis.axhline(baselines[0].rank_fitness, color="grey", ls="--", label=f"best baseline ({baselines[0].label})")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("generation")
    several = len(run.config.tasks) > 1  # then relative to the best baseline, which the measure's words also say
    axis.set_ylabel(f"fitness ({'relative to the best baseline' if several else run.fitness_measure()})")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure_png(fig)


def curves_png(run: RunReader, top: int = 3) -> bytes | None:
    """Validation loss per epoch on each task, for the best candidates (solid) and the baselines (dashed)."""
    rows = run.ranking(top) + [r for r in run.store.baselines() if r.status == Status.OK]
    tasks = [
        t for t in run.config.tasks if any(t in r.outcome.scores and len(r.outcome.scores[t].curve) > 1 for r in rows)
    ]
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 3.0), dpi=100, squeeze=False)
    for axis, task in zip(axes[0], tasks):
        for row in rows:
            curve = row.outcome.scores[task].curve if task in row.outcome.scores else ()
            if len(curve) > 1:
                axis.plot(
                    range(1, len(curve) + 1),
                    curve,
                    ls="--" if row.label else "-",
                    lw=1 if row.label else 1.8,
                    label=row.label or f"#{row.id}",
                )
        axis.set_title(task, fontsize=9)
        axis.set_xlabel("epoch")
        axis.set_ylabel("validation loss")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return figure_png(fig)


@functools.lru_cache(maxsize=256)
def _described(formula: str, constants: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    """A formula's properties and nearest known functions, found once per process (as ``_formula_png``)."""
    return describe_formula(formula, dict(constants))


@functools.lru_cache(maxsize=256)
def _formula_png(formula: str, constants: tuple[tuple[str, float], ...]) -> bytes:
    """A formula's plot, drawn once per process: a live page re-renders the same hall of fame many times."""
    return plot_png(formula, dict(constants), title=formula)


def _score_note(row: Candidate, score: TaskScore | None) -> str:
    """What a task's row of measures cannot show: a hurdle that stopped the training, or a fitness from the cache."""
    if score is not None:
        return "stopped at the quality hurdle" if score.stopped else ""
    if row.outcome.stage == "cache":
        return "fitness from the shared fitness cache, which keeps no per-task measures"
    return ""


def _task_scores(run: RunReader, row: Candidate, means: Mapping[str, TaskMean], races: Sequence[RaceResult]) -> str:
    """A candidate's measures per task (its first training; raced, the validation mean over its seeds too: ``means``),
    and its fitness on each of its raced seeds (``races``) with their spread."""
    raced = any(m.seeds > 1 for m in means.values())
    rows = []
    for task, metric in run.metrics.items():
        score = row.outcome.scores.get(task)
        mean = means[task]
        rows.append(
            [
                task,
                metric,
                None if score is None else score.validation(metric),
                *([_over_seeds(mean.mean, mean.std, mean.seeds)] if raced else []),
                None if score is None else score.measure(metric),
                _score_note(row, score),
            ]
        )
    head = [
        "task",
        "metric",
        *(["validation, first training", "validation, raced: mean ± sd"] if raced else ["validation"]),
        "test",
        "",
    ]
    out = html_table(head, rows)
    if races:
        spread = "-" if row.raced_std is None else f"{row.raced_std:.4g}"
        seeds = ", ".join(f"{_text(r.fitness)} (seed {r.seed}, {r.status})" for r in races)
        out += (
            f"<p class='seeds'>Raced: mean {_text(row.rank_fitness)} &plusmn; {html.escape(spread)} (standard"
            f" deviation) over {row.raced_seeds} seeds; first training {_text(row.outcome.fitness)}, then"
            f" {html.escape(seeds)}.</p>"
        )
    return out


def _pareto(run: RunReader, points: tuple[ParetoPoint, ...]) -> str:
    """The Pareto front as a table: each task's score relative to the best baseline's, and size where it counted."""
    names = [*run.config.tasks, *(["nodes"] if run.config.complexity_objective else [])]
    return f"<h2 id='pareto'>Pareto front ({len(points)} candidates)</h2>" + html_table(
        ["id", "formula", *names],
        [[p.candidate.id, p.candidate.formula, *(p.objectives[n] for n in names)] for p in points],
    )


def _confirmed(c: ConfirmedVerdict) -> str:
    """What a confirmation said of the winner on a task, against the baseline it was compared with there."""
    return f"{c.verdict} {c.against} {c.best_baseline} (diff {_text(c.diff)}, {c.told})"


def _verdict(verdict: Verdict | None, confirm: str) -> str:
    """The answer first: the winner, its margin over the best baseline on each task, and whether it was confirmed."""
    if verdict is None:
        return "<div id='verdict'><h2>Verdict</h2><p class='muted'>no evolved candidate has a fitness yet</p></div>"
    w, b, margin = verdict.winner, verdict.best_baseline, verdict.margin
    called = "Winner" if verdict.wins else "Best evolved"
    head = (
        f"<p>{called}: candidate {w.id}"
        f" <code>{html.escape(w.formula)}</code>"
        + (
            f" (<b>{html.escape(verdict.rediscovery or verdict.known_as)}</b>, a published function)"
            if verdict.known_as
            else ""
        )
        + (f", given to the search ({html.escape(w.given)}), not found by it" if w.given else "")
        + f", fitness {_text(w.fitness)}"
        + (
            ""
            if b is None or margin is None
            else f" against the best baseline's {_text(b.fitness)} ({html.escape(str(b.name))}):"
            f" {'+' if margin >= 0 else ''}{_text(margin)}"
        )
        + ".</p>"
    )
    if verdict.note:
        head += f"<p class='warn'><b>Note:</b> {html.escape(verdict.note)}.</p>"
    confirmed = verdict.confirmed or {}
    raced = any(max(t.winner_seeds, t.baseline_seeds) > 1 for t in verdict.per_task.values())
    measured = "validation; raced: mean ± sd over its seeds" if raced else "validation, first training"
    rows = []
    for task, t in verdict.per_task.items():
        c = confirmed.get(task)
        rows.append(
            [
                task,
                t.metric,
                _over_seeds(t.winner, t.winner_std, t.winner_seeds),
                "-"
                if t.baseline is None
                else f"{_text(_over_seeds(t.baseline, t.baseline_std, t.baseline_seeds))} ({t.best_baseline})",
                "not confirmed" if c is None else _confirmed(c),
            ]
        )
    for task, c in confirmed.items():
        if task not in verdict.per_task:
            rows.append([f"{task} (not used by the search)", "-", "-", "-", _confirmed(c)])
    note = (
        ""
        if confirmed
        else f"<p class='muted'>Not confirmed yet: <code>{html.escape(confirm)}</code> re-trains it on fresh seeds"
        + (" of this run's own tasks.</p>" if "--trust-task" in confirm else " and held-out tasks.</p>")
    )
    return (
        "<div id='verdict'><h2>Verdict</h2>"
        + head
        + html_table(
            [
                "task",
                "metric",
                f"{called.lower()} ({measured})",
                f"best baseline ({measured})",
                "confirmed on fresh seeds",
            ],
            rows,
        )
        + note
        + "</div>"
    )


def _lineage(tree: dict[str, Any]) -> str:
    """A candidate's ancestry as nested lists."""
    item = (
        f"<li>#{html.escape(_text(tree['id']))} <code>{html.escape(tree['formula'])}</code>"
        f" ({html.escape(str(tree['origin']))}, generation {html.escape(_text(tree['generation']))},"
        f" fitness {html.escape(_text(tree['fitness']))})"
    )
    if tree["parents"]:
        item += "<ul>" + "".join(_lineage(p) for p in tree["parents"]) + "</ul>"
    return item + "</li>"


def render_report(store: RunStore, top: int = 10, head: str = "", nav: str = "") -> str:
    """The report's HTML text: the summary ``evoact show`` prints, with plots and each top candidate described.

    ``head`` and ``nav`` (trusted HTML, for the dashboard) go at the end of the head and the start of the body.
    """
    BOUNDS["report_top"].check("top", top)
    run = RunReader(store)
    summary = run.summary(top + len(store.baselines()))  # its ranking holds the hall of fame's ``top`` and variants
    config, test = run.config, run.test_measure
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>evoact report: {html.escape(store.path.name)}</title>",
        f"<style>{STYLE}</style>{head}</head><body>{nav}<h1>evoact run {html.escape(store.path.name)}</h1>",
    ]
    started = run.started_at
    when = "-" if started is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    seconds = run.duration()
    parts.append(
        f"<p id='run-facts'>{html.escape(summary.state)} &middot; started {html.escape(when)} &middot; took"
        f" {'-' if seconds is None else f'{seconds / 60:.1f} min'} &middot; run again with <code>"
        f"{html.escape(run.command() or '-')}</code></p>"
    )
    parts.append(_verdict(summary.verdict, confirm_command(store.path, config.tasks)))
    versions = run.versions
    parts.append(
        "<h2>Settings</h2>"
        + html_table(
            ["setting", "value"],
            [
                ["search space", config.space],
                ["algorithm", config.algorithm],
                ["mode", run.mode],
                ["tasks", ", ".join(config.tasks)],
                ["fitness", run.fitness_measure()],
                ["selection", config.selection],
                ["seed", config.seed],
                ["budget", config.budget],
                ["generations", config.generations],
                ["population / offspring", f"{config.evolution.population} / {config.evolution.offspring}"],
                ["epochs", config.training.epochs or f"each task's own x {config.training.epoch_scale:g}"],
            ],
        )
    )
    if versions:
        parts.append("<h3>Versions</h3>" + html_table(["package", "version"], [[k, v] for k, v in versions.items()]))
    parts.append("<h2 id='progress'>Progress</h2>")
    png = progress_png(run)
    parts.append(
        image_tag(png, "fitness over generations")
        if png
        else "<p class='muted'>no evolved candidate has a fitness yet</p>"
    )
    curves = curves_png(run)
    if curves:
        parts.append("<h2 id='curves'>Learning curves</h2>" + image_tag(curves, "validation loss per epoch"))
    b = summary.cascade
    parts.append(
        "<h2 id='cascade'>Rejection cascade</h2>"
        + html_table(
            ["stage", "candidates"],
            [
                ["proposed", b.proposed],
                ["rejected by static screening", b.rejected_static],
                ["reused from the fitness cache", b.cache_hits],
                ["skipped by the surrogate", b.skipped_surrogate],
                *([f"the surrogate started from: {source}", n] for source, n in b.surrogate_prior.items()),
                ["rejected as unstable", b.rejected_stability],
                ["below the quality hurdle", b.rejected_quality],
                ["fully trained", b.fully_trained],
                ["failed", b.failed],
                [
                    "training seconds spent / saved (estimate)",
                    f"{b.train_seconds:.0f} / {b.train_seconds_saved:.0f}",
                ],
            ],
        )
    )
    parts.append(
        "<h2 id='baselines'>Baselines</h2>"
        + html_table(
            ["baseline", "formula", "fitness", *([test] if test else []), "status"],
            [
                [c.label, c.formula, c.rank_fitness, *([run.test_value(c)] if test else []), c.status]
                for c in (row.candidate for row in summary.baselines)
            ],
        )
    )
    if summary.pareto_front is not None:
        parts.append(_pareto(run, summary.pareto_front))
    if summary.confirmation:
        parts.append("<h2 id='confirmation'>Confirmation on fresh seeds</h2>")
        for title, header, rows in tables(summary.confirmation):
            parts.append(f"<h3>{html.escape(title)}</h3>" + html_table(list(header), rows))
    parts.append("<h2 id='hall-of-fame'>Hall of fame</h2>")
    fame = [r for r in summary.ranking if not r.candidate.label][:top]
    for rank, ranked in enumerate(fame, 1):
        row, races = ranked.candidate, run.store.races(ranked.candidate.id)
        info = _described(row.formula, tuple(sorted(run.constants(row, races).items())))
        variant = (
            f" <span class='muted'>(a variant of #{ranked.variant_of}: {_text(ranked.factor)} &times; it"
            f"{ranked.shifted}, the same idea {'shifted' if ranked.shifted else 'rescaled'})</span>"
            if ranked.variant_of is not None
            else ""
        )
        parts.append(
            f"<div class='entry'><h3>#{rank} &middot; candidate {row.id}: <code>{html.escape(row.formula)}</code>"
            f"{variant}</h3>"
        )
        parts.append(
            html_table(
                [
                    "fitness",
                    "seeds",
                    *([test] if test else []),
                    "tree nodes",
                    "generation",
                    "origin",
                    "learned constants",
                ]
                + ["status"],
                [
                    [
                        row.rank_fitness,
                        row.raced_seeds,
                        *([run.test_value(row)] if test else []),
                        row.nodes,
                        row.generation,
                        row.origin,
                        _learned_text(run.learned(row, races)),
                        row.status,
                    ]
                ],
            )
        )
        parts.append(_task_scores(run, row, ranked.task_means, races))
        constants = tuple(sorted(info["constant_values"].items()))
        parts.append(image_tag(_formula_png(row.formula, constants), f"plot of {row.formula}"))
        if rank == 1:
            parts.append(f"<h4>Lineage</h4><ul id='lineage'>{_lineage(run.lineage(row.id))}</ul>")
        parts.append(
            html_table(
                ["property", "value", "found"],
                [[k, _with_spread(p), p["how"]] for k, p in info["properties"].items()],
            )
        )
        parts.append(
            html_table(
                ["nearest known", "distance", "rediscovery", "reference"],
                [
                    [
                        labelled(m["name"], m["mirrored"]),
                        m["distance"],
                        "yes" if m["rediscovery"] else "no",
                        m["reference"],
                    ]
                    for m in info["nearest_known"]
                ],
            )
        )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(store: RunStore, path: str | Path, top: int = 10) -> Path:
    """Write the report to ``path``."""
    path = Path(path)
    write_file(path, render_report(store, top))
    return path
