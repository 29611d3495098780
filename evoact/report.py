"""A run as one self-contained HTML file: config, progress, cascade, hall of fame with plots and properties, baselines.

Images are embedded as data URIs and nothing is fetched, so the file opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import json
import statistics
from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from evoact.confirmation import tables
from evoact.inspection import describe_candidate
from evoact.plotting import figure_png, plot_png, plt
from evoact.run import Run
from evoact.store import RunStore

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f3f3f3}code{font-size:13px}.entry{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
img{max-width:100%}.muted{color:#777}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def progress_png(run: Run) -> bytes | None:
    """Best-so-far and median fitness per generation, with the best baseline as a line."""
    evolved = [r for r in run.store.candidates() if r.label is None and r.outcome.fitness is not None and r.generation is not None]
    if not evolved:
        return None
    generations = sorted({r.generation for r in evolved})
    medians = [statistics.median(r.outcome.fitness for r in evolved if r.generation == g) for g in generations]
    best, bests = float("-inf"), []
    for g in generations:
        best = max(best, *(r.outcome.fitness for r in evolved if r.generation == g))
        bests.append(best)
    fig, axis = plt.subplots(figsize=(7, 3.2), dpi=110)
    axis.plot(generations, bests, marker="o", label="best so far")
    axis.plot(generations, medians, marker="s", label="median of the generation")
    baselines = [r for r in run.store.ranked() if r.label]
    if baselines:
        axis.axhline(baselines[0].outcome.fitness, color="grey", ls="--", label=f"best baseline ({baselines[0].label})")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("generation")
    axis.set_ylabel("fitness (validation accuracy)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure_png(fig)


def render_report(store: RunStore, top: int = 10) -> str:
    """The report's HTML text: the summary ``evoact show`` prints, with plots and each top candidate described."""
    run = Run(store)
    summary, config = run.summary(top), run.config
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>evoact report: {html.escape(store.path.name)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>evoact run {html.escape(store.path.name)}</h1>"]
    parts.append(_table(["setting", "value"], [
        ["state", summary["state"]], ["search space", config.space], ["algorithm", config.algorithm],
        ["tasks", ", ".join(config.tasks)], ["selection", config.selection], ["seed", config.seed],
        ["budget", config.budget], ["generations", config.generations],
        ["population / offspring", f"{config.evolution.population} / {config.evolution.offspring}"],
        ["epochs", config.training.epochs], ["versions", store.config().get("versions")],
    ]))
    parts.append("<h2>Progress</h2>")
    png = progress_png(run)
    parts.append(_img(png, "fitness over generations") if png else "<p class='muted'>no evolved candidate has a fitness yet</p>")
    b = summary["cascade"]
    parts.append("<h2>Rejection cascade</h2>" + _table(["stage", "candidates"], [
        ["proposed", b["proposed"]], ["rejected by static screening", b["rejected_static"]],
        ["reused from the fitness cache", b["cache_hits"]], ["rejected as unstable", b["rejected_stability"]],
        ["below the quality hurdle", b["rejected_quality"]], ["fully trained", b["fully_trained"]], ["failed", b["failed"]],
        ["training seconds spent / saved (estimate)", f"{b['train_seconds']:.0f} / {b['train_seconds_saved']:.0f}"],
    ]))
    parts.append("<h2>Baselines</h2>" + _table(["baseline", "formula", "fitness", "test acc", "status"], [
        [r["label"], r["formula"], r["fitness"], r["test_acc"], r["status"]] for r in summary["baselines"]]))
    if summary["confirmation"]:
        parts.append("<h2>Confirmation on fresh seeds</h2>")
        for title, header, rows in tables(summary["confirmation"]):
            parts.append(f"<h3>{html.escape(title)}</h3>" + _table(list(header), rows))
    parts.append("<h2>Hall of fame</h2>")
    for rank, row in enumerate(store.hall_of_fame(top), 1):
        info = describe_candidate(run, row.id)
        parts.append(f"<div class='entry'><h3>#{rank} &middot; candidate {row.id}: <code>{html.escape(row.formula)}</code></h3>")
        parts.append(_table(["fitness", "test acc", "nodes", "generation", "origin", "learned constants", "status"], [
            [row.outcome.fitness, row.outcome.test_acc, row.nodes, row.generation, row.origin, row["learned"] or None, row.status]]))
        parts.append(_img(plot_png(row.formula, info["constant_values"], title=row.formula), f"plot of {row.formula}"))
        parts.append(_table(["property", "value", "found"], [[k, p["value"], p["how"]] for k, p in info["properties"].items()]))
        parts.append(_table(["nearest known", "distance", "rediscovery", "reference"], [
            [m["name"], m["distance"], "yes" if m["rediscovery"] else "no", m["reference"]] for m in info["nearest_known"]]))
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(store: RunStore, path: str | Path, top: int = 10) -> Path:
    """Write the report to ``path``."""
    path = Path(path)
    path.write_text(render_report(store, top), encoding="utf-8")
    return path
