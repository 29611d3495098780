"""Replay search methods against the activation benchmark table: lookup instead of training, 30 seeds in minutes.

    python bench/replay.py [--seeds 30] [--trainings 300] [--table PATH] [--unseeded] [--prior PATH] [--out DIR]

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
  search's own trainings (it would know the answers if it started from the table it is replayed against), and with
  ``--prior`` from another table's functions first (say, the short schedule's, replaying the full one).

``--unseeded`` drops the space's seed tree (Swish), for a table where that seed is itself a top-1% function.

Regret at a number of trainings: the table's best true score (the mean over seeds) minus the true score of the best
function trained so far ("found"), and minus the true score of the function the search itself ranks first
("chosen": its mean over the seeds it saw). Writes replay.md, replay.json and replay.png in ``--out``
(bench/results by default).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evoact.benchtable import BenchTable, TableError, load_table  # noqa: E402
from evoact.config import BUDGETS  # noqa: E402
from evoact.evolution import Evolution, EvolutionConfig, RandomSearch  # noqa: E402
from evoact.genome import Genome, load_search_space  # noqa: E402
from evoact.records import Status, TaskScore  # noqa: E402
from evoact.search_space import SearchSpace  # noqa: E402
from evoact.surrogate import (  # noqa: E402
    EXPLORE,
    Example,
    Gate,
    Surrogate,
    relative_scores,
    table_examples,
    table_references,
)

METHODS = ("random", "evolution", "evolution+racing", "evolution+surrogate")
RACE_TOP = 5
TOP_UPS = 25  # asks a generation makes at most to fill its quota (the driver's _MAX_TOP_UPS)
KEEP = 0.25  # the surrogate stage trains what it predicts in this top share (and EXPLORE of the rest)
OUT = ROOT / "bench" / "results"
_TABLES: dict = {}  # path -> the table, loaded once per process


@dataclass
class Replay:
    """One replayed search: what it trained, in order, and what it saw."""

    table: BenchTable
    rng: random.Random
    seen: dict[int, list[float | None]] = field(default_factory=dict)  # entry -> fitness per seed drawn
    drawn: dict[int, list[int]] = field(default_factory=dict)  # entry -> seeds drawn (trial positions)
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

    def examples(self, refs: list[dict[str, float]]) -> list[Example]:
        """What the surrogate learns from: each function trained, with the per-task relative scores of the first seed
        drawn for it (None: it did not train to the end)."""
        metrics = dict(self.table.protocol.get("metrics", {}))
        out = []
        for index, picks in self.drawn.items():
            entry, pick = self.table.entries[index], picks[0]
            trial = entry.trials[pick]
            scores = relative_scores(trial.scores, refs[pick], self.table.tasks, metrics)
            out.append(Example(entry.formula, scores if trial.status == Status.OK else None))
        return out


def replay(
    table: BenchTable,
    method: str,
    seed: int,
    trainings: int,
    space: str | SearchSpace | None = None,
    select: tuple[int, int] = (0, 0),
    prior: Sequence[Example] = (),
) -> Replay:
    """Run one method with one seed until it has spent ``trainings`` trainings. ``select`` = (pool, n): as the
    engine's ``--offspring n --surrogate-pool pool/n``, a generation's quota is ``n`` offspring (the first: the
    population), and once the surrogate can rank, the generation proposes ``pool/n`` times its quota and the
    surrogate's top quota of them train (``select_top``) instead of the gate; before that, the quota trains. As the
    driver, a generation asks again for what stage 1 rejected (with a pool: for what did not train).
    ``prior``: what the surrogate knows before the search (another table's functions; none by default)."""
    genome = Genome(space if isinstance(space, SearchSpace) else load_search_space(space or table.space))
    quick = BUDGETS["quick"]
    pool, n = select
    if n and (pool < n or pool % n):
        raise ValueError(f"select=({pool}, {n}): the pool must be a multiple of the quota trained")
    config = EvolutionConfig(population=quick["population"], offspring=n or quick["offspring"])
    algorithm: Evolution = (RandomSearch if method == "random" else Evolution)(genome, config, seed=seed)
    baselines = set(table.protocol.get("baselines", ()))
    algorithm.seen.update(e.formula for e in table.entries if e.label in baselines)  # as the driver does
    run = Replay(table, random.Random(seed))
    gate = None
    if method == "evolution+surrogate" or n:  # the engine's own stage: the prior, then this search's trainings
        keep = 0.0 if n else KEEP  # a pool ranks (the engine's --surrogate-pool has no --surrogate share)
        gate = Gate(Surrogate(table.tasks, {"beta": 1.0}, seed=seed), keep, EXPLORE, prior=list(prior))
    refs = table_references(table)
    told = 0
    while len(run.trained) < trainings:
        if gate is not None:
            gate.refit(run.examples(refs))  # once per generation, on what earlier generations trained
        quota = config.population if algorithm.generation == 0 else config.offspring  # as the driver's target
        ranking = bool(n) and gate is not None and gate.threshold is not None
        proposals: list = []
        fitness: list[float | None] = []
        kept = 0
        for _ in range(TOP_UPS):  # as the driver: static rejections are made up for (with a pool: what did not train)
            batch = algorithm.ask((quota - kept) * (pool // n if ranking else 1))  # the driver's pool_factor
            if not batch:  # a space this small can run out of new functions (``Evolution.ran_out``)
                break
            values, passed = _evaluate(run, gate, batch, quota - kept if n else None, trainings)
            proposals, fitness, kept = proposals + batch, fitness + values, kept + passed
            if kept >= quota or len(run.trained) >= trainings:
                break
        if not proposals:
            break
        ids = list(range(told, told + len(proposals)))  # candidate ids, unique as a run's are: tournaments key on them
        told += len(proposals)
        algorithm.tell(proposals, ids, fitness)
        if method == "evolution+racing":
            top = sorted((v, i) for i in run.seen if (v := run.observed(i)) is not None)[-RACE_TOP:]
            for _, index in top:
                if len(run.drawn[index]) < len(table.seeds) and len(run.trained) < trainings:
                    run.train(index)
    return run


def _evaluate(
    run: Replay, gate: Gate | None, batch: list, train: int | None, trainings: int
) -> tuple[list[float | None], int]:
    """One batch of a generation, as ``Problem.submit`` screens it: each proposal's fitness (None: rejected, skipped
    or over the budget), and how many passed stage 1 (with ``train``, a pool's quota left: how many trained)."""
    table = run.table
    indices = [table.index(p.tree) for p in batch]
    fresh = list(dict.fromkeys(i for i in indices if not table.entries[i].static and i not in run.seen))
    allowed = set(fresh)
    if gate is not None:
        formulas = [table.entries[i].formula for i in fresh]
        if train is None:
            allowed = {i for i, d in zip(fresh, gate.decide(formulas)) if d.train}
        elif gate.threshold is not None:  # a pool the surrogate ranks
            allowed = {fresh[j] for j in select_top(gate, formulas, train)}
        else:  # a pool whose surrogate cannot rank yet: the first of the quota train
            allowed = set(fresh[:train])
    fitness: list[float | None] = []
    evaluated = 0
    for index in indices:
        if table.entries[index].static:
            fitness.append(None)  # static screening: no training
        elif index in run.seen:
            fitness.append(run.observed(index))  # the fitness cache (or this batch's own duplicate)
        elif index not in allowed or len(run.trained) >= trainings:
            fitness.append(None)  # skipped by the surrogate (or the budget is spent)
        else:
            fitness.append(run.train(index))
            evaluated += 1
    passed = evaluated if train is not None else sum(not table.entries[i].static for i in indices)
    return fitness, passed


def select_top(gate: Gate, formulas: list[str], n: int) -> set[int]:
    """Indices of the ``n`` formulas to train (``Gate.select``: the engine's ``--surrogate-pool``)."""
    return {j for j, d in enumerate(gate.select(formulas, n)) if d.train}


def test_truth(table: BenchTable) -> dict[int, float | None]:
    """Each function of the space's true score: its fitness on the held-out test measures (each task's test accuracy
    or loss relative to the best baseline's on that seed), the mean over the seeds; None unless every seed trained
    to the end. Searches select on validation measures, so racing's two seeds do not make its estimate the truth."""
    metrics = dict(table.protocol.get("metrics", {}))
    names = set(table.protocol.get("baselines", ()))
    refs = []
    for i in range(len(table.seeds)):
        refs.append({})
        for task in table.tasks:
            loss = metrics.get(task) == "loss"
            values = [
                v
                for e in table.entries
                if e.label in names
                and e.trials[i].status == Status.OK
                and (v := _test(e.trials[i].scores[task], loss)) is not None
            ]
            refs[i][task] = min(values) if loss else max(values)
    truth: dict[int, float | None] = {}
    for index, entry in enumerate(table.entries):
        if not entry.trees:
            continue  # a published function no tree writes: no search here can find it
        if entry.static or any(t.status != Status.OK for t in entry.trials):
            truth[index] = None
            continue
        per_seed = []
        for i, trial in enumerate(entry.trials):
            ratios = []
            for task in table.tasks:
                value = _test(trial.scores[task], metrics.get(task) == "loss")
                ratios.append(refs[i][task] / value if metrics.get(task) == "loss" else value / refs[i][task])
            per_seed.append(sum(ratios) / len(ratios))
        truth[index] = sum(per_seed) / len(per_seed)
    return truth


def _test(score: TaskScore, loss: bool) -> float | None:
    return score.test_loss if loss else score.test_acc


def curves(truth: dict[int, float | None], runs: list[Replay], trainings: int) -> dict[str, np.ndarray]:
    """Per run, regret after each training: of the best function trained so far (found), and of the function the
    search ranks first (chosen). A function without a true score (it failed on a seed) counts as the worst."""
    known = [v for v in truth.values() if v is not None]
    best, worst = max(known), min(known)
    value = lambda i: worst if i is None or truth.get(i) is None else truth[i]  # noqa: E731
    found = np.full((len(runs), trainings), np.nan)
    chosen = np.full((len(runs), trainings), np.nan)
    for r, run in enumerate(runs):
        top = worst
        for t, (index, pick) in enumerate(zip(run.trained, run.chosen)):
            top = max(top, value(index))
            found[r, t], chosen[r, t] = best - top, best - value(pick)
        if run.trained:  # a search that ran out of new functions keeps its last regret
            found[r, len(run.trained) :], chosen[r, len(run.trained) :] = (
                found[r, len(run.trained) - 1],
                chosen[r, len(run.trained) - 1],
            )
    return {"found": found, "chosen": chosen}


def to_top(truth: dict[int, float | None], runs: list[Replay], share: float = 0.01) -> list[float]:
    """Per run, the trainings it took to train one of the space's top ``share`` functions (inf if it never did)."""
    ranked = sorted((v, i) for i, v in truth.items() if v is not None)
    top = {i for _, i in ranked[-max(1, round(share * len(ranked))) :]}
    return [next((t + 1 for t, i in enumerate(run.trained) if i in top), float("inf")) for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trainings", type=int, default=300)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--space", default=None, help="the table's space file (default: the shipped space it names)")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="folder for replay.md, .json and .png (default: %(default)s)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPU cores)")
    add_replay_options(parser)
    args = parser.parse_args()
    table = load_table(args.table)
    check_prior(parser, args.prior, table)
    truth = test_truth(table)
    started = time.time()
    results = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for method in METHODS:
            jobs = [
                (args.table, method, seed, args.trainings, args.space, args.unseeded, args.prior)
                for seed in range(args.seeds)
            ]
            runs = list(pool.map(_replay_job, jobs))
            results[method] = (runs, curves(truth, runs, args.trainings), to_top(truth, runs))
            print(f"{method}: {time.time() - started:.0f} s", flush=True)
    write(table, truth, results, args, time.time() - started)


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """``--unseeded`` and ``--prior``, as every replay script takes them."""
    parser.add_argument(
        "--unseeded",
        action="store_true",
        help="the space without its seed tree (Swish), for a table where the seed is itself a top-1%% function",
    )
    parser.add_argument(
        "--prior",
        type=Path,
        default=None,
        help="another benchmark table (say, the short schedule's) the surrogate starts from; default: none",
    )


def check_prior(parser: argparse.ArgumentParser, prior: Path | None, table: BenchTable) -> None:
    """Refuse, in one line, a prior table whose tasks are not the replayed table's."""
    if prior is None:
        return
    try:
        tasks = table_at(prior).tasks
    except TableError as exc:
        parser.error(f"--prior: {exc}")
    if tasks != table.tasks:
        parser.error(f"--prior {prior}: its tasks are not the replayed table's ({', '.join(table.tasks)})")


def _replay_job(job: tuple) -> Replay:
    """One replay in a worker process (each loads the table once)."""
    path, method, seed, trainings, space, unseeded, prior = job
    table = table_at(path)
    if unseeded:
        space = replace(load_search_space(space or table.space), seeds=())
    return replay(table, method, seed, trainings, space, prior=prior_examples(prior, table))


def table_at(path: Path | None) -> BenchTable:
    """A table, loaded once per process."""
    if path not in _TABLES:
        _TABLES[path] = load_table(path)
    return _TABLES[path]


def prior_examples(path: Path | None, replayed: BenchTable | None = None) -> list[Example]:
    """What a surrogate starts from: the functions of the table at ``path`` (none without one), at its schedule
    relative to the ``replayed`` table's."""
    if path is None:
        return []
    return table_examples(table_at(path), None if replayed is None else replayed.protocol["epoch_scale"])


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t-interval per column, over the runs that have a value there."""
    n = np.sum(~np.isnan(values), axis=0)
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * np.nanstd(values, axis=0, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def _holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of several p-values."""
    order = np.argsort(pvalues)
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def write(table: BenchTable, truth: dict, results: dict, args: argparse.Namespace, seconds: float) -> None:
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
        ax.set_yscale("symlog", linthresh=1e-3)
    axes[0].set_ylabel(f"best true score minus (mean, 95% band, {args.seeds} seeds)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.out / "replay.png", dpi=110)
    points = [n for n in (10, 25, 50, 100, 200, 300, 500) if n <= args.trainings]
    median_to_top = {m: statistics.median(top) for m, (_, _, top) in results.items()}
    summary = {
        method: {
            kind: {str(n): float(np.nanmean(curve[kind][:, n - 1])) for n in points} for kind in ("found", "chosen")
        }
        | {"to_top_1pct_median": None if np.isinf(median_to_top[method]) else median_to_top[method]}
        for method, (_, curve, _) in results.items()
    }
    (args.out / "replay.json").write_text(json.dumps(summary, indent=1))
    known = [v for v in truth.values() if v is not None]
    lines = [
        "# Offline replay against the activation benchmark table",
        "",
        f"Command: `python bench/replay.py --seeds {args.seeds} --trainings {args.trainings}"
        + "".join(
            f" --{k} {v}"
            for k, v in (("table", args.table), ("space", args.space), ("prior", args.prior), ("out", args.out))
            if v != OUT and v
        )
        + (" --unseeded" if args.unseeded else "")
        + f"` ({seconds / 60:.1f} min"
        f" on 2 cores, {args.workers} processes)",
        "",
        f"Table: the `{table.space}` space's {len(truth)} functions ({len(known)} trained to the end on every seed),"
        f" tasks {', '.join(table.tasks)}, seeds {list(table.seeds)}, epoch scale {table.protocol.get('epoch_scale')}."
        " A search selects on validation measures (the fitness); the true score is the same fitness on the test"
        f" measures, the mean over the seeds: best {max(known):.4f}, median {statistics.median(known):.4f}.",
        "",
        "Mean regret over seeds (lower is better) after a number of trainings: of the best function trained so far"
        " (found) and of the function the search itself ranks first (chosen); and the median number of trainings to"
        " train one of the space's top-1% functions (`-`: not within the budget for most seeds); and how many seeds"
        " ran out of new functions to propose before the budget (the space has"
        f" {sum(not table.entries[i].static for i in truth)} past static screening;"
        " one that did keeps its last regret):",
        "",
        "| method | "
        + " | ".join(f"found @{n}" for n in points)
        + " | "
        + " | ".join(f"chosen @{n}" for n in points)
        + " | to a top-1% function | ran out of new functions |",
        "|---|" + "---|" * (2 * len(points) + 2),
    ]
    for method, figures in summary.items():
        to_top = figures["to_top_1pct_median"]
        lines.append(
            f"| {method} | "
            + " | ".join(f"{figures['found'][str(n)]:.4f}" for n in points)
            + " | "
            + " | ".join(f"{figures['chosen'][str(n)]:.4f}" for n in points)
            + f" | {'-' if to_top is None else f'{to_top:g}'}"
            + f" | {sum(len(r.trained) < args.trainings for r in results[method][0])} of {args.seeds} |"
        )
    checks = [(n, kind) for n in dict.fromkeys((points[len(points) // 2], points[-1])) for kind in ("found", "chosen")]
    pairs = (("evolution", "random"), ("evolution+racing", "evolution"), ("evolution+surrogate", "evolution"))
    tests = []
    for a, b in pairs:
        for n, kind in checks:
            da, db = results[a][1][kind][:, n - 1], results[b][1][kind][:, n - 1]
            diff = da - db
            p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
            tests.append((a, b, kind, n, float(np.mean(da)), float(np.mean(db)), p))
    adjusted = _holm([t[-1] for t in tests])
    lines += [
        "",
        f"Paired tests over the {args.seeds} seeds (each seed replays every method), Wilcoxon signed-rank on the"
        f" regret, p-values Holm-adjusted over these {len(tests)} tests:",
        "",
        "| comparison | regret of | trainings | mean regret (first) | mean regret (second) | p (Holm) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {a} vs {b} | {kind} | {n} | {ma:.4f} | {mb:.4f} | {p:.3g} |"
            for (a, b, kind, n, ma, mb, _), p in zip(tests, adjusted)
        ),
        "",
        "![regret](replay.png)",
        "",
    ]
    (args.out / "replay.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
