"""The goal's ratios from a confirmation that did not finish: per task, over the seeds every function finished there.

Run:  python bench/partial_ratios.py RUN [--seeds 10] [--out FILE]

Reads the confirmation trainings stored in RUN (trains nothing) and, for every task, takes the seeds on which every
function has its training, and gives each function's mean test measure over those seeds relative to the best of
GELU, SiLU and Mish there (of GEGLU and SwiGLU on a GLU run; accuracy / best, or best loss / loss). A confirm trains
seed by seed (every task on the first seed, then the next), so a stopped one has every task on fewer seeds: its
ratios are estimates over those seeds. One made before that trained task by task: its tasks with all ``--seeds``
are final, and over those the worst ratio bounds the worst over all tasks from above.
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
    seeds: dict[str, int] = {}  # task -> the seeds every function finished there
    for task in tasks:
        metric = get_task(task).metric
        rows = {name: {r.seed: r for r in done} for (t, name), done in trainings.items() if t == task}
        common = set.intersection(*(set(by_seed) for by_seed in rows.values()))
        if not common or not all(r in rows for r in references):
            continue
        seeds[task] = len(common)
        means = {name: statistics.fmean(by_seed[s].measure(metric) for s in common) for name, by_seed in rows.items()}
        refs = [means[r] for r in references]
        for name, value in means.items():
            ratios.setdefault(name, {})[task] = value / max(refs) if metric == "accuracy" else min(refs) / value
    done = list(seeds)
    final = [t for t in done if seeds[t] >= args.seeds]
    lines = [
        f"# Ratios over the finished trainings of {Path(args.run).name}'s unfinished confirmation",
        "",
        f"Command: `python bench/partial_ratios.py {args.run} --seeds {args.seeds}` (reads the stored trainings).",
        "",
        f"Tasks with a seed every function finished ({len(done)} of {len(tasks)}), with how many: "
        + (", ".join(f"{t} ({seeds[t]})" for t in done) or "-")
        + f". With all {args.seeds} seeds: {', '.join(final) or '-'}; over those the worst ratio bounds the worst over"
        " all tasks from above. The others' ratios are estimates over fewer seeds.",
        "",
        "| function | mean ratio (these tasks) | worst ratio (task) | " + " | ".join(done) + " |",
        "|---|---|---|" + "---|" * len(done),
    ]
    for name, per_task in ratios.items():
        worst = min(per_task, key=per_task.__getitem__)
        lines.append(
            f"| {name} | {statistics.fmean(per_task.values()):.4f} | {per_task[worst]:.4f} ({worst}) | "
            + " | ".join(f"{per_task[t]:.3f}" if t in per_task else "-" for t in done)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
