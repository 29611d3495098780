"""Benchmark: evolution versus random search at equal evaluation budgets, over several seeds, under the default fitness.

Run:  python bench/evolution_vs_random.py [--seeds 0 1 2] [--task NAME ...] [--epochs N] [--out bench/results]
      [--keep DIR]
(default: the general suite, each task's own training length at the quick budget; --keep leaves the runs in DIR,
e.g. as recorded runs for bench/async_simulation.py)
Both algorithms draw from the same space and go through the same cascade and evaluator; an evaluation is a
proposal that passed static screening (what each generation's quota counts). Prints the best fitness so far
versus evaluations for both (mean over seeds, and per seed), a paired t-test of the final bests over seeds, how
many evaluations evolution needed to reach random search's final best, and writes the curves as a PNG.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evoact.comparison import paired_p_value
from evoact.config import make_config
from evoact.driver import run_search
from evoact.genome import load_search_space
from evoact.plotting import plt
from evoact.store import RunStore
from evoact.tasks import SUITES

ALGORITHMS = ("evolution", "random")


def best_so_far(run_dir: Path) -> list[float]:
    """Best fitness after each evaluation, in proposal order (baselines and static rejections excluded)."""
    curve, best = [], float("-inf")
    for row in RunStore.open(run_dir).candidates():
        if row.label is not None or row.outcome.stage == "static":
            continue
        if row.status in ("ok", "duplicate") and row.outcome.fitness is not None:
            best = max(best, row.outcome.fitness)
        curve.append(best)
    return curve


def _unseeded(folder: Path) -> str:
    """The default space without its seed activations, so that neither algorithm starts from known good functions."""
    text = load_search_space("default").text
    start = text.index("seeds = [")
    path = folder / "default-unseeded.toml"
    path.write_text(text[:start] + text[text.index("]", start) + 1 :], encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--task", nargs="+", default=None, help="tasks (default: the general suite)")
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--offspring", type=int, default=12)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=None, help="epochs on every task (default: each task's own)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--keep-seeds",
        action="store_true",
        help="start both from the space's seed activations (SiLU, Mish); by default both start from random trees",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the runs as DIR/<algorithm>-s<seed>/run (default: temporary)"
    )
    args = parser.parse_args()
    console = Console(width=200)
    console.print("$ python " + " ".join(sys.argv))
    curves: dict[str, list[list[float]]] = {a: [] for a in ALGORITHMS}
    walls: dict[str, list[float]] = {a: [] for a in ALGORITHMS}
    for seed in args.seeds:
        for algorithm in ALGORITHMS:
            # a fresh folder each: the fitness cache lives beside the run, and none is shared between runs
            with (
                nullcontext(str(args.keep / f"{algorithm}-s{seed}")) if args.keep else tempfile.TemporaryDirectory()
            ) as tmp:
                run_dir = Path(tmp) / "run"
                Path(tmp).mkdir(parents=True, exist_ok=True)
                space = "default" if args.keep_seeds else _unseeded(Path(tmp))
                config = make_config(
                    "quick",
                    tasks=args.task,
                    space=space,
                    seed=seed,
                    algorithm=algorithm,
                    population=args.population,
                    offspring=args.offspring,
                    generations=args.generations,
                    epochs=args.epochs,
                    workers=args.workers,
                )
                start = time.perf_counter()
                run_search(config, run_dir, Console(stderr=True, quiet=True))
                walls[algorithm].append(time.perf_counter() - start)
                curves[algorithm].append(best_so_far(run_dir))
            console.print(
                f"seed {seed} {algorithm}: {len(curves[algorithm][-1])} evaluations,"
                f" best {curves[algorithm][-1][-1]:.4f}, {walls[algorithm][-1]:.0f} s"
            )
    budget = min(len(c) for cs in curves.values() for c in cs)
    marks = sorted({*range(args.population, budget + 1, args.offspring), budget})
    start = "the space's seed activations" if args.keep_seeds else "random trees (space seeds removed)"
    tasks = ", ".join(args.task or SUITES["general"])
    table = Table(
        title=f"best fitness so far vs evaluations on {tasks} ({args.epochs or 'each task its own'} epochs;"
        f" both start from {start}; seeds {', '.join(map(str, args.seeds))}; mean over seeds, then per seed)"
    )
    table.add_column("evaluations", justify="right")
    for algorithm in ALGORITHMS:
        table.add_column(f"{algorithm} mean", justify="right")
        table.add_column(f"{algorithm} per seed", justify="right")
    table.add_column("evolution - random", justify="right")
    for n in marks:
        means = {a: statistics.fmean(c[n - 1] for c in curves[a]) for a in ALGORITHMS}
        cells = []
        for a in ALGORITHMS:
            cells += [f"{means[a]:.4f}", " ".join(f"{c[n - 1]:.4f}" for c in curves[a])]
        table.add_row(str(n), *cells, f"{means['evolution'] - means['random']:+.4f}")
    console.print(table)
    finals = {a: [c[budget - 1] for c in curves[a]] for a in ALGORITHMS}
    p = paired_p_value(finals["evolution"], finals["random"])
    diffs = [e - r for e, r in zip(finals["evolution"], finals["random"])]
    console.print(
        f"final best after {budget} evaluations, evolution - random: {statistics.fmean(diffs):+.4f}"
        + (f" ± {statistics.stdev(diffs):.4f} (sd over seeds)" if len(diffs) > 1 else "")
        + f", evolution ahead in {sum(d > 0 for d in diffs)} of {len(diffs)} seeds, paired t-test p = "
        + (f"{p:.3f}" if p is not None else "n/a")
    )
    reached = []
    for seed, evo, rand in zip(args.seeds, curves["evolution"], curves["random"]):
        target = rand[budget - 1]
        hit = next((i + 1 for i, v in enumerate(evo[:budget]) if v >= target), None)
        reached.append(hit)
        console.print(
            f"seed {seed}: random search's final best {target:.4f} after {budget} evaluations;"
            " evolution reached it after "
            + (f"{hit} evaluations" if hit else f"- (not within {budget}; its best was {evo[budget - 1]:.4f})")
        )
    found = [h for h in reached if h]
    console.print(
        f"evolution reached random search's final best in {len(found)} of {len(reached)} seeds"
        + (
            f", after {statistics.fmean(found):.0f} evaluations on average"
            f" ({statistics.fmean(found) / budget:.0%} of the budget)"
            if found
            else ""
        )
    )
    console.print(
        "wall seconds per run, mean: " + ", ".join(f"{a} {statistics.fmean(walls[a]):.0f}" for a in ALGORITHMS)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for algorithm, color in zip(ALGORITHMS, ("tab:blue", "tab:orange")):
        xs = range(1, budget + 1)
        for c in curves[algorithm]:
            ax.plot(xs, c[:budget], color=color, alpha=0.25, linewidth=1)
        ax.plot(
            xs,
            [statistics.fmean(c[i] for c in curves[algorithm]) for i in range(budget)],
            color=color,
            linewidth=2.5,
            label=f"{algorithm} (mean of {len(args.seeds)} seeds)",
        )
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best fitness so far")
    ax.set_title(f"evolution vs random search on {tasks}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    png = args.out / "evolution_vs_random.png"
    fig.savefig(png, dpi=120)
    console.print(f"wrote {png}")


if __name__ == "__main__":
    main()
