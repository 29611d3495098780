"""Benchmark: do functions that differ only by a constant output factor train alike? The hall of fame groups such
variants under one entry (a scale-free fingerprint); this measures whether the cache could also treat them as one.

Run:  python bench/scale_variants.py [--seeds 0 1 2] [--workers 2] [--out bench/results/scale_variants.md]

For a few base functions f and factors c, c*f and f are trained with the same seeds on the general suite's tasks
(quick-budget length) and compared per task: the mean difference of the validation measure and a two-sided paired
t-test over seeds. A cache may merge functions only if their trainings do not differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from scipy.stats import ttest_rel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.evaluation import make_job  # noqa: E402
from evoact.records import TaskScore  # noqa: E402
from evoact.tasks import SUITES, TASKS, get_task  # noqa: E402
from evoact.training import TrainConfig  # noqa: E402
from evoact.workers import WorkerPool  # noqa: E402

BASES = {"silu": "x/(1 + exp(-x))", "tanh": "tanh(x)", "x*tanh(x)": "x*tanh(x)"}
FACTORS = ("-1", "1/2", "2", "1/(exp(-E) + 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="bench/results/scale_variants.md")
    args = parser.parse_args()
    tasks = list(SUITES["general"])
    for task in tasks:
        get_task(task).prepare()
    functions = {(base, "1"): formula for base, formula in BASES.items()}
    functions |= {(base, c): f"({c})*({formula})" for base, formula in BASES.items() for c in FACTORS}
    todo = [(key, task, seed) for key in functions for task in tasks for seed in args.seeds]
    pool, scores, start = WorkerPool(args.workers, timeout=600), {}, time.monotonic()
    try:
        jobs = [make_job(functions[key], (task,), TrainConfig(seed=seed), {}) for key, task, seed in todo]
        for index, result in pool.imap(jobs):
            key, task, seed = todo[index]
            if result["status"] == "ok":
                scores[(key, task, seed)] = TaskScore.from_plain(result["scores"][task])
    finally:
        pool.close()
    minutes = (time.monotonic() - start) / 60
    lines = [
        f"# Scale variants: do c*f and f train alike? ({len(todo)} trainings, {minutes:.0f} min)",
        "",
        f"Command: `python bench/scale_variants.py --seeds {' '.join(map(str, args.seeds))} --workers {args.workers}`",
        "",
        "Validation measure of c*f minus that of f, mean over seeds (accuracy: higher is better; loss: lower is"
        " better), and the two-sided paired t-test p over seeds. '-' where a training failed.",
        "",
        "| f | c | " + " | ".join(f"{t} ({TASKS[t].metric})" for t in tasks) + " |",
        "|---|---|" + "---|" * len(tasks),
    ]
    differ = 0
    for base in BASES:
        for c in FACTORS:
            cells = []
            for task in tasks:
                measure = "val_acc" if TASKS[task].metric == "accuracy" else "val_loss"
                pairs = [
                    (getattr(scores[((base, c), task, s)], measure), getattr(scores[((base, "1"), task, s)], measure))
                    for s in args.seeds
                    if ((base, c), task, s) in scores and ((base, "1"), task, s) in scores
                ]
                if len(pairs) < 2:
                    cells.append("-")
                    continue
                mine, theirs = zip(*pairs)
                diff = statistics.fmean(m - t for m, t in pairs)
                p = ttest_rel(mine, theirs).pvalue if any(m != t for m, t in pairs) else 1.0
                differ += p < 0.05
                cells.append(f"{diff:+.4f} (p {p:.2g})")
            lines.append(f"| {base} | {c} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"{differ} of {len(BASES) * len(FACTORS) * len(tasks)} comparisons differ at p < 0.05 with"
        f" {len(args.seeds)} seeds.",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
