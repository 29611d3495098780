"""Benchmark: generational against asynchronous (steady-state) evolution from 2 to 1,000 workers, by discrete-event
simulation, and the driver's own throughput.

Run:  python bench/async_simulation.py --recorded RUN_DIR ... [--seeds 0 1 2 3 4] [--workers 2 16 128 1000]
          [--out bench/results/async_simulation]
      python bench/async_simulation.py --throughput-only [--results 2000]

Simulation: the real algorithm (``evolution.Evolution``: ask, tell, aging) and the real cascade's decisions (static
screening with the numba kernel, functional duplicates by fingerprint) run as they do in a search; only training is
simulated. A proposal's outcome (trained, stopped at a quality hurdle, rejected as unstable, failed) and fitness come
from a landscape of recorded results: its own recorded outcome where the same function (fingerprint) was evaluated,
else its nearest recorded function's by values on the probe points (AQuaSurF's idea), with noise of the size seen
between functions that are that close. Evaluation times are drawn from the recorded times of that kind of outcome.
The driver is one server: each event costs the driver time measured for the real calls, and a worker waits while
the driver is busy. Reported per workers and mode: worker utilisation, evaluations per hour, the driver's busy
fraction, and the best fitness after the run's evaluations, mean over seeds.

Driver throughput: the real driver loop (``driver.run_steady``) with the real algorithm, problem, run store (SQLite,
one commit per pass), fitness cache and checkpoints, against 1,000 workers whose evaluations finish at once, in
batches of 1, 10 and 50 results: results per second once every worker holds work and the population is whole (what
bounds workers x (1 / evaluation seconds)), and the milliseconds per result in each part. ``--throughput-only``
measures just that (no recorded runs needed).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import heapq
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.api import open_run  # noqa: E402
from evoact.comparison import paired_p_value  # noqa: E402
from evoact.compiler import values_at  # noqa: E402
from evoact.config import make_config  # noqa: E402
from evoact.driver import run_steady  # noqa: E402
from evoact.evolution import Evolution  # noqa: E402
from evoact.formula import parse  # noqa: E402
from evoact.genome import (
    Genome,  # noqa: E402
    load_search_space,  # noqa: E402
)
from evoact.hooks import Checkpoints, Hooks  # noqa: E402
from evoact.problem import Problem  # noqa: E402
from evoact.records import Outcome, TaskScore  # noqa: E402
from evoact.screening import ScreeningConfig, screen_static  # noqa: E402
from evoact.screening.probe import probe_points  # noqa: E402
from evoact.store import RunStore  # noqa: E402

KINDS = ("ok", "quality", "stability", "failed")


class Landscape:
    """Outcomes and times of recorded evaluations, and the nearest recorded function of any formula."""

    def __init__(self, runs: list[str]) -> None:
        self.formulas, self.kinds, self.fitness, values = [], [], [], []
        self.seconds: dict[str, list[float]] = {k: [] for k in KINDS}
        x = probe_points()
        for path in runs:
            run = open_run(path)
            for row in run.store.candidates():
                o = row.outcome
                kind = (
                    "ok"
                    if o.status == "ok"
                    else o.stage
                    if o.status == "rejected" and o.stage in ("quality", "stability")
                    else "failed"
                    if o.status == "failed"
                    else None
                )
                if kind is None or row.label is not None:
                    continue
                if o.seconds:
                    self.seconds[kind].append(o.seconds)
                v = values_at(parse(row.formula), x, run.constants(row))
                if not np.all(np.isfinite(v)):
                    continue
                self.formulas.append(row.formula)
                self.kinds.append(kind)
                self.fitness.append(o.fitness if kind == "ok" else None)
                with np.errstate(all="ignore"):
                    values.append((v - v.mean()) / (v.std() + 1e-9))
            run.close()
        self.values = np.array(values)
        ok = [f for f in self.fitness if f is not None]
        self.spread = statistics.pstdev(ok) if len(ok) > 1 else 0.0

    def outcome(
        self, formula: str, params: dict[str, float], rng: np.random.Generator
    ) -> tuple[str, float | None, float]:
        """(kind, fitness, seconds) of evaluating ``formula``: its nearest recorded function's, with noise."""
        v = values_at(parse(formula), probe_points(), params)
        if not np.all(np.isfinite(v)):
            return "failed", None, float(rng.choice(self.seconds["failed"] or [1.0]))
        v = (v - v.mean()) / (v.std() + 1e-9)
        distances = np.sqrt(((self.values - v) ** 2).mean(axis=1))
        i = int(distances.argmin())
        kind = self.kinds[i]
        seconds = float(rng.choice(self.seconds[kind] or self.seconds["ok"]))
        if kind != "ok":
            return kind, None, seconds
        noise = self.spread * min(1.0, float(distances[i])) * 0.5  # farther from anything recorded, less certain
        return kind, self.fitness[i] + float(rng.normal(0.0, noise)), seconds


def simulate(
    landscape: Landscape, workers: int, steady: bool, evaluations: int, seed: int, population: int, offspring: int
) -> dict[str, float]:
    """One simulated search: the real algorithm and screening, simulated training times, one driver.

    ``evaluations`` counts trainings (proposals that pass static screening and are no functional duplicate).
    """
    space = load_search_space("default")
    rng = np.random.default_rng(seed)
    algorithm = Evolution(
        Genome(space),
        replace(make_config("quick").evolution, population=population, offspring=offspring),
        seed,
        steady=steady,
    )
    known: dict[str, float | None] = {}  # fingerprint -> fitness: the functional-equivalence cache
    screening = ScreeningConfig()
    driver_free = driver_busy = 0.0
    spans: list[tuple[float, float]] = []  # each training's start and end
    best, trained, ids = -math.inf, 0, 0

    def driver(at: float, work):
        """Run ``work`` on the driver, not before ``at``; its real duration is the driver's time."""
        nonlocal driver_free, driver_busy
        start = time.perf_counter()
        result = work()
        spent = time.perf_counter() - start
        driver_free, driver_busy = max(driver_free, at) + spent, driver_busy + spent
        return result

    def screen(at: float, proposals) -> list[tuple[object, float | None, float]]:
        """The proposals to train, as (proposal, fitness, seconds); the screened-out and duplicates are told at once."""
        nonlocal ids
        out, told = [], []
        for p in proposals:
            verdict = driver(
                at,
                lambda p=p: screen_static([p.formula], [p.nodes], space.learnable, space.limits.max_nodes, screening),
            )[0]
            if verdict.reason or verdict.fingerprint in known:
                told.append((p, None if verdict.reason else known[verdict.fingerprint]))
                continue
            kind, fit, seconds = landscape.outcome(p.formula, space.learnable, rng)
            known[verdict.fingerprint] = fit
            out.append((p, fit, seconds))
        if told:
            ids += len(told)
            driver(
                at,
                lambda: algorithm.tell([p for p, _ in told], list(range(ids - len(told), ids)), [f for _, f in told]),
            )
        return out

    trace: list[tuple[float, float]] = []  # (when, best fitness so far)

    def account(at: float, fit: float | None) -> None:
        nonlocal best
        if fit is not None and fit > best:
            best = fit
            trace.append((at, best))

    if steady:
        running: list[tuple[float, int, object, float | None]] = []
        order = 0
        while len(running) < min(workers, evaluations):  # the driver fills the workers one proposal at a time
            for p, fit, seconds in screen(driver_free, driver(driver_free, lambda: algorithm.ask(1))):
                order += 1
                heapq.heappush(running, (driver_free + seconds, order, p, fit))
                spans.append((driver_free, driver_free + seconds))
        while running:
            finish, _, proposal, fit = heapq.heappop(running)
            trained += 1
            account(finish, fit)
            ids += 1
            driver(finish, lambda proposal=proposal, ids=ids, fit=fit: algorithm.tell([proposal], [ids], [fit]))
            while len(running) < workers and trained + len(running) < evaluations:
                for p, fit2, seconds in screen(finish, driver(finish, lambda: algorithm.ask(1))):
                    order += 1
                    heapq.heappush(running, (driver_free + seconds, order, p, fit2))
                    spans.append((driver_free, driver_free + seconds))
        makespan = finish
    else:
        now = 0.0
        while trained < evaluations:
            target = population if algorithm.told == 0 else offspring
            jobs: list[tuple[object, float | None, float]] = []
            while len(jobs) < target:  # screened-out proposals are topped up, as the driver does
                jobs += screen(now, driver(now, lambda target=target, jobs=jobs: algorithm.ask(target - len(jobs))))
            free = [driver_free] * workers  # the generation's trainings queue for the workers
            ends = []
            for _, _, seconds in jobs:
                start = heapq.heappop(free)
                heapq.heappush(free, start + seconds)
                ends.append(start + seconds)
                spans.append((start, start + seconds))
            now = max(ends)
            trained += len(jobs)
            for (_, fit, _), end in zip(jobs, ends):
                account(end, fit)
            ids += len(jobs)
            driver(
                now,
                lambda jobs=jobs, ids=ids: algorithm.tell(
                    [p for p, _, _ in jobs], list(range(ids - len(jobs), ids)), [f for _, f, _ in jobs]
                ),
            )
        makespan = now
    starts = sorted(start for start, _ in spans)
    last = starts[-1]  # the last training starts: after it the budget only drains
    filled = starts[min(workers, len(starts)) - 1]  # as many trainings have started as there are workers

    def busy(since: float) -> float:
        """Worker utilisation from ``since`` until the last start."""
        spent = sum(min(end, last) - max(start, since) for start, end in spans if start < last and end > since)
        return spent / (workers * (last - since)) if last > since else 1.0

    return {
        "utilisation": sum(end - start for start, end in spans) / (workers * makespan),
        "utilisation_until_last": busy(0.0),
        "utilisation_steady": busy(filled),
        "per_hour": trained / makespan * 3600,
        "driver_busy": driver_busy / makespan,
        "best": best,
        "makespan": makespan,
        "trace": trace,
    }


def best_by(trace: list[tuple[float, float]], when: float) -> float:
    """The best fitness a simulated run had found by time ``when``."""
    return max((fit for at, fit in trace if at <= when), default=-math.inf)


class _Timed:
    """A stand-in for a connection or callable that adds the seconds spent in it to ``spent[part]``."""

    def __init__(self, inner, spent: dict[str, float], part: str) -> None:
        self.inner, self.spent, self.part = inner, spent, part

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.spent[self.part] += time.perf_counter() - start

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        return _Timed(attr, self.spent, self.part) if name in ("execute", "executemany", "commit") else attr


class _InstantPool:
    """The worker pool's interface with ``workers`` workers whose evaluations finish at once, oldest first, in batches
    of ``batch``: the driver alone sets the pace."""

    def __init__(self, batch: int) -> None:
        self.batch, self.ready, self.tickets = batch, [], 0

    def submit(self, job: dict) -> int:
        self.tickets += 1
        digest = int(
            hashlib.sha256(job["formula"].encode()).hexdigest()[:8], 16
        )  # no simulator cost in the driver's time
        task = job["tasks"][0]
        if digest % 4:
            fit = 0.8 + digest % 1000 / 5000
            outcome = Outcome("ok", val_acc=fit, scores={task: TaskScore(val_acc=fit, train_seconds=1.0)}, seconds=1.0)
        else:
            outcome = Outcome("failed", error="simulated", seconds=1.0)
        self.ready.append((self.tickets, outcome.plain()))
        return self.tickets

    @property
    def busy(self) -> int:
        return len(self.ready)

    def results(self):
        out, self.ready = self.ready[: self.batch], self.ready[self.batch :]
        yield from out


class _Enough(Exception):
    """The measurement has its results."""


PARTS = ("ask", "tell", "screening", "store", "cache", "checkpoint")


def driver_throughput(results: int, batch: int, workers: int = 1000, population: int = 100) -> dict[str, float]:
    """The real driver loop (algorithm, problem, store, cache, checkpoints) with instant evaluations: results per
    second sustained once every worker holds work and the population is whole, and the milliseconds per result spent
    in each part (ask, tell, static screening, run store writes and commits, fitness cache, checkpoints, the rest)."""
    import evoact.problem as problem_module

    config = make_config(
        "quick",
        tasks=("mnist1d-cnn",),
        workers=workers,
        mode="async",
        population=population,
        offspring=population,
        generations=(2 * workers + population + results) // population + 2,
    )  # ends long before asks stop
    spent = dict.fromkeys(PARTS, 0.0)
    marks: list[tuple[int, float, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore.create(Path(folder) / "run", {"config": config.to_dict(), "search_space": {}})
        space = load_search_space(config.space)
        checkpoints = Checkpoints(store.path)
        checkpoints.step = _Timed(checkpoints.step, spent, "checkpoint")
        hooks = Hooks(checkpoints)
        problem = Problem(store, config, space, hooks, {"mnist1d-cnn": "accuracy"})
        store._conn = _Timed(store._conn, spent, "store")
        problem.cache._conn = _Timed(problem.cache._conn, spent, "cache")
        algorithm = Evolution(Genome(space), config.evolution, 0, admissible=problem.admissible, steady=True)
        ask, tell = algorithm.ask, algorithm.tell
        algorithm.ask = _Timed(ask, spent, "ask")

        def timed_tell(*args) -> None:
            _Timed(tell, spent, "tell")(*args)
            if algorithm.told >= workers + population and (not marks or algorithm.told - marks[-1][0] >= 100):
                marks.append((algorithm.told, time.perf_counter(), dict(spent)))
            if len(marks) > 1 and marks[-1][0] - marks[0][0] >= results:
                raise _Enough

        algorithm.tell = timed_tell
        screen = problem_module.screen_static
        problem_module.screen_static = _Timed(screen, spent, "screening")
        problem.pool = _InstantPool(batch)
        problem.references = {"mnist1d-cnn": 1.0}
        try:
            run_steady(problem, algorithm, hooks, config, None)
        except _Enough:
            pass
        finally:
            problem_module.screen_static = screen
            problem.close()
            store.close()
    (n0, t0, s0), (n1, t1, s1) = marks[0], marks[-1]
    per = {part: (s1[part] - s0[part]) / (n1 - n0) * 1e3 for part in PARTS}
    per["rest"] = (t1 - t0) / (n1 - n0) * 1e3 - sum(per.values())
    return {"results_per_second": (n1 - n0) / (t1 - t0), "ms_per_result": per}


def throughput_lines(batches: tuple[int, ...] = (1, 10, 50), results: int = 2000) -> tuple[list[str], dict]:
    """The driver-throughput table (results per second and milliseconds per result by part) for each batch size."""
    measured = {batch: driver_throughput(results, batch) for batch in batches}
    lines = [
        f"Driver throughput, measured: the real driver loop (`driver.run_steady`) with the real algorithm, problem,"
        f" SQLite run store, fitness cache and checkpoints, 1,000 workers whose evaluations finish at once, arriving in"
        f" batches;"
        f" {results:,} results once every worker holds work and the population (100) is whole.",
        "",
        "| results per batch | results / s | " + " | ".join(f"{p} ms" for p in (*PARTS, "rest")) + " |",
        "|---" * (len(PARTS) + 3) + "|",
    ]
    for batch, m in measured.items():
        lines.append(
            f"| {batch} | {m['results_per_second']:,.0f} | "
            + " | ".join(f"{m['ms_per_result'][p]:.2f}" for p in (*PARTS, "rest"))
            + " |"
        )
    return lines, measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recorded", nargs="+", help="run directories whose evaluations make the landscape")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 16, 128, 1000])
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--offspring", type=int, default=16)
    parser.add_argument(
        "--throughput-only", action="store_true", help="measure only the driver's throughput (no --recorded needed)"
    )
    parser.add_argument("--results", type=int, default=2000, help="results the driver throughput is measured over")
    parser.add_argument("--out", default="bench/results/async_simulation")
    args = parser.parse_args()
    if args.throughput_only:
        lines, measured = throughput_lines(results=args.results)
        print(f"$ python {' '.join(sys.argv)}\n")
        print("\n".join(lines))
        return
    if not args.recorded:
        parser.error("--recorded RUN_DIR ... is needed for the simulation")
    landscape = Landscape(args.recorded)
    print(
        f"landscape: {len(landscape.formulas)} recorded functions;"
        f" times: "
        + ", ".join(f"{k} {len(v)} (median {statistics.median(v):.1f} s)" for k, v in landscape.seconds.items() if v)
    )
    rows = []
    for workers in args.workers:
        evaluations = max(512, 5 * workers)  # enough for a steady state at every size
        for mode in ("generational", "async"):
            runs = [
                simulate(landscape, workers, mode == "async", evaluations, seed, args.population, args.offspring)
                for seed in args.seeds
            ]
            row = {
                "workers": workers,
                "mode": mode,
                "evaluations": evaluations,
                **{k: statistics.fmean(r[k] for r in runs) for k in runs[0] if k != "trace"},
                "best_std": statistics.pstdev(r["best"] for r in runs),
                "bests": [r["best"] for r in runs],
                "makespans": [r["makespan"] for r in runs],
                "traces": [r["trace"] for r in runs],
            }
            rows.append(row)
            print({k: v for k, v in row.items() if k not in ("traces", "bests", "makespans")}, flush=True)
    throughput, measured = throughput_lines(results=args.results)
    lines = [
        f"# Generational vs asynchronous evolution, simulated ({len(args.seeds)} seeds each)",
        "",
        f"Command: `python bench/async_simulation.py --recorded {' '.join(args.recorded)}"
        f" --seeds {' '.join(map(str, args.seeds))}"
        f" --workers {' '.join(map(str, args.workers))}`",
        "",
        f"Recorded runs: {_provenance(args.recorded)}.",
        "",
        f"Landscape: {len(landscape.formulas)} recorded evaluations; evaluation seconds by outcome (median): "
        + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in landscape.seconds.items() if v)
        + f". Population {args.population}, {args.offspring} children per generation.",
        "",
        "Worker utilisation: over the whole run; until the last training starts (afterwards a finite budget only"
        " drains, in any mode); and in the steady state, from when as many trainings have started as there are"
        " workers (the driver fills them one proposal at a time) until the last start.",
        "",
        "| workers | mode | evaluations | worker utilisation | until the last start | steady state"
        " | evaluations / hour | driver busy | best fitness (mean ± sd) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['mode']} | {r['evaluations']} | {r['utilisation']:.1%} |"
            f" {r['utilisation_until_last']:.1%} | {r['utilisation_steady']:.1%} | {r['per_hour']:,.0f} |"
            f" {r['driver_busy']:.2%} | {r['best']:.4f} ± {r['best_std']:.4f} |"
        )
    lines += [
        "",
        "Async against generational with the same seeds (paired): the best fitness at equal evaluations, and at equal"
        " wall time (what generational had found when async finished).",
        "",
        "| workers | equal evaluations: async - generational | paired p | equal wall time: async - generational |",
        "|---|---|---|---|",
    ]
    for generational, steady in zip(rows[::2], rows[1::2]):
        equal = [a - g for a, g in zip(steady["bests"], generational["bests"])]
        timed = [
            a - best_by(trace, end)
            for a, trace, end in zip(steady["bests"], generational["traces"], steady["makespans"])
        ]
        p = paired_p_value(steady["bests"], generational["bests"])
        lines.append(
            f"| {steady['workers']} | {statistics.fmean(equal):+.4f} ± {statistics.stdev(equal):.4f} |"
            f" {'n/a' if p is None else f'{p:.2f}'} | {statistics.fmean(timed):+.4f} ± {statistics.stdev(timed):.4f} |"
        )
    lines += ["", *throughput]
    for row in rows:
        del row["traces"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "driver": measured}, indent=1))
    _plot(rows, out.with_suffix(".png"))
    print("\n".join(lines))


def _provenance(runs: list[str]) -> str:
    """What the recorded runs were: how many of each algorithm, budget and task set."""
    kinds = collections.Counter()
    for run in runs:
        config = RunStore.open(Path(run)).config()["config"]
        kinds[f"{config['algorithm']}, budget {config['budget']}, tasks {' '.join(config['tasks'])}"] += 1
    return "; ".join(f"{n} x {kind}" for kind, n in kinds.items())


def _plot(rows: list[dict], path: Path) -> None:
    from evoact.plotting import figure_png, plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    for mode, marker in (("generational", "o"), ("async", "s")):
        mine = [r for r in rows if r["mode"] == mode]
        left.plot([r["workers"] for r in mine], [r["utilisation"] for r in mine], marker=marker, label=mode)
        right.plot([r["workers"] for r in mine], [r["per_hour"] for r in mine], marker=marker, label=mode)
    for axis, label in ((left, "worker utilisation"), (right, "evaluations per hour")):
        axis.set_xscale("log")
        axis.set_xlabel("workers")
        axis.set_title(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    right.set_yscale("log")
    path.write_bytes(figure_png(fig))


if __name__ == "__main__":
    main()
