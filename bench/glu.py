"""Reference functions on tasks, many seeds, paired tests: the GLU baselines' order and PAU against the usual three.

Run:  python bench/glu.py baselines [--seeds 10]   # ReGLU, GEGLU, SwiGLU, sine, xSiLU gates and the plain FFN with
                                                  # ReLU / GELU at equal parameters, on the GLU language tasks
      python bench/glu.py pau [--seeds 10]         # PAU (5/4, Leaky ReLU init) against ReLU, GELU, SiLU on the
                                                  # validation suite

Every function trains once per task and seed (fresh seeds 10000.., as ``evoact confirm`` uses) with the task's own
quick schedule, in as many processes as the machine has cores, and is measured on the task's test split. Each row is
compared with each reference (SwiGLU, GEGLU and the plain GELU FFN; the best of GELU and SiLU for PAU) by a
two-sided paired t-test over the
seeds. Writes bench/results/glu_baselines.md or bench/results/pau.md, and the per-seed measures beside it (.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scipy.stats import ttest_rel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.baselines import BASELINES, baseline_params  # noqa: E402
from evoact.compiler import CompiledActivation  # noqa: E402
from evoact.confirmation import FRESH_SEED_BASE  # noqa: E402
from evoact.formula import parse  # noqa: E402
from evoact.tasks import SUITES, get_task  # noqa: E402
from evoact.training import TrainConfig  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: name -> (baseline, gated): a gate in the GLU layer, or the plain FFN with the same function at equal parameters.
GLU_FUNCTIONS = {
    "ReGLU": ("relu", True),
    "GEGLU": ("gelu", True),
    "SwiGLU": ("silu", True),
    "sine gate": ("sine", True),
    "xSiLU gate": ("xsilu", True),
    "plain FFN, ReLU": ("relu", False),
    "plain FFN, GELU": ("gelu", False),
}
GLU_TASKS = ("glu-text", "glu-source", "glu-text-wide", "glu-docs")
PAU_FUNCTIONS = {"PAU": ("pau", True), "ReLU": ("relu", True), "GELU": ("gelu", True), "SiLU": ("silu", True)}


def train_one(job: tuple[str, str, bool, str, int]) -> tuple[str, str, int, float, float]:
    """One training: (row name, baseline, gated, task, seed) -> (row, task, seed, test measure, seconds)."""
    import torch

    torch.set_num_threads(1)
    name, baseline, gated, task_name, seed = job
    task = get_task(task_name)
    task = task.plain() if not gated else task
    expr, params = parse(BASELINES[baseline]), baseline_params(baseline, {})
    start = time.perf_counter()
    result = task.run(lambda: CompiledActivation(expr, params, "autograd"), TrainConfig(seed=seed))
    measure = result.test_acc if task.metric == "accuracy" else result.test_loss
    return name, task_name, seed, float(measure), time.perf_counter() - start


def run(functions: dict[str, tuple[str, bool]], tasks: tuple[str, ...], seeds: int, workers: int) -> dict:
    """Every function on every task and seed: (row, task) -> {seed: test measure}; and the CPU seconds spent."""
    jobs = [
        (name, b, g, t, FRESH_SEED_BASE + s) for t in tasks for name, (b, g) in functions.items() for s in range(seeds)
    ]
    out: dict[tuple[str, str], dict[int, float]] = {}
    spent = 0.0
    with ProcessPoolExecutor(workers) as pool:
        for done, (name, task, seed, measure, seconds) in enumerate(pool.map(train_one, jobs), 1):
            out.setdefault((name, task), {})[seed] = measure
            spent += seconds
            if done % 20 == 0:
                print(f"{done}/{len(jobs)}", flush=True)
    return {"values": out, "seconds": spent}


def _verdict(mine: list[float], theirs: list[float], higher: bool) -> str:
    diff = statistics.fmean(mine) - statistics.fmean(theirs)
    p = ttest_rel(mine, theirs).pvalue
    better = diff > 0 if higher else diff < 0
    word = ("**better**" if better else "**worse**") if p < 0.05 else "tie"
    return f"{word} ({diff:+.4f}, p {p:.2g})"


def table(values: dict, functions: dict, tasks: tuple[str, ...], references: tuple[tuple[str, ...], ...]) -> list[str]:
    """Per task: mean ± std of each function's test measure, its rank, and for each group of ``references`` a paired
    test against the best of the group on that task."""
    lines = []
    for task in tasks:
        metric = get_task(task).metric
        higher = metric == "accuracy"
        means = {n: statistics.fmean(values[(n, task)].values()) for n in functions}
        best = [(max if higher else min)(group, key=lambda n: means[n]) for group in references]
        order = sorted(functions, key=lambda n: -means[n] if higher else means[n])
        lines += [
            f"### {task} (test {'accuracy; higher' if higher else 'loss; lower'} is better)",
            "",
            "| rank | function | mean ± std | " + " | ".join(f"vs {b} (diff, paired p)" for b in best) + " |",
            "|---|---|---|" + "---|" * len(best),
        ]
        for rank, name in enumerate(order, 1):
            vals = values[(name, task)]
            seeds = sorted(vals)
            mine = [vals[s] for s in seeds]
            verdicts = [
                "-" if name == b else _verdict(mine, [values[(b, task)][s] for s in seeds], higher) for b in best
            ]
            spread = f"{statistics.fmean(mine):.4f} ± {statistics.stdev(mine):.4f}"
            lines.append(f"| {rank} | {name} | {spread} | " + " | ".join(verdicts) + " |")
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("baselines", "pau"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.part == "baselines":
        functions, tasks = GLU_FUNCTIONS, GLU_TASKS
        references: tuple[tuple[str, ...], ...] = (("SwiGLU",), ("GEGLU",), ("plain FFN, GELU",))
        title, out = "GLU baselines on the language tasks", RESULTS / "glu_baselines.md"
    else:
        functions, tasks, references = PAU_FUNCTIONS, SUITES["validation"], (("GELU", "SiLU"),)
        title, out = "PAU against ReLU, GELU and SiLU on the validation suite", RESULTS / "pau.md"
    start = time.time()
    result = run(functions, tasks, args.seeds, args.workers)
    lines = [
        f"# {title}",
        "",
        f"Command: `python bench/glu.py {args.part} --seeds {args.seeds}` ({(time.time() - start) / 60:.1f} min on"
        f" {os.cpu_count()} cores, {result['seconds'] / 3600:.2f} CPU-hours of training)",
        "",
        f"{args.seeds} fresh seeds per function and task ({FRESH_SEED_BASE}..), each task's own quick schedule, test"
        " split. Verdicts: two-sided paired t-test over the seeds; 'better'/'worse' only at p < 0.05.",
        "",
        *table(result["values"], functions, tasks, references),
    ]
    out.write_text("\n".join(lines))
    raw = {f"{name} | {task}": values for (name, task), values in result["values"].items()}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
