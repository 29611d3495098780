"""Does the Fisher spectrum at initialisation make the surrogate stage better in replay? 30 seeds, paired.

    python bench/fisher_replay.py [--seeds 30] [--trainings 300] [--workers N]

``bench/fisher.py`` found the three Fisher-spectrum features add about 0.02 to the surrogate's cross-validated rank
correlation on functions trained to the end. Whether that moves a search is what decides adopting them: this replays
``evolution+surrogate`` (``bench/replay.py``) over the benchmark table with today's features and with the Fisher
spectrum added, the same 30 seeds each, and compares regret (the best true score found) and the trainings to a
top-1% function, paired by seed. Writes bench/results/fisher_replay.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from fisher import fisher  # noqa: E402
from replay import _replay_job, curves, test_truth, to_top  # noqa: E402

from evoact import surrogate as surrogate_module  # noqa: E402
from evoact.benchtable import load_table  # noqa: E402
from evoact.features import features  # noqa: E402
from evoact.surrogate import Surrogate  # noqa: E402

PARAMS = {"beta": 1.0}
CHECKPOINTS = (50, 100, 200, 300)


def with_fisher(formulas: list[str]) -> None:
    """Put every table function's features, with the Fisher spectrum appended, into this process's surrogate
    feature cache: a worker's initializer, so it holds under any start method."""
    cache = surrogate_module._FEATURES.setdefault(tuple(sorted(PARAMS.items())), {})
    base = features(formulas, PARAMS)
    cache.update({f: np.concatenate([b, fisher(f, PARAMS)]) for f, b in zip(formulas, base)})


def feature_length(formula: str) -> int:
    """How many features the surrogate of a worker reads for ``formula`` (the check that the Fisher ones are in)."""
    return len(Surrogate((), PARAMS)._features([formula])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trainings", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    table = load_table()
    truth = test_truth(table)
    jobs = [(None, "evolution+surrogate", seed, args.trainings, None, False, None) for seed in range(args.seeds)]
    started = time.time()
    results = {}
    formulas = [e.formula for e in table.entries]
    spawn = multiprocessing.get_context("spawn")  # the parent has run torch's OpenMP, after which fork() is unsafe
    for variant in ("today's features", "+ Fisher spectrum"):
        fisher_on = variant != "today's features"
        initializer = {"initializer": with_fisher, "initargs": (formulas,)} if fisher_on else {}
        with ProcessPoolExecutor(args.workers, mp_context=spawn, **initializer) as pool:
            lengths = set(pool.map(feature_length, formulas[:1] * args.workers))
            if lengths != {len(features(formulas[:1], PARAMS)[0]) + 3 * fisher_on}:
                raise SystemExit(f"{variant}: the workers' surrogate reads {lengths} features; the replay would lie")
            runs = list(pool.map(_replay_job, jobs))
        results[variant] = (curves(truth, runs, args.trainings)["found"], to_top(truth, runs))
        print(f"{variant}: {time.time() - started:.0f} s", flush=True)
    (base, base_top), (fish, fish_top) = results.values()
    lines = [
        "# The Fisher spectrum in the surrogate stage, replayed",
        "",
        f"Command: `python bench/fisher_replay.py --seeds {args.seeds} --trainings {args.trainings}`"
        f" ({(time.time() - started) / 60:.0f} min on {args.workers} cores)",
        "",
        f"`evolution+surrogate` of `bench/replay.py` over the `{table.space}` table, {args.seeds} seeds, with today's"
        " features and with the three Fisher-spectrum features of `bench/fisher.py` added (the same seeds: paired)."
        " Regret: the table's best true score minus the best true score trained so far; mean over seeds, and the"
        " two-sided Wilcoxon signed-rank test over the paired seeds.",
        "",
        "| trainings | regret, today's features | regret, + Fisher | difference | p |",
        "|---|---|---|---|---|",
    ]
    for n in CHECKPOINTS:
        if n > args.trainings:
            continue
        a, b = base[:, n - 1], fish[:, n - 1]
        p = wilcoxon(b, a).pvalue if np.any(a != b) else 1.0
        lines.append(f"| {n} | {a.mean():.4f} | {b.mean():.4f} | {b.mean() - a.mean():+.4f} | {p:.2g} |")
    finite = [(x, y) for x, y in zip(base_top, fish_top)]
    lines += [
        "",
        "Trainings to a top-1% function (median over seeds; inf: not within the budget):"
        f" {statistics.median(base_top):g} with today's features, {statistics.median(fish_top):g} with the Fisher"
        f" spectrum; the Fisher run got there first on {sum(y < x for x, y in finite)} seeds, later on"
        f" {sum(y > x for x, y in finite)}.",
    ]
    out = ROOT / "results" / "fisher_replay.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
