"""Live searches with and without the surrogate stage: what it skipped, the time it saved, and what the runs found.

Run:  python bench/surrogate_live.py --with RUN [RUN ...] --without RUN [RUN ...] [--earlier FILE] [--out FILE]

The runs are finished default searches that differ only in ``--surrogate`` (or ``--surrogate-pool``) and are paired by
their seed. Reads the runs (trains nothing): per run its wall time, full trainings, training seconds (racing
included), the candidates the surrogate skipped and the training time its own estimate says that saved, the raced
winner, and where the run holds one (``evoact confirm RUN --group test --seeds 10 --top 1``) the winner's two ratios of
the held-out goal on the test group: the mean and the worst over the test tasks of its test measure relative to the
best of GELU, SiLU and Mish there. Validation-group results come from ``bench/fitness_choice.py``. ``--earlier`` takes
the runs without the surrogate from an earlier output of this script, for the seeds that ``--without`` has no run of
(their folders need not exist any more); the table marks them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from scipy.stats import ttest_rel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.api import open_run  # noqa: E402


def measured(path: str) -> dict:
    """One run's numbers."""
    run = open_run(path)
    overview, cascade = run.overview(), run.cascade()
    row = {
        "run": Path(path).name,
        "seed": overview.seed,
        "surrogate": (
            f"pool {run.config.screening.surrogate_pool}"
            if run.config.screening.selecting
            else f"top {run.config.screening.surrogate:g}"
            if run.config.screening.surrogate
            else None
        ),
        "wall": overview.seconds,
        "trained": cascade.fully_trained,
        "train": cascade.train_seconds + cascade.race_seconds,
        "skipped": cascade.skipped_surrogate,
        "saved": cascade.surrogate_seconds_saved,
        "per_training": cascade.full_training_seconds,
        "winner": overview.best.formula if overview.best else "-",
        "fitness": overview.best.fitness if overview.best else None,
        "mean": None,
        "worst": None,
    }
    confirmation = run.confirmation()
    test = (confirmation.groups or {}).get("test") if confirmation else None
    if test is not None and overview.best is not None:
        top = next((r for r in test.rows if r.id == overview.best.id), None)
        if top is not None:
            row["mean"], row["worst"] = top.mean, top.worst
    run.close()
    return row


#: The table's columns: each row's key (as ``measured`` gives it) and its heading.
_COLUMNS = (
    ("run", "run"),
    ("seed", "seed"),
    ("surrogate", "surrogate"),
    ("wall", "wall (s)"),
    ("trained", "full trainings"),
    ("train", "training s (racing included)"),
    ("skipped", "skipped by the surrogate"),
    ("saved", "saved by it (its estimate, s)"),
    ("per_training", "s per full training"),
    ("winner", "raced winner"),
    ("fitness", "fitness"),
    ("mean", "test mean ratio"),
    ("worst", "test worst ratio"),
)


def earlier(path: str) -> list[dict]:
    """The rows without the surrogate of an earlier output of this script, as ``measured`` gives a run's."""
    rows = []
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(_COLUMNS) or cells[2] != "off" or not cells[1].isdigit():
            continue
        row = dict(zip((key for key, _ in _COLUMNS), cells))
        row.update(
            run=f"{row['run']} (earlier: {Path(path).name})",
            seed=int(row["seed"]),
            surrogate=None,
            winner=row["winner"].strip("`"),
        )
        for key in ("wall", "trained", "train", "skipped", "saved", "per_training"):
            row[key] = float(row[key])
        for key in ("fitness", "mean", "worst"):
            row[key] = None if row[key] == "-" else float(row[key])
        rows.append(row)
    if not rows:
        raise SystemExit(f"{path}: no rows without the surrogate in it")
    return rows


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="with_", nargs="+", required=True)
    parser.add_argument("--without", nargs="*", default=[])
    parser.add_argument("--earlier", help="an earlier output of this script: its runs without the surrogate")
    parser.add_argument("--out", default="bench/results/surrogate_live.md")
    args = parser.parse_args()
    on, off = [measured(p) for p in args.with_], [measured(p) for p in args.without]
    if args.earlier:
        seeds = {r["seed"] for r in off}
        off += [r for r in earlier(args.earlier) if r["seed"] not in seeds]
    if not off:
        parser.error("give the runs without the surrogate: --without RUN ... or --earlier FILE")
    lines = [
        "# Live default searches with and without the surrogate stage",
        "",
        f"Command: `python bench/surrogate_live.py --with {' '.join(args.with_)}"
        + (f" --without {' '.join(args.without)}" if args.without else "")
        + (f" --earlier {args.earlier}" if args.earlier else "")
        + "` (reads the runs; trains nothing).",
        "",
        "| " + " | ".join(heading for _, heading in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for r in off + on:
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['surrogate'] or 'off'} | {r['wall']:.0f} | {r['trained']:.0f} |"
            f" {r['train']:.0f} | {r['skipped']:.0f} | {r['saved']:.0f} | {r['per_training']:.1f} | `{r['winner']}` |"
            f" {_num(r['fitness'])} | {_num(r['mean'])} | {_num(r['worst'])} |"
        )
    pairs = {r["seed"]: r for r in off}
    paired = [(pairs[r["seed"]], r) for r in on if r["seed"] in pairs]
    if not paired:
        parser.error("no seed has a run both with and without the surrogate: nothing to pair")
    lines += [
        "",
        f"Paired by seed ({len(paired)} pairs; two-sided paired t-test, a few seeds: read the means):"
        if len(paired) > 1
        else "One pair: no test is possible; read it as one data point.",
        "",
    ]
    for key, what in (
        ("wall", "wall time (s)"),
        ("trained", "full trainings"),
        ("train", "training seconds"),
        ("fitness", "the winner's raced fitness"),
        ("mean", "the winner's mean ratio on the test group"),
        ("worst", "the winner's worst ratio on the test group"),
    ):
        if any(p[0][key] is None or p[1][key] is None for p in paired):
            lines.append(f"- {what}: not measured for every pair")
            continue
        a, b = [p[0][key] for p in paired], [p[1][key] for p in paired]
        p = ttest_rel(b, a).pvalue if len(paired) > 1 and a != b else float("nan")
        lines.append(
            f"- {what}: {statistics.fmean(a):.4g} without, {statistics.fmean(b):.4g} with"
            f" ({statistics.fmean(b) / statistics.fmean(a):.2f}x" + (f"; p = {p:.2g})" if len(paired) > 1 else ")")
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
