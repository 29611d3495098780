"""Replay search methods against the activation benchmark table: lookup instead of training, 30 seeds in minutes.

    python bench/replay.py [--seeds 30] [--trainings 300] [--table PATH]

Each method runs evoact's own algorithm (``evoact.evolution``) over the table's space with the default cascade's
verdicts as the table recorded them. A function past static screening costs one training the first time it is
looked up (a quality-hurdle stop counts as one); a repeat is the fitness cache's hit and costs nothing. Each lookup
draws one of the table's seeds, so the noise a search sees is real. Methods:

- ``random``: random search through the space;
- ``evolution``: regularized evolution at the quick budget's population and offspring;
- ``evolution+racing``: as evolution, and every function that enters the top 5 by its mean trains on the other
  seed too (the table holds two seeds; each costs a training);
- ``evolution+surrogate``: as evolution, but of each generation's new functions only the top quarter by the
  surrogate's prediction trains (and one in ten of the rest, to explore); the surrogate learns only from this
  search's own trainings (it would know the answers if it started from the table it is replayed against).

Regret at a number of trainings: the table's best true score (the mean over seeds) minus the true score of the best
function trained so far ("found"), and minus the true score of the function the search itself ranks first
("chosen": its mean over the seeds it saw). Writes bench/results/replay.md, replay.json and replay.png.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evoact.benchtable import BenchTable, Entry, load_table  # noqa: E402
from evoact.config import BUDGETS  # noqa: E402
from evoact.evolution import Evolution, EvolutionConfig, RandomSearch  # noqa: E402
from evoact.genome import Genome  # noqa: E402
from evoact.records import Status  # noqa: E402
from evoact.search_space import load_search_space  # noqa: E402
from evoact.surrogate import Example, Surrogate  # noqa: E402

METHODS = ("random", "evolution", "evolution+racing", "evolution+surrogate")
RACE_TOP = 5
SURROGATE_FRACTION = 0.25  # of each generation's new functions, the share the surrogate lets train
EXPLORE = 0.1  # of the rest, the share that trains anyway
OUT = ROOT / "bench" / "results"
FEATURES: dict = {}  # formula -> surrogate features, shared by every replay


@dataclass
class Replay:
    """One replayed search: what it trained, in order, and what it saw."""

    table: BenchTable
    rng: random.Random
    seen: dict[int, list[float | None]] = field(default_factory=dict)  # entry -> fitness per seed drawn
    drawn: dict[int, list[int]] = field(default_factory=dict)  # entry -> seeds drawn
    trained: list[int] = field(default_factory=list)  # entry per training, in order
    chosen: list[int | None] = field(default_factory=list)  # the search's own #1 after each training

    def train(self, index: int) -> float | None:
        """One evaluation of an entry on a seed not drawn for it yet: its fitness under that seed. It counts as a
        training unless the stability check rejected it first."""
        entry = self.table.entries[index]
        left = [i for i in range(len(entry.trials)) if i not in self.drawn.get(index, [])]
        pick = self.rng.choice(left)
        trial = entry.trials[pick]
        self.drawn.setdefault(index, []).append(pick)
        fit = trial.fitness if trial.status == Status.OK else None
        self.seen.setdefault(index, []).append(fit)
        if trial.trained:
            self.trained.append(index)
            self.chosen.append(self.best_seen())
        return fit

    def observed(self, index: int) -> float | None:
        """The search's estimate: the mean of the seeds it drew, None if any failed."""
        values = self.seen.get(index, [])
        return None if not values or None in values else sum(v for v in values if v is not None) / len(values)

    def best_seen(self) -> int | None:
        known = [(v, i) for i in self.seen if (v := self.observed(i)) is not None]
        return max(known)[1] if known else None


def lookup(table: BenchTable, tree: str) -> tuple[int, Entry]:
    index = table.index(tree)
    return index, table.entries[index]


def replay(table: BenchTable, method: str, seed: int, trainings: int) -> Replay:
    """Run one method with one seed until it has spent ``trainings`` trainings."""
    genome = Genome(load_search_space(table.space))
    quick = BUDGETS["quick"]
    config = EvolutionConfig(population=quick["population"], offspring=quick["offspring"])
    algorithm: Evolution = (RandomSearch if method == "random" else Evolution)(genome, config, seed=seed)
    run = Replay(table, random.Random(seed))
    surrogate = (
        Surrogate(("fitness",), {"beta": 1.0}, seed=seed, feature_cache=FEATURES)
        if method == "evolution+surrogate"
        else None
    )
    gate = random.Random(seed + 1)
    learned = 0
    while len(run.trained) < trainings:
        proposals = algorithm.ask()
        if not proposals:
            break
        fresh = []  # (position, entry index) of functions past static screening not yet trained
        for pos, proposal in enumerate(proposals):
            index, entry = lookup(table, proposal.tree)
            if not entry.static and index not in run.seen and index not in [i for _, i in fresh]:
                fresh.append((pos, index))
        allowed = {i for _, i in fresh}
        if surrogate is not None and len(run.trained) > learned:
            surrogate.examples = [
                Example(table.entries[i].formula, None if (v := run.observed(i)) is None else (v,)) for i in run.seen
            ]
            learned = len(run.trained)
            surrogate.fit()
        if surrogate is not None and surrogate.ready and fresh:
            predicted = surrogate.predict([table.entries[i].formula for _, i in fresh])
            keep = max(1, round(SURROGATE_FRACTION * len(fresh)))
            order = np.argsort(-predicted, kind="stable")
            allowed = {fresh[k][1] for k in order[:keep]} | {i for _, i in fresh if gate.random() < EXPLORE}
        fitness: list[float | None] = []
        for proposal in proposals:
            index, entry = lookup(table, proposal.tree)
            if entry.static:
                fitness.append(None)  # static screening: no training
            elif index in run.seen:
                fitness.append(run.observed(index))  # the fitness cache
            elif index in allowed and len(run.trained) < trainings:
                allowed.discard(index)
                fitness.append(run.train(index))
            else:
                fitness.append(None)  # skipped by the surrogate (or the budget is spent)
        algorithm.tell(proposals, list(range(len(proposals))), fitness)
        if method == "evolution+racing":
            top = sorted((v, i) for i in run.seen if (v := run.observed(i)) is not None)[-RACE_TOP:]
            for _, index in top:
                if len(run.drawn[index]) < len(table.seeds) and len(run.trained) < trainings:
                    run.train(index)
    return run


def curves(table: BenchTable, runs: list[Replay], trainings: int) -> dict[str, np.ndarray]:
    """Per run, regret after each training: of the best function trained so far, and of the search's own #1."""
    truth = {i: e.fitness for i, e in enumerate(table.entries) if e.label is None and e.fitness is not None}
    best = max(truth.values())
    found = np.full((len(runs), trainings), np.nan)
    chosen = np.full((len(runs), trainings), np.nan)
    for r, run in enumerate(runs):
        top = -np.inf
        for t, (index, pick) in enumerate(zip(run.trained, run.chosen)):
            top = max(top, truth.get(index, -np.inf))
            found[r, t] = best - top if np.isfinite(top) else np.nan
            chosen[r, t] = best - truth[pick] if pick is not None and pick in truth else np.nan
        found[r, len(run.trained) :] = found[r, len(run.trained) - 1] if run.trained else np.nan
        chosen[r, len(run.trained) :] = chosen[r, len(run.trained) - 1] if run.trained else np.nan
    return {"found": found, "chosen": chosen}


def to_top(table: BenchTable, runs: list[Replay], share: float = 0.01) -> list[float]:
    """Per run, the trainings it took to train one of the table's top ``share`` functions (inf if it never did)."""
    truth = sorted((e.fitness, i) for i, e in enumerate(table.entries) if e.label is None and e.fitness is not None)
    top = {i for _, i in truth[-max(1, round(share * len(truth))) :]}
    return [next((t + 1 for t, i in enumerate(run.trained) if i in top), float("inf")) for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trainings", type=int, default=300)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    table = load_table(args.table)
    started = time.time()
    results = {}
    for method in METHODS:
        runs = [replay(table, method, seed, args.trainings) for seed in range(args.seeds)]
        results[method] = (runs, curves(table, runs, args.trainings), to_top(table, runs))
        print(f"{method}: {time.time() - started:.0f} s", flush=True)
    write(table, results, args)


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.nanmean(values, axis=0)
    half = stats.t.ppf(0.975, values.shape[0] - 1) * np.nanstd(values, axis=0, ddof=1) / np.sqrt(values.shape[0])
    return mean, mean - half, mean + half


def write(table: BenchTable, results: dict, args: argparse.Namespace) -> None:
    """The regret plot, the figures as JSON and the markdown summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    x = np.arange(1, args.trainings + 1)
    for ax, kind in zip(axes, ("found", "chosen")):
        for method, (_, curve, _) in results.items():
            mean, lo, hi = _band(curve[kind])
            ax.plot(x, mean, label=method)
            ax.fill_between(x, lo, hi, alpha=0.2)
        ax.set_xlabel("trainings")
        ax.set_title(f"regret of the {'best function trained' if kind == 'found' else 'search own #1'}")
        ax.set_yscale("log")
    axes[0].set_ylabel(f"table's best true fitness minus (mean and 95% band over {args.seeds} seeds)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.out / "replay.png", dpi=110)
    points = [n for n in (25, 50, 100, 200, 300, 500) if n <= args.trainings]
    summary = {
        method: {
            kind: {str(n): float(np.nanmean(curve[kind][:, n - 1])) for n in points} for kind in ("found", "chosen")
        }
        | {"to_top_1pct_median": statistics.median(top)}
        for method, (_, curve, top) in results.items()
    }
    (args.out / "replay.json").write_text(json.dumps(summary, indent=1))
    scored = table.scored()
    lines = [
        "# Offline replay against the activation benchmark table",
        "",
        f"Command: `python bench/replay.py --seeds {args.seeds} --trainings {args.trainings}`",
        "",
        f"Table: {len(table.entries)} functions of the `{table.space}` space ({len(scored)} trained to the end on"
        f" every seed), tasks {', '.join(table.tasks)}, seeds {list(table.seeds)}, epoch scale"
        f" {table.protocol.get('epoch_scale')}. Best true fitness {max(e.fitness for e in scored):.4f}.",
        "",
        "Mean regret over seeds (lower is better) after a number of trainings: of the best function trained so far"
        " (found) and of the function the search ranks first (chosen):",
        "",
        "| method | "
        + " | ".join(f"found @{n}" for n in points)
        + " | "
        + " | ".join(f"chosen @{n}" for n in points)
        + " | trainings to a top-1% function (median) |",
        "|---|" + "---|" * (2 * len(points) + 1),
    ]
    for method, figures in summary.items():
        lines.append(
            f"| {method} | "
            + " | ".join(f"{figures['found'][str(n)]:.4f}" for n in points)
            + " | "
            + " | ".join(f"{figures['chosen'][str(n)]:.4f}" for n in points)
            + f" | {figures['to_top_1pct_median']} |"
        )
    lines += [
        "",
        "Paired tests over seeds (the same seed replays each method), Wilcoxon signed-rank on the regret:",
        "",
    ]
    for a, b in (("evolution", "random"), ("evolution+racing", "evolution"), ("evolution+surrogate", "evolution")):
        for kind in ("found", "chosen"):
            for n in points:
                da, db = results[a][1][kind][:, n - 1], results[b][1][kind][:, n - 1]
                ok = ~(np.isnan(da) | np.isnan(db))
                diff = da[ok] - db[ok]
                p = stats.wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0
                lines.append(
                    f"- {a} vs {b}, {kind} @{n}: mean regret {np.mean(da[ok]):.4f} vs {np.mean(db[ok]):.4f},"
                    f" p = {p:.3g}"
                )
    lines += ["", "![regret](replay.png)", ""]
    (args.out / "replay.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
