"""The goal's ratios from a confirmation that did not finish: per task whose trainings are all stored.

Run:  python bench/partial_ratios.py RUN [--seeds 10] [--out FILE]

Reads the confirmation trainings stored in RUN (trains nothing) and, for every task on which each function has all
``--seeds`` trainings, gives each function's test measure relative to the best of GELU, SiLU and Mish there (of
GEGLU and SwiGLU on a GLU run; accuracy / best, or best loss / loss). Over the finished tasks the worst ratio is an
upper bound of the worst over all tasks: the tasks still to train can only lower it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.comparison import PLAIN_TASK  # noqa: E402
from evoact.confirmation import FAMILY_BASELINES  # noqa: E402
from evoact.records import ConfirmationTraining  # noqa: E402
from evoact.run import read_run  # noqa: E402
from evoact.tasks import get_task, task_family  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    run = read_run(args.run)
    references = FAMILY_BASELINES[task_family(run.config.tasks)][1]  # GEGLU and SwiGLU on a GLU run
    trainings: dict[tuple[str, str], list[ConfirmationTraining]] = {}
    for row in run.store.confirmations():
        if row.status == "ok":  # a GLU's plain-FFN twin is its task's, under its own name (plain-relu)
            trainings.setdefault((row.task.removesuffix(PLAIN_TASK), row.name), []).append(row)
    tasks = list(dict.fromkeys(task for task, _ in trainings))
    ratios: dict[str, dict[str, float]] = {}
    unfinished = []
    for task in tasks:
        metric = get_task(task).metric
        means = {
            name: statistics.fmean(r.measure(metric) for r in rows)
            for (t, name), rows in trainings.items()
            if t == task and len(rows) >= args.seeds
        }
        if len(means) < len({n for t, n in trainings if t == task}) or not all(r in means for r in references):
            unfinished.append(task)
            continue
        refs = [means[r] for r in references]
        for name, value in means.items():
            ratios.setdefault(name, {})[task] = value / max(refs) if metric == "accuracy" else min(refs) / value
    done = [t for t in tasks if t not in unfinished]
    lines = [
        f"# Ratios over the finished tasks of {Path(args.run).name}'s unfinished confirmation",
        "",
        f"Command: `python bench/partial_ratios.py {args.run} --seeds {args.seeds}` (reads the stored trainings).",
        "",
        f"Finished tasks ({len(done)}): {', '.join(done)}. Unfinished: {', '.join(unfinished) or '-'}. The worst ratio"
        " over the finished tasks bounds the worst over all tasks from above.",
        "",
        "| function | mean ratio (finished tasks) | worst ratio (task) | " + " | ".join(done) + " |",
        "|---|---|---|" + "---|" * len(done),
    ]
    for name, per_task in ratios.items():
        worst = min(per_task, key=per_task.__getitem__)
        lines.append(
            f"| {name} | {statistics.fmean(per_task.values()):.4f} | {per_task[worst]:.4f} ({worst}) | "
            + " | ".join(f"{per_task[t]:.3f}" for t in done)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
