"""How often the 95% intervals that ``evoact confirm`` prints for a group's mean and worst ratio hold the true ratios,
with as few seeds as a confirmation has: simulated confirmations of known truth, summarised by evoact's own code.

Each trial draws a confirmation on 7 accuracy tasks: a candidate and the three references (GELU, SiLU, Mish), each
training's test accuracy its function's true mean plus a seed effect shared by every function on that seed (a seed
fixes the initialisation stream and batch order) and noise of its own. The true ratios are the issue's, from the true
means: per task the candidate's over the best reference's, their mean and their minimum over the tasks.

Run:  python bench/interval_coverage.py [--trials 400] [--method basic] [--out bench/results/interval_coverage.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from evoact import comparison
from evoact.comparison import RATIO_REFERENCES, group_ratios
from evoact.summaries import ConfirmationRow, TaskConfirmation

TASKS = 7
SHARED, OWN = 0.007, 0.007  # per-seed sd of the seed's effect on every function, and of each training's own noise


def _truth(scenario: str, rng: np.random.Generator) -> np.ndarray:
    """True accuracies, tasks x (candidate, *references)."""
    if scenario == "tie":  # the candidate and the three references equal on every task
        return np.full((TASKS, 4), 0.8)
    if scenario == "apart":  # references 1% apart, the candidate equal to the best
        return np.tile([0.8, 0.8, 0.792, 0.784], (TASKS, 1))
    if scenario == "better":  # references tied, the candidate 1% better everywhere
        return np.tile([0.808, 0.8, 0.8, 0.8], (TASKS, 1))
    refs = 0.8 + rng.normal(0, 0.008, size=(TASKS, 3))  # "mixed": the references' order differs by task
    candidate = refs.max(axis=1) + rng.normal(0, 0.01, size=TASKS)
    candidate[0] -= 0.04  # one task where it falls behind
    return np.column_stack([candidate, refs])


SCENARIOS = {
    "tie": "candidate and references equal on every task",
    "apart": "references 1% apart, the candidate equal to the best",
    "better": "references tied, the candidate 1% better on every task",
    "mixed": "references and candidate differ by task (sd 1%), the candidate 4% behind on one task",
}


def _row(name: str, mean: float) -> ConfirmationRow:
    return ConfirmationRow(name, "x", name != "candidate", 1, 0, {}, mean, None, None, None, None, None)


def trial(scenario: str, seeds: int, rng: np.random.Generator) -> tuple[bool, bool, float, float]:
    """One simulated confirmation: whether each interval holds its true ratio, and the point estimates' errors."""
    truth = _truth(scenario, rng)
    names = ("candidate", *RATIO_REFERENCES)
    seed_effect = rng.normal(0, SHARED, size=seeds)
    results, per_seed = {}, {}
    for t in range(TASKS):
        values = truth[t][:, None] + seed_effect[None, :] + rng.normal(0, OWN, size=(4, seeds))
        per_seed[f"t{t}"] = {n: dict(enumerate(map(float, v))) for n, v in zip(names, values)}
        rows = tuple(_row(n, float(v.mean())) for n, v in zip(names, values))
        results[f"t{t}"] = TaskConfirmation(None, rows, "accuracy", True, None, "test")
    ratio = truth[:, 0] / truth[:, 1:].max(axis=1)
    true_mean, true_worst = float(ratio.mean()), float(ratio.min())
    row = group_ratios(results, per_seed=per_seed, seeds=tuple(range(seeds)))["test"].rows[0]
    assert row.mean_low is not None and row.worst_low is not None
    return (
        row.mean_low <= true_mean <= row.mean_high,
        row.worst_low <= true_worst <= row.worst_high,
        row.mean - true_mean,
        row.worst - true_worst,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--method", default=comparison.INTERVAL_METHOD, help="scipy's bootstrap method to measure")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    comparison.INTERVAL_METHOD = args.method
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    lines = [
        "# Do the confirmation's ratio intervals hold the true ratios?",
        "",
        f"Command: `python bench/interval_coverage.py --trials {args.trials} --method {args.method}` ({{minutes}} min"
        " on 2 cores).",
        "",
        f"Simulated confirmations on {TASKS} accuracy tasks, summarised by `evoact.comparison.group_ratios` (what"
        f" `evoact confirm` prints) with the {args.method} bootstrap: each training's accuracy is its function's true"
        f" mean, plus a seed effect shared by every function on that seed (sd {SHARED}), plus its own noise (sd {OWN})."
        " The true ratios come from the true means. Coverage: the share of trials whose 95% interval holds the true"
        " ratio. Bias: the point estimate's mean error.",
        "",
        "| scenario | seeds | mean ratio: coverage | mean ratio: bias | worst ratio: coverage | worst ratio: bias |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, described in SCENARIOS.items():
        for seeds in (5, 10):
            held = np.array([trial(scenario, seeds, rng) for _ in range(args.trials)])
            lines.append(
                f"| {described} | {seeds} | {held[:, 0].mean():.0%} | {held[:, 2].mean():+.4f} |"
                f" {held[:, 1].mean():.0%} | {held[:, 3].mean():+.4f} |"
            )
    text = "\n".join(lines).replace("{minutes}", f"{(time.perf_counter() - start) / 60:.0f}") + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
