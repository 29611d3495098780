"""Benchmark: does throwing away the input's sign predict failure on the validation group? (issue #25, point 3)

Run:  python bench/sign_check.py [--runs runs/race-quick-s0 ...] [--out bench/results/sign_check.md]
      python bench/sign_check.py --check tail [--also '(2 - x)*tanh(x)' ...]

Trains nothing. Reads the pool of 84 functions that ``bench/fitness_transfer.py`` trained (its JSON: search tasks
and validation tasks, two seeds each), computes each function's rank correlation with its input exactly as static
screening does (``evoact.screening.static.rank_correlation`` on the probe's N(0, 1) sample, beta = 1), and sets it
beside how the function does on the validation group: per task, its test measure relative to the best of GELU,
SiLU and Mish (mean over seeds), and the worst and mean of those ratios. For each threshold it counts the
functions it would reject and how the rejected and the kept do there; the threshold is chosen here, on validation
(the test group is never looked at to choose). With ``--runs``, it also lists which of each run's top candidates
the check would have rejected.

``--check tail`` asks the same of the tail check (``evoact.screening.static.tail_reversal``: how far a unit turns
against its own trend away from 0, over [-10, 10], as a share of its range on N(0, 1)), for functions the rank check
keeps, and writes ``bench/results/tail_check.md``; ``--also FORMULA`` lists other functions' statistics beside the
pool (a search's traps, which have no validation scores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fitness_transfer import VARIANTS, heldout_ratios  # noqa: E402

from evoact.api import open_run  # noqa: E402
from evoact.compiler import lower  # noqa: E402
from evoact.formula import parse  # noqa: E402
from evoact.records import TaskScore, mean_learned  # noqa: E402
from evoact.screening import ScreeningConfig  # noqa: E402
from evoact.screening.kernel import Batch  # noqa: E402
from evoact.screening.probe import probe_points  # noqa: E402
from evoact.screening.static import rank_correlation, tail_reversal  # noqa: E402
from evoact.tasks import TASKS  # noqa: E402

THRESHOLDS = (0.5, 0.7, 0.8, 0.85, 0.9)
DEFAULT = ScreeningConfig().min_rank_correlation
TAIL_THRESHOLDS = (0.25, 0.5, 1.0, 2.0)
TAIL_DEFAULT = ScreeningConfig().max_tail_reversal


def correlation(formula: str, constants: dict[str, float]) -> float:
    """What static screening measures: |Spearman| of the unit with x on the probe's N(0, 1) sample."""
    return rank_correlation(_values(formula, constants))


def reversal(formula: str, constants: dict[str, float]) -> float:
    """What the tail check measures: the unit's turn against its trend over [-10, 10], per its range on N(0, 1)."""
    return tail_reversal(_values(formula, constants))


def _values(formula: str, constants: dict[str, float]):
    values, _ = Batch([lower(parse(formula))], [constants]).evaluate(probe_points())
    return values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", default="bench/results/fitness_transfer.json")
    parser.add_argument("--runs", nargs="*", default=[])
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--check", choices=("rank", "tail"), default="rank")
    parser.add_argument("--also", action="extend", nargs="+", default=[], help="formulas to list beside the pool")
    parser.add_argument("--out")
    args = parser.parse_args()
    args.out = args.out or f"bench/results/{'sign' if args.check == 'rank' else 'tail'}_check.md"
    recorded = json.loads(Path(args.scores).read_text())
    scores = {
        (n, t, int(s)): TaskScore.from_plain(v)
        for key, v in recorded["scores"].items()
        for n, t, s in [key.rsplit("|", 2)]
    }
    search = VARIANTS["deep MLP, ResNet, transformer"]  # the default search group: validation is every other task
    metrics = {t: TASKS[t].metric for t in {k[1] for k in scores}}
    rows = []
    for name, formula in recorded["functions"].items():
        ratios = heldout_ratios(name, scores, search, recorded["seeds"], metrics)
        if ratios:
            rho = correlation(formula, {"beta": 1.0})
            rows.append((name, formula, rho, min(ratios.values()), statistics.fmean(ratios.values())))
    tasks = sorted(heldout_ratios("gelu", scores, search, recorded["seeds"], metrics))
    if args.check == "tail":
        text = tail_report(rows, recorded, tasks, args)
        Path(args.out).write_text(text)
        print(text)
        return
    lines = [
        "# Does a unit that loses its input's sign fail on the validation group?",
        "",
        f"Command: `python bench/sign_check.py{''.join(' --runs ' + ' '.join(args.runs) if args.runs else '')}`"
        f" (trains nothing: reads `{args.scores}`, made by `bench/fitness_transfer.py`).",
        "",
        f"Pool: {len(rows)} functions (published activations, the baselines and random trees of the default space),"
        f" each trained with seeds {recorded['seeds']}. Validation tasks: {', '.join(tasks)} (periodic-mlp left out,"
        " as in fitness_transfer). A function's ratio on a task is its test measure relative to the best of GELU,"
        " SiLU and Mish there (mean over seeds); *worst* is its lowest ratio over those tasks, *mean* their mean.",
        "Rank correlation: |Spearman| of f(x) with x on the probe set's N(0, 1) sample, as static screening computes"
        " it (0 for an even function).",
        "",
        "| threshold | rejected | of them worst >= 0.8 | best worst among rejected | kept | of them worst >= 0.8"
        " | median worst: rejected / kept | median mean: rejected / kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tau in THRESHOLDS:
        low, high = [r for r in rows if r[2] < tau], [r for r in rows if r[2] >= tau]
        lines.append(
            f"| {tau:g}{' (default)' if tau == DEFAULT else ''} | {len(low)} | {sum(r[3] >= 0.8 for r in low)}"
            f" | {max((r[3] for r in low), default=float('nan')):.3f} | {len(high)} | {sum(r[3] >= 0.8 for r in high)}"
            f" | {statistics.median(r[3] for r in low):.3f} / {statistics.median(r[3] for r in high):.3f}"
            f" | {statistics.median(r[4] for r in low):.3f} / {statistics.median(r[4] for r in high):.3f} |"
        )
    lines += [
        "",
        "Every function of the pool whose worst validation ratio is at least 0.8, and every function the default"
        f" threshold ({DEFAULT:g}) rejects:",
        "",
        "| function | formula | rank correlation | worst | mean |",
        "|---|---|---|---|---|",
    ]
    for name, formula, rho, worst, mean in sorted(rows, key=lambda r: -r[3]):
        if worst >= 0.8 or rho < DEFAULT:
            lines.append(f"| {name} | `{formula}` | {rho:.2f} | {worst:.3f} | {mean:.3f} |")
    for path in args.runs:
        run = open_run(path)
        lines += [
            "",
            f"**{Path(path).name}**: its top {args.top} by raced mean (made before the check existed), and what the"
            " check says of each",
            "",
            "| rank | id | formula | raced mean | rank correlation | check |",
            "|---|---|---|---|---|---|",
        ]
        for rank, c in enumerate(run.ranking()[: args.top], 1):
            rho = correlation(c.formula, {"beta": 1.0, **mean_learned(c.outcome.learned)})
            raced = f"{c.raced_fitness:.4f}" if c.raced_fitness is not None else "-"
            verdict = "kept" if rho >= DEFAULT else "rejected"
            lines.append(f"| {rank} | #{c.id} | `{c.formula}` | {raced} | {rho:.2f} | {verdict} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


def tail_report(rows: list[tuple], recorded: dict, tasks: list[str], args: argparse.Namespace) -> str:
    """The tail check's table: for each threshold, what it rejects among the functions the rank check keeps."""
    kept = [(*r, reversal(r[1], {"beta": 1.0})) for r in rows if r[2] >= DEFAULT]
    command = "python bench/sign_check.py --check tail" + "".join(f" --also '{f}'" for f in args.also)
    lines = [
        "# Does a unit whose tails turn against its trend fail on the validation group?",
        "",
        f"Command: `{command}` (trains nothing: reads `{args.scores}`, made by `bench/fitness_transfer.py`).",
        "",
        f"Pool: the {len(kept)} of {len(rows)} functions that the rank check ({DEFAULT:g}) keeps, each trained with"
        f" seeds {recorded['seeds']}. Validation tasks: {', '.join(tasks)}; ratios as in `sign_check.md` (test"
        " measure over the best of GELU, SiLU and Mish; *worst* over those tasks). Tail reversal: how far the unit"
        " turns against its own trend (the sign of its rank correlation on N(0, 1)) going out from 0 over the probe's"
        " grid on [-10, 10], as a share of its range on N(0, 1), as static screening computes it.",
        "",
        "| threshold | rejected | of them worst >= 0.8 | best worst among rejected | kept | of them worst >= 0.8 |",
        "|---|---|---|---|---|---|",
    ]
    for tau in TAIL_THRESHOLDS:
        out, stay = [r for r in kept if r[5] > tau], [r for r in kept if r[5] <= tau]
        lines.append(
            f"| {tau:g}{' (default)' if tau == TAIL_DEFAULT else ''} | {len(out)} | {sum(r[3] >= 0.8 for r in out)}"
            f" | {max((r[3] for r in out), default=float('nan')):.3f} | {len(stay)}"
            f" | {sum(r[3] >= 0.8 for r in stay)} |"
        )
    lines += [
        "",
        "Every function the rank check keeps, by tail reversal:",
        "",
        "| function | formula | rank correlation | tail reversal | worst | mean |",
        "|---|---|---|---|---|---|",
    ]
    for name, formula, rho, worst, mean, turn in sorted(kept, key=lambda r: -r[5]):
        lines.append(f"| {name} | `{formula}` | {rho:.2f} | {turn:.3f} | {worst:.3f} | {mean:.3f} |")
    if args.also:
        lines += ["", "Other functions (no validation scores):", "", "| formula | rank correlation | tail reversal |"]
        lines += ["|---|---|---|"]
        for formula in args.also:
            constants = {"beta": 1.0}
            lines.append(
                f"| `{formula}` | {correlation(formula, constants):.2f} | {reversal(formula, constants):.3f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
