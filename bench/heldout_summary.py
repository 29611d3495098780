"""Summary of confirmed runs on held-out tasks: each run's top functions against ReLU and against the best of GELU,
SiLU and Mish on each task, with two-sided paired t-tests over the confirmation seeds (stored in the runs).

Run:  python bench/heldout_summary.py runs/budget-quick-s0 runs/budget-standard-s0 [--top 3]
      [--out bench/results/heldout_summary.md] [--strong gelu,silu,mish [--strong ...]]

``--strong`` names the strong baselines of one comparison (the best of them on each task); given several times, each
comparison gets its own section (a GLU run: ``--strong silu --strong gelu``, SwiGLU and GEGLU apart).

Reads what ``evoact confirm`` stored; trains nothing. A verdict is "better" or "worse" only at p < 0.05.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from scipy.stats import ttest_rel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.api import open_run  # noqa: E402
from evoact.comparison import PLAIN_TASK  # noqa: E402
from evoact.confirmation import group_of  # noqa: E402
from evoact.tasks import TASKS  # noqa: E402

STRONG = ("gelu", "silu", "mish")


def _verdict(mine: list[float], theirs: list[float], higher: bool) -> str:
    diff = statistics.fmean(m - t for m, t in zip(mine, theirs))
    p = ttest_rel(mine, theirs).pvalue if any(m != t for m, t in zip(mine, theirs)) else 1.0
    better = diff > 0 if higher else diff < 0
    word = ("**better**" if better else "**worse**") if p < 0.05 else "tie"
    return f"{word} ({diff:+.4f}, p {p:.2g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--out", default="bench/results/heldout_summary.md")
    parser.add_argument("--strong", action="append", help="comma-separated strong baselines (default gelu,silu,mish)")
    args = parser.parse_args()
    groups = [tuple(g.split(",")) for g in args.strong or [",".join(STRONG)]]
    said = "".join(f" --strong {','.join(g)}" for g in groups) if args.strong else ""
    lines = [
        "# Held-out tasks: the runs' top functions against ReLU and the best of the strong baselines",
        "",
        f"Command: `python bench/heldout_summary.py {' '.join(args.runs)} --top {args.top}"
        f"{f' --out {args.out}' if args.out != parser.get_default('out') else ''}{said}` (reads the runs' stored"
        " confirmations; `bench/results/confirm_*.md` hold the full tables and their commands).",
        "",
        "Per task: the test measure's mean over the confirmation seeds; 'better'/'worse' only where the two-sided"
        " paired t-test over seeds gives p < 0.05, else 'tie'. The strongest baseline is the best of the section's"
        " strong baselines on that task; their own rows hold them to the same comparison.",
        "",
    ]
    for path, strong_group in ((path, group) for group in groups for path in args.runs):
        run = open_run(path)
        rows = run.store.confirmations()
        top = [r for r in run.ranking(args.top)]
        lines += [
            f"## {Path(path).name}: against the best of {', '.join(strong_group)}",
            "",
            "| task | group | metric | function | mean | vs ReLU | strongest baseline | vs it |",
            "|---|---|---|---|---|---|---|---|",
        ]
        confirmed = {r.task for r in rows if not r.task.endswith(PLAIN_TASK)}  # a GLU's plain twin: not here
        for task in sorted(confirmed, key=lambda t: list(TASKS).index(t) if t in TASKS else 99):
            metric = TASKS[task].metric if task in TASKS else "accuracy"
            higher = metric == "accuracy"
            by: dict[str, dict[int, float]] = {}
            for r in rows:
                if r.task == task and r.status == "ok" and (value := r.measure(metric)) is not None:
                    by.setdefault(r.name.split(" ")[0], {})[r.seed] = value
                    by.setdefault(r.formula, {})[r.seed] = value  # a top that is a baseline's is stored as it
            strong = [b for b in strong_group if b in by]
            if "relu" not in by or not strong:
                continue
            means = {b: statistics.fmean(by[b].values()) for b in strong}
            best = (max if higher else min)(strong, key=means.get)
            # the strong baselines too: does any of them meet the goal the runs' winners are held to?
            for name, label in [(c.formula, f"#{c.id} `{c.formula}`") for c in top] + [
                (b, f"baseline {b}") for b in strong
            ]:
                if name not in by:
                    continue
                seeds = sorted(set(by[name]) & set(by["relu"]) & set(by[best]))
                mine = [by[name][s] for s in seeds]
                group = group_of(task, run.config.tasks) or "-"
                lines.append(
                    f"| {task} | {group} | {metric} | {label} | {statistics.fmean(mine):.4f} |"
                    f" {_verdict(mine, [by['relu'][s] for s in seeds], higher)} | {best} {means[best]:.4f} |"
                    f" {_verdict(mine, [by[best][s] for s in seeds], higher)} |"
                )
        lines.append("")
        run.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
