"""Benchmark: how long each budget's search takes, run as a user runs it (the CLI, default space and fitness).

Run:  python bench/budgets.py [--budgets quick standard] [--seed 0] [--runs-dir runs] [--out bench/results/budgets.md]

Each search runs in its own process (`evoact search --budget B --seed S --name budget-B-sS`) on this machine's
cores, and its wall time is measured from outside. The run directories stay, for `evoact confirm` and the README's
tables. Targets: quick at most 10 minutes, standard at most 45 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.api import open_run  # noqa: E402
from evoact.config import BUDGETS  # noqa: E402

TARGETS = {"tiny": 120, "quick": 600, "standard": 2700, "thorough": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", nargs="+", default=["quick", "standard"], choices=list(BUDGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs", help="a fresh folder times the search without the fitness cache")
    parser.add_argument("--out", default="bench/results/budgets.md")
    args = parser.parse_args()
    lines = [
        f"# Search budgets: wall time on {os.cpu_count()} cores",
        "",
        f"Command: `python bench/budgets.py --budgets {' '.join(args.budgets)} --seed {args.seed}"
        f" --runs-dir {args.runs_dir}`",
        "",
        "| budget | wall time | target | candidates proposed | evaluated (past static screening) | trained fully |"
        " racing trainings | best fitness (raced mean) | best baseline's |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for budget in args.budgets:
        name = f"budget-{budget}-s{args.seed}"
        command = [
            sys.executable,
            "-m",
            "evoact.cli",
            "search",
            "--budget",
            budget,
            "--seed",
            str(args.seed),
            "--name",
            name,
            "--runs-dir",
            args.runs_dir,
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        run = open_run(Path(args.runs_dir) / name)
        cascade, best = run.cascade(), run.best
        baseline = next((r for r in run.store.ranked() if r.label), None)
        target = TARGETS[budget]
        lines.append(
            f"| {budget} | {wall / 60:.1f} min | {'-' if target is None else f'{target / 60:.0f} min'} |"
            f" {cascade.proposed} | {cascade.proposed - cascade.rejected_static} | {cascade.fully_trained} |"
            f" {cascade.race_trainings} |"
            + ("- |" if best is None else f" {best.rank_fitness:.4f} (#{best.id} `{best.formula}`) |")
            + ("- |" if baseline is None else f" {baseline.rank_fitness:.4f} ({baseline.label}) |")
        )
        print(lines[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
