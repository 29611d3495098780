"""Issue #26's quarter goal with more seeds: evolution alone against the engine's surrogate pool, replayed.

    python bench/quarter_goal.py [--seeds 0-29,100-129] [--workers N] [--table PATH --out PATH] [--unseeded]
        [--prior PATH]

The goal: in replay, evolution with the surrogate reaches one of the table's top-1% functions with at most a quarter
of the trainings evolution alone needs (median over seeds). ``bench/replay.py`` (evolution, 300 trainings) and
``bench/surrogate_selection.py`` (the pool, "ranked 8 of 128", 150 trainings) measure it on seeds 0-29. A median
over 30 seeds is noisy, so this replays both on two sets of 30 seeds, paired by seed, and
gives the ratio of the medians with a bootstrap interval (seeds resampled in pairs). A search that has not reached a
top-1% function within its budget counts as never (inf). Writes bench/results/quarter_goal.md (by default, on the
shipped table). ``--unseeded`` drops the space's seed tree; ``--prior`` starts the surrogate from another table's
functions (the two-fidelity case: the short table's, replaying the full one).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from replay import (  # noqa: E402
    add_replay_options,
    check_prior,
    curves,
    prior_examples,
    replay,
    table_at,
    test_truth,
    to_top,
)
from scipy.stats import wilcoxon  # noqa: E402

from evoact.benchtable import load_table  # noqa: E402
from evoact.genome import load_search_space  # noqa: E402

#: method -> (trainings, (pool per generation, trained per generation)): as bench/replay.py and surrogate_selection.py
METHODS = {"evolution": (300, (0, 0)), "evolution, ranked 8 of 128": (150, (128, 8))}
RESAMPLES = 10_000
#: numbers of trainings at which the two methods' regret is compared (the surrogate's searches stop at 150)
CHECKPOINTS = (10, 25, 50, 100, 150)
DEFAULT_OUT = ROOT / "results" / "quarter_goal.md"


def _job(job: tuple[str, int, Path | None, bool, Path | None]):
    method, seed, path, unseeded, prior = job
    table = table_at(path)
    trainings, select = METHODS[method]
    space = replace(load_search_space(table.space), seeds=()) if unseeded else None
    return replay(table, "evolution", seed, trainings, space, select=select, prior=prior_examples(prior, table))


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out += list(range(int(first), int(last or first) + 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-29,100-129")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--table", type=Path, default=None, help="a benchmark table file (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_replay_options(parser)
    args = parser.parse_args()
    seeds = _seeds(args.seeds)
    table = load_table(args.table)
    check_prior(parser, args.prior, table)
    truth = test_truth(table)
    started = time.time()
    reached: dict[str, np.ndarray] = {}
    regret: dict[str, np.ndarray] = {}
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for method, (trainings, _) in METHODS.items():
            runs = list(pool.map(_job, [(method, s, args.table, args.unseeded, args.prior) for s in seeds]))
            reached[method] = np.array(to_top(truth, runs))
            regret[method] = curves(truth, runs, trainings)["found"]
            print(f"{method}: {time.time() - started:.0f} s", flush=True)
    evolution, pooled = reached["evolution"], reached["evolution, ranked 8 of 128"]
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(seeds), (RESAMPLES, len(seeds)))
    ratios = np.median(pooled[draws], axis=1) / np.median(evolution[draws], axis=1)
    ratios = ratios[np.isfinite(ratios)]
    low, high = np.percentile(ratios, [2.5, 97.5])
    lines = [
        "# The quarter goal over more seeds: trainings to a top-1% function, evolution alone and with the surrogate",
        "",
        f"Command: `python bench/quarter_goal.py --seeds {args.seeds}"
        + (f" --table {args.table}" if args.table else "")
        + (f" --out {args.out}" if args.out != DEFAULT_OUT else "")
        + (" --unseeded" if args.unseeded else "")
        + (f" --prior {args.prior}" if args.prior else "")
        + f"` ({(time.time() - started) / 60:.0f} min on {args.workers} cores)",
        "",
        f"The `{table.space}` benchmark table (epoch scale {table.protocol['epoch_scale']} of the quick schedule)"
        + (", its space without its seed tree (Swish: a search's first proposal)" if args.unseeded else "")
        + ";"
        " each seed replays both methods (paired). Evolution alone: 16 offspring"
        " a generation, all trained, up to 300 trainings (as `bench/replay.py`). With the surrogate: the engine's"
        " `--offspring 8 --surrogate-pool 16`, each generation's 128 children ranked and the top 8 trained (one an"
        " exploration pick; the first generation: the population's 16, from 256 random trees once the surrogate can"
        " rank), up to 150 trainings (as `bench/surrogate_selection.py`). As the engine's driver, a generation asks"
        " again for what stage 1 rejected (with the surrogate: for what did not train). The surrogate learns"
        + (
            f" from every function of `{args.prior}` (epoch scale {table_at(args.prior).protocol['epoch_scale']})"
            " before the search, at that schedule (a feature of the surrogate: `Example.schedule`), and from the"
            " search's own trainings."
            if args.prior
            else " only from the search's own trainings."
        )
        + " Goal (issue #26): the surrogate's median at most a quarter of evolution's.",
        "",
        "| seeds | evolution: median trainings to a top-1% function (reached) | with the surrogate (reached) | ratio |",
        "|---|---|---|---|",
    ]
    groups, at = [], 0
    for part in args.seeds.split(","):  # each set of seeds, then all of them together
        groups.append((part, slice(at, at + len(_seeds(part)))))
        at += len(_seeds(part))
    if len(groups) > 1:
        groups.append((args.seeds, slice(0, len(seeds))))
    for name, part in groups:
        e, p = evolution[part], pooled[part]
        lines.append(
            f"| {name} | {np.median(e):g} ({int(np.isfinite(e).sum())} of {len(e)}) |"
            f" {np.median(p):g} ({int(np.isfinite(p).sum())} of {len(p)}) | {np.median(p) / np.median(e):.2f} |"
        )
    lines += [
        "",
        f"Over all {len(seeds)} seeds the ratio of the medians is {np.median(pooled) / np.median(evolution):.2f}, 95%"
        f" bootstrap interval {low:.2f} to {high:.2f} ({RESAMPLES:,} paired resamples of the seeds); a quarter or less"
        f" in {100 * float(np.mean(ratios <= 0.25)):.0f}% of them. On single seeds the surrogate needed at most a"
        f" quarter of evolution's trainings on {int(np.sum(pooled <= evolution / 4))} of {len(seeds)}.",
    ]
    lines += [
        "",
        "Regret (the best true score found so far, against the table's best) at equal numbers of trainings, the mean"
        " over all the seeds, with the paired Wilcoxon test's p-value (two-sided):",
        "",
        "| trainings | " + " | ".join(str(c) for c in CHECKPOINTS) + " |",
        "|---|" + "---|" * len(CHECKPOINTS),
    ]
    plain, ranked = regret["evolution"], regret["evolution, ranked 8 of 128"]
    for name, values in (("evolution", plain), ("with the surrogate", ranked)):
        lines.append(f"| {name} | " + " | ".join(f"{values[:, c - 1].mean():.4f}" for c in CHECKPOINTS) + " |")
    lines.append(
        "| p | "
        + " | ".join(
            f"{wilcoxon(plain[:, c - 1], ranked[:, c - 1]).pvalue:.2g}"
            if np.any(plain[:, c - 1] != ranked[:, c - 1])
            else "-"
            for c in CHECKPOINTS
        )
        + " |"
    )
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
