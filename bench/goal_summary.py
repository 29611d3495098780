"""The restated goal (issue #25) on the test group: each run's raced top function and the baselines, as ratios.

Run:  python bench/goal_summary.py runs/race-quick-s0 [runs/race-quick-s1 ...] [--out bench/results/goal_summary.md]

Reads what ``evoact confirm RUN --group test --seeds 10`` stored in each run; trains nothing. Per test task, a
function's test measure relative to the best of GELU, SiLU and Mish there (accuracy over the best accuracy, or the
best loss over its loss); the goal asks the raced top function for a mean ratio of at least 1.00 and a worst ratio
of at least 0.96 over the test tasks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evoact.api import open_run
from evoact.comparison import INTERVAL_NOTE, with_interval

MEAN_GOAL, WORST_GOAL = 1.00, 0.96


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--group", default="test")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines = [
        f"# The goal on the {args.group} group: mean and worst ratio to the best of GELU/SiLU/Mish per task",
        "",
        f"Command: `python bench/goal_summary.py {' '.join(args.runs)}` (reads each run's stored confirmation, made by"
        f" `evoact confirm RUN --group {args.group} --seeds 10`; trains nothing).",
        "",
        f"Goal: the run's top function (by its raced mean) reaches mean ratio >= {MEAN_GOAL:.2f} and worst ratio"
        f" >= {WORST_GOAL:.2f}. A ratio is the test measure relative to the best of GELU, SiLU and Mish on that task"
        " (accuracy / best, or best loss / loss), mean over the confirmation's seeds. In brackets:"
        f" {INTERVAL_NOTE} (`bench/results/interval_coverage.md`; confirmations stored before evoact computed them"
        " have none).",
        "",
        "| run | function | formula | mean ratio | worst ratio | worst task | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in args.runs:
        run = open_run(path)
        confirmation = run.confirmation()
        group = (confirmation.groups or {}).get(args.group) if confirmation else None
        if group is None:
            lines.append(f"| {Path(path).name} | - | not confirmed on the {args.group} group | - | - | - | - |")
            continue
        best = next(iter(run.ranking(1)), None)  # not Run.best: its warning repeats the verdict the table gives
        for row in group.rows:
            top = best is not None and row.id == best.id
            if row.baseline or top or not row.name.startswith("#"):
                met = (
                    "-"
                    if not top or row.mean is None or row.worst is None
                    else ("met" if row.mean >= MEAN_GOAL and row.worst >= WORST_GOAL else "missed")
                )
                name = f"**{row.name}** (top)" if top else row.name
                lines.append(
                    f"| {Path(path).name} | {name} | `{row.formula}` |"
                    f" {with_interval(row.mean, row.mean_low, row.mean_high)} |"
                    f" {with_interval(row.worst, row.worst_low, row.worst_high)} |"
                    f" {row.worst_task or '-'} | {met} |"
                )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
