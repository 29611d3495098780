"""How often the 95% intervals that ``evoact confirm`` prints for a group's mean and worst ratio hold the true ratios,
with as few seeds as a confirmation has: simulated confirmations of known truth, summarised by evoact's own code.

Each trial draws a confirmation on 7 tasks: a candidate and the three references (GELU, SiLU, Mish), each training's
test measure its function's true mean with a seed effect shared by every function on that task and seed (a seed fixes
the initialisation stream and batch order) and noise of its own. The true ratios are the issue's, from the true means:
per task the candidate's over the best reference's (the best loss over the candidate's), their mean and minimum.

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
#: Per-seed noise of a training, as an sd: the seed's effect on every function of a task (it fixes the initialisation
#: stream and batch order there), and each training's own. Accuracies take it added; losses multiplied (log scale).
NOISE = {"accuracy": (0.007, 0.007), "loss": (0.05, 0.05)}


def _truth(scenario: str, rng: np.random.Generator) -> np.ndarray:
    """True measures, tasks x (candidate, *references): accuracies, or losses for the ``loss`` scenarios."""
    if scenario == "tie":  # the candidate and the three references equal on every task
        return np.full((TASKS, 4), 0.8)
    if scenario == "apart":  # references 1% apart, the candidate equal to the best
        return np.tile([0.8, 0.8, 0.792, 0.784], (TASKS, 1))
    if scenario == "better":  # references tied, the candidate 1% better everywhere
        return np.tile([0.808, 0.8, 0.8, 0.8], (TASKS, 1))
    if scenario == "loss tie":
        return np.full((TASKS, 4), 0.5)
    if scenario == "loss mixed":
        refs = 0.5 * np.exp(rng.normal(0, 0.1, size=(TASKS, 3)))
        candidate = refs.min(axis=1) * np.exp(rng.normal(0, 0.1, size=TASKS))
        candidate[0] *= 1.15  # one task where it falls behind
        return np.column_stack([candidate, refs])
    refs = 0.8 + rng.normal(0, 0.008, size=(TASKS, 3))  # "mixed": the references' order differs by task
    candidate = refs.max(axis=1) + rng.normal(0, 0.01, size=TASKS)
    candidate[0] -= 0.04  # one task where it falls behind
    return np.column_stack([candidate, refs])


SCENARIOS = {
    "tie": "accuracy: candidate and references equal on every task",
    "apart": "accuracy: references 1% apart, the candidate equal to the best",
    "better": "accuracy: references tied, the candidate 1% better on every task",
    "mixed": "accuracy: references and candidate differ by task (sd 1%), the candidate 4% behind on one task",
    "loss tie": "loss: candidate and references equal on every task",
    "loss mixed": "loss: references and candidate differ by task (sd 10%), the candidate 15% behind on one task",
}


def _row(name: str, mean: float) -> ConfirmationRow:
    return ConfirmationRow(name, "x", name != "candidate", 1, 0, {}, mean, None, None, None, None, None)


def trial(scenario: str, seeds: int, rng: np.random.Generator) -> tuple[bool, bool, float, float]:
    """One simulated confirmation: whether each interval holds its true ratio, and the point estimates' errors."""
    truth = _truth(scenario, rng)
    metric = "loss" if scenario.startswith("loss") else "accuracy"
    shared, own = NOISE[metric]
    names = ("candidate", *RATIO_REFERENCES)
    results, per_seed = {}, {}
    for t in range(TASKS):
        noise = rng.normal(0, shared, size=(1, seeds)) + rng.normal(0, own, size=(4, seeds))
        values = truth[t][:, None] * np.exp(noise) if metric == "loss" else truth[t][:, None] + noise
        per_seed[f"t{t}"] = {n: dict(enumerate(map(float, v))) for n, v in zip(names, values)}
        rows = tuple(_row(n, float(v.mean())) for n, v in zip(names, values))
        results[f"t{t}"] = TaskConfirmation(None, rows, metric, True, None, "test")
    best = truth[:, 1:].max(axis=1) if metric == "accuracy" else truth[:, 1:].min(axis=1)
    ratio = truth[:, 0] / best if metric == "accuracy" else best / truth[:, 0]
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
        f"Simulated confirmations on {TASKS} tasks, summarised by `evoact.comparison.group_ratios` (what `evoact"
        f" confirm` prints) with the {args.method} bootstrap: each training's measure is its function's true mean,"
        " plus (accuracy) or times the exponential of (loss) a seed effect shared by every function on that task and"
        f" seed and the training's own noise (sds {NOISE['accuracy']} for accuracy, {NOISE['loss']} for loss). The"
        " true ratios come from the true means. Coverage: the share of trials whose 95% interval holds the true ratio"
        f" (with {args.trials} trials, within about 2-3 points). Bias: the point estimate's mean error.",
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
