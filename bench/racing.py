"""What racing the elite changed and cost, per run: the best by one seed against the best by the raced mean.

Run:  python bench/racing.py runs/race-quick-s0 runs/race-quick-s1 ... [--out bench/results/racing.md]

Reads the runs (trains nothing). Racing's cost is its extra trainings' seconds against the run's other trainings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evoact.api import open_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines = [
        "# Racing the elite: the best by one seed against the best by the mean over the raced seeds",
        "",
        f"Command: `python bench/racing.py {' '.join(args.runs)}` (reads the runs; trains nothing).",
        "",
        "| run | budget | k, n | best by one seed | its raced mean (seeds) | best by the raced mean | changed |"
        " extra trainings | their seconds | share of training time | run minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    changed = 0
    for path in args.runs:
        run = open_run(path)
        cascade, config = run.cascade(), run.config
        best = run.best
        assert best is not None and cascade.single_seed_best is not None, f"{path}: not a raced run"
        first = run.candidate(cascade.single_seed_best)
        changed += first.id != best.id
        share = cascade.race_seconds / cascade.train_seconds if cascade.train_seconds else 0.0
        minutes = (run.duration() or 0.0) / 60
        lines.append(
            f"| {Path(path).name} | {config.budget} | {config.race_top}, {config.race_seeds} |"
            f" #{first.id} `{first.formula}` {first.outcome.fitness:.4f} |"
            f" {_raced(first.raced_fitness)} ({first.raced_seeds}) |"
            f" #{best.id} `{best.formula}` {_raced(best.raced_fitness)} ± {_raced(best.raced_std)} |"
            f" {'yes' if first.id != best.id else 'no'} | {cascade.race_trainings} | {cascade.race_seconds:.0f} |"
            f" {share:.0%} | {minutes:.1f} |"
        )
    lines += ["", f"The raced #1 differs from the single-seed #1 in {changed} of {len(args.runs)} runs."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def _raced(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
