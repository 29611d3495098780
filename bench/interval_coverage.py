"""How often the percentile bootstrap's 95% interval (what ``evoact confirm`` prints for a group's ratios) holds the
true value with as few seeds as a confirmation has: a mean of normal samples, the simplest such statistic.

Run:  python bench/interval_coverage.py [--trials 5000] [--out bench/results/interval_coverage.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap


def coverage(seeds: int, trials: int, rng: np.random.Generator) -> float:
    """The share of ``trials`` samples of ``seeds`` N(0, 1) values whose interval for the mean holds 0."""
    held = 0
    for _ in range(trials):
        sample = rng.normal(size=seeds)
        interval = bootstrap(
            (sample,), np.mean, n_resamples=2000, method="percentile", random_state=rng
        ).confidence_interval
        held += interval.low <= 0 <= interval.high
    return held / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    lines = [
        "# Coverage of the percentile bootstrap's 95% interval with few seeds",
        "",
        f"Command: `python bench/interval_coverage.py --trials {args.trials}` (a mean of N(0, 1) samples; scipy's"
        " `bootstrap`, 2,000 resamples, as `evoact confirm` uses it).",
        "",
        "| seeds | intervals that hold the true mean |",
        "|---|---|",
    ]
    for seeds in (3, 5, 10, 20):
        lines.append(f"| {seeds} | {coverage(seeds, args.trials, rng):.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
