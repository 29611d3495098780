"""Benchmark: generational against asynchronous (steady-state) evolution from 2 to 1,000 workers, by discrete-event
simulation, and the driver's own throughput.

Run:  python bench/async_simulation.py --recorded runs/quick-s0 runs/standard-s0 [--seeds 0 1 2 3 4]
          [--workers 2 16 128 1000] [--out bench/results/async_simulation]

Simulation: the real algorithm (``evolution.Evolution``: ask, tell, aging) and the real cascade's decisions (static
screening with the numba kernel, functional duplicates by fingerprint) run as they do in a search; only training is
simulated. A proposal's outcome (trained, stopped at a quality hurdle, rejected as unstable, failed) and fitness come
from a landscape of recorded results: its own recorded outcome where the same function (fingerprint) was evaluated,
else its nearest recorded function's by values on the probe points (AQuaSurF's idea), with noise of the size seen
between functions that are that close. Evaluation times are drawn from the recorded times of that kind of outcome.
The driver is one server: each event costs the driver time measured for the real calls, and a worker waits while
the driver is busy. Reported per workers and mode: worker utilisation, evaluations per hour, the driver's busy
fraction, and the best fitness after the run's evaluations, mean over seeds.

Driver throughput: the real driver loop (``driver.run_steady``) with the real problem, run store (SQLite, one commit
per batch of results) and checkpoints, against a pool whose evaluations finish at once, in batches of 1 and of 50
results: how many results per second the driver handles, which bounds workers x (1 / evaluation seconds).
"""

from __future__ import annotations

import argparse
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

from evoact.compiler import values_at  # noqa: E402
from evoact.config import make_config  # noqa: E402
from evoact.evolution import Evolution  # noqa: E402
from evoact.formula import parse  # noqa: E402
from evoact.genome import Genome  # noqa: E402
from evoact.hooks import Checkpoints, Hooks  # noqa: E402
from evoact.problem import Problem  # noqa: E402
from evoact.records import Outcome, TaskScore  # noqa: E402
from evoact.run import open_run  # noqa: E402
from evoact.screening import ScreeningConfig, screen_static  # noqa: E402
from evoact.screening.probe import probe_points  # noqa: E402
from evoact.driver import run_steady  # noqa: E402
from evoact.search_space import load_search_space  # noqa: E402
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
                kind = "ok" if o.status == "ok" else o.stage if o.status == "rejected" and o.stage in ("quality", "stability") \
                    else "failed" if o.status == "failed" else None
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

    def outcome(self, formula: str, params: dict[str, float], rng: np.random.Generator) -> tuple[str, float | None, float]:
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


def simulate(landscape: Landscape, workers: int, steady: bool, evaluations: int, seed: int, population: int,
             offspring: int) -> dict[str, float]:
    """One simulated search: the real algorithm and screening, simulated training times, one driver.

    ``evaluations`` counts trainings (proposals that pass static screening and are no functional duplicate).
    """
    space = load_search_space("default")
    rng = np.random.default_rng(seed)
    algorithm = Evolution(Genome(space), replace(make_config("quick").evolution, population=population, offspring=offspring),
                          seed, steady=steady)
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
            verdict = driver(at, lambda: screen_static([p.formula], [p.nodes], space.learnable, space.limits.max_nodes, screening)[0])
            if verdict.reason or verdict.fingerprint in known:
                told.append((p, None if verdict.reason else known[verdict.fingerprint]))
                continue
            kind, fit, seconds = landscape.outcome(p.formula, space.learnable, rng)
            known[verdict.fingerprint] = fit
            out.append((p, fit, seconds))
        if told:
            ids += len(told)
            driver(at, lambda: algorithm.tell([p for p, _ in told], list(range(ids - len(told), ids)), [f for _, f in told]))
        return out

    def account(fits) -> None:
        nonlocal best
        best = max([best, *(f for f in fits if f is not None)])

    if steady:
        running: list[tuple[float, int, object, float | None]] = []
        order = 0
        for p, fit, seconds in screen(0.0, driver(0.0, lambda: algorithm.ask(min(workers, evaluations)))):
            order += 1
            heapq.heappush(running, (driver_free + seconds, order, p, fit))
            spans.append((driver_free, driver_free + seconds))
        while running:
            finish, _, proposal, fit = heapq.heappop(running)
            trained += 1
            account([fit])
            ids += 1
            driver(finish, lambda: algorithm.tell([proposal], [ids], [fit]))
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
                jobs += screen(now, driver(now, lambda: algorithm.ask(target - len(jobs))))
            free = [driver_free] * workers  # the generation's trainings queue for the workers
            ends = []
            for _, _, seconds in jobs:
                start = heapq.heappop(free)
                heapq.heappush(free, start + seconds)
                ends.append(start + seconds)
                spans.append((start, start + seconds))
            now = max(ends)
            trained += len(jobs)
            account([f for _, f, _ in jobs])
            ids += len(jobs)
            driver(now, lambda: algorithm.tell([p for p, _, _ in jobs], list(range(ids - len(jobs), ids)), [f for _, f, _ in jobs]))
        makespan = now
    last = max(start for start, _ in spans)  # the last training starts: after it the budget only drains
    steady_busy = sum(min(end, last) - start for start, end in spans if start < last)
    return {"utilisation": sum(end - start for start, end in spans) / (workers * makespan),
            "utilisation_until_last": steady_busy / (workers * last) if last > 0 else 1.0,
            "per_hour": trained / makespan * 3600, "driver_busy": driver_busy / makespan, "best": best, "makespan": makespan}


def driver_throughput(results: int, batch: int) -> float:
    """Results per second the real driver loop handles (algorithm, problem, store, checkpoints) when evaluations are instant."""

    class InstantPool:
        """The worker pool's interface, with evaluations that finish at once in batches of ``batch``."""

        def __init__(self) -> None:
            self.ready: list[tuple[int, dict]] = []
            self.tickets = 0

        def submit(self, job: dict) -> int:
            self.tickets += 1
            digest = int(hashlib.sha256(job["formula"].encode()).hexdigest()[:8], 16)  # no simulator cost in the driver's time
            kind, fit = ("ok", 0.8 + digest % 1000 / 5000) if digest % 4 else ("failed", None)
            task = job["tasks"][0]
            outcome = Outcome("ok", val_acc=fit, scores={task: TaskScore(val_acc=fit, train_seconds=1.0)}, seconds=1.0) \
                if kind == "ok" else Outcome("failed", error="simulated", seconds=1.0)
            self.ready.append((self.tickets, outcome.plain()))
            return self.tickets

        @property
        def busy(self) -> int:
            return len(self.ready)

        def results(self):
            out, self.ready = self.ready[:batch], self.ready[batch:]
            yield from out

    config = make_config("quick", tasks=("mnist1d-cnn",), workers=1000, mode="async", population=100, offspring=100,
                         generations=results // 100)
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore.create(Path(folder) / "run", {"config": config.to_dict(), "search_space": {}})
        space = load_search_space(config.space)
        hooks = Hooks(Checkpoints(store.path))
        problem = Problem(store, config, space, hooks, {"mnist1d-cnn": "accuracy"})
        algorithm = Evolution(Genome(space), config.evolution, 0, admissible=problem.admissible, steady=True)
        problem.pool = InstantPool()
        problem.references = {"mnist1d-cnn": 1.0}
        start = time.perf_counter()
        run_steady(problem, algorithm, hooks, config, None)
        elapsed = time.perf_counter() - start
        told = algorithm.told
        problem.close()
        store.close()
    return told / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recorded", nargs="+", required=True, help="run directories whose evaluations make the landscape")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 16, 128, 1000])
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--offspring", type=int, default=16)
    parser.add_argument("--out", default="bench/results/async_simulation")
    args = parser.parse_args()
    landscape = Landscape(args.recorded)
    print(f"landscape: {len(landscape.formulas)} recorded functions;"
          f" times: " + ", ".join(f"{k} {len(v)} (median {statistics.median(v):.1f} s)" for k, v in landscape.seconds.items() if v))
    rows = []
    for workers in args.workers:
        evaluations = max(512, 3 * workers)  # enough for a steady state at every size
        for mode in ("generational", "async"):
            runs = [simulate(landscape, workers, mode == "async", evaluations, seed, args.population, args.offspring)
                    for seed in args.seeds]
            row = {"workers": workers, "mode": mode, "evaluations": evaluations,
                   **{k: statistics.fmean(r[k] for r in runs) for k in runs[0]}, "best_std": statistics.pstdev(r["best"] for r in runs)}
            rows.append(row)
            print(row, flush=True)
    throughput = {batch: driver_throughput(2000, batch) for batch in (1, 50)}
    lines = [f"# Generational vs asynchronous evolution, simulated ({len(args.seeds)} seeds each)", "",
             f"Command: `python bench/async_simulation.py --recorded {' '.join(args.recorded)} --seeds {' '.join(map(str, args.seeds))}"
             f" --workers {' '.join(map(str, args.workers))}`", "",
             f"Landscape: {len(landscape.formulas)} recorded evaluations; evaluation seconds by outcome (median): "
             + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in landscape.seconds.items() if v)
             + f". Population {args.population}, {args.offspring} children per generation.", "",
             "Worker utilisation: over the whole run, and until the last training starts (afterwards a finite budget only"
             " drains, in any mode).", "",
             "| workers | mode | evaluations | worker utilisation | until the last start | evaluations / hour | driver busy |"
             " best fitness (mean ± sd) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['mode']} | {r['evaluations']} | {r['utilisation']:.1%} |"
                     f" {r['utilisation_until_last']:.1%} | {r['per_hour']:,.0f} |"
                     f" {r['driver_busy']:.2%} | {r['best']:.4f} ± {r['best_std']:.4f} |")
    lines += ["", "Driver throughput, measured (real algorithm, problem, SQLite store with one commit per batch, checkpoints;"
              " instant evaluations): " + ", ".join(f"{v:,.0f} results/s in batches of {b}" for b, v in throughput.items()) + "."]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "driver_results_per_second": throughput}, indent=1))
    _plot(rows, out.with_suffix(".png"))
    print("\n".join(lines))


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
