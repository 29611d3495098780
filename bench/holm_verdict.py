"""How often a confirmation calls a function no better than its baseline a winner: simulated confirmations of two
equal functions, judged by evoact's own verdict code, with each task's own p-value and with Holm's adjustment.

Each trial is a confirmation on ``--tasks`` tasks with ``--seeds`` paired seeds: per task and seed, a seed effect both
functions share and noise of each training's own, the same true mean for both. The verdict is a win when it finds the
function better on some task and worse on none (``Verdict.wins`` after a confirmation).

With ``--baselines K`` the function is compared, as ``evoact confirm`` compares it, with the best of K baselines
on each task, picked by their means on the same seeds; all K have the same true mean as the function. That pick
favours the reference, so "worse" is called more often than its p-value says (the extreme case: confirm's five
baselines all equal). With ``--failures P`` each training of the function and of its baseline fails with
probability P: how often the verdict "failed more trainings" vetoes a function that fails no more often.

Run:  python bench/holm_verdict.py [--trials 4000] [--tasks 11] [--seeds 5] [--baselines 1] [--failures P] [--out F]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from evoact.comparison import paired_p_value
from evoact.summaries import ALPHA, FAILED_MORE, ConfirmationRow, TaskConfirmation, confirmed_verdicts


def _confirmation(
    rng: np.random.Generator,
    tasks: int,
    seeds: int,
    baselines: int = 1,
    failures: float = 0.0,
    fails: np.random.Generator | None = None,
) -> dict[str, tuple]:
    """One simulated confirmation of equal functions: per task, its results and the function's row, against the
    best of ``baselines`` by mean; with ``failures``, each training of the function and of that baseline fails with
    that probability (drawn from ``fails``, so that the other draws are those without failures)."""
    out = {}
    for task in range(tasks):
        shared = rng.normal(0.0, 0.01, seeds)
        mine, theirs = 0.8 + shared + rng.normal(0.0, 0.01, seeds), 0.8 + shared + rng.normal(0.0, 0.01, seeds)
        others = [0.8 + shared + rng.normal(0.0, 0.01, seeds) for _ in range(baselines - 1)]
        theirs = max([theirs, *others], key=lambda values: values.mean())
        ok_mine = ok_theirs = np.ones(seeds, dtype=bool)
        if failures and fails is not None:
            ok_mine, ok_theirs = fails.random(seeds) >= failures, fails.random(seeds) >= failures
        both = ok_mine & ok_theirs
        p = paired_p_value(list(mine[both]), list(theirs[both]))
        mean, reference = (
            float(v[ok].mean()) if ok.any() else None for v, ok in ((mine, ok_mine), (theirs, ok_theirs))
        )
        diff = mean - reference if mean is not None and reference is not None else None
        failed, failed_ref = int((~ok_mine).sum()), int((~ok_theirs).sum())
        row = ConfirmationRow("#1", "f", False, seeds - failed, failed, {}, mean, 0.0, None, None, p, diff)
        gelu = ConfirmationRow("gelu", "g", True, seeds - failed_ref, failed_ref, {}, reference, 0.0, *[None] * 4)
        best = "gelu" if reference is not None else None
        out[f"t{task}"] = (TaskConfirmation(best, (row, gelu), "accuracy", True, 1.0), row)
    return out


def _wins(verdicts: dict, adjusted: bool) -> bool:
    """Better somewhere and worse nowhere: by evoact's verdicts (better by Holm's p-value, worse by the task's own), or
    both by each task's own p-value."""
    if adjusted:
        said = [v.verdict for v in verdicts.values()]
        said = ["worse" if v == FAILED_MORE else v for v in said]  # a veto as "worse" is
    else:
        found = [v for v in verdicts.values() if v.p is not None and v.p < ALPHA]
        said = ["better" if v.diff > 0 else "worse" for v in found]
    return "better" in said and "worse" not in said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--tasks", type=int, default=11)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--baselines", type=int, default=1)
    parser.add_argument("--failures", type=float, default=0.0, help="each training fails with this probability")
    parser.add_argument("--out")
    args = parser.parse_args()
    suffix = ("" if args.baselines == 1 else f"_best_of_{args.baselines}") + (
        f"_failures_{args.failures:g}" if args.failures else ""
    )
    args.out = args.out or f"bench/results/holm_verdict{suffix}.md"
    start, rng, fails = time.time(), np.random.default_rng(0), np.random.default_rng(1)
    raw = holm = worse = vetoed = 0
    for _ in range(args.trials):
        confirmation = _confirmation(rng, args.tasks, args.seeds, args.baselines, args.failures, fails)
        verdicts = confirmed_verdicts(confirmation)
        raw += _wins(verdicts, adjusted=False)
        holm += _wins(verdicts, adjusted=True)
        worse += any(v.verdict == "worse" for v in verdicts.values())
        vetoed += any(v.verdict == FAILED_MORE for v in verdicts.values())
    against = "the baseline" if args.baselines == 1 else f"the best of {args.baselines} baselines on these seeds"
    text = "\n".join(
        [
            "# Wins called between equal functions",
            "",
            f"`python bench/holm_verdict.py --trials {args.trials} --tasks {args.tasks} --seeds {args.seeds}"
            + (f" --baselines {args.baselines}" if args.baselines != 1 else "")
            + (f" --failures {args.failures:g}" if args.failures else "")
            + "`",
            "",
            f"{args.trials} simulated confirmations on {args.tasks} tasks with {args.seeds} paired seeds, the"
            f" function against {against}, every function with the same true mean; a win is better on some task and"
            " worse on none (at p < 0.05).",
            "",
            "| p-values read | wins called |",
            "|---|---|",
            f"| each task's own | {raw / args.trials:.1%} |",
            f"| evoact's: better by Holm's over the tasks, worse by each task's own | {holm / args.trials:.1%} |",
            "",
            f"evoact's verdict called the function worse on some task in {worse / args.trials:.1%} of them"
            + (
                f", and said it failed more trainings than the baseline (Fisher's exact test, one-sided) on some task"
                f" in {vetoed / args.trials:.1%}; each training of either failed with probability {args.failures:g}."
                if args.failures
                else "."
            ),
            "",
            f"{time.time() - start:.0f} s",
            "",
        ]
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
