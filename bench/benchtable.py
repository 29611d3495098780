"""Build the activation benchmark table with the engine itself, and export it as evoact's shipped data file.

    python bench/benchtable.py build    # one enumeration run per seed (resumed where a run stopped), in parallel
    python bench/benchtable.py catalog  # the catalog's published functions, same protocol and seeds (resumable)
    python bench/benchtable.py export   # read the runs, write evoact/data/benchtable.json.gz

    # the table at the quick budget's whole schedule, the same way (export writes evoact/data/benchtable_full.json.gz)
    python bench/benchtable.py build --epoch-scale 1 --runs-dir runs/benchtable-full
    python bench/benchtable.py catalog --runs-dir runs/benchtable-full
    python bench/benchtable.py export --runs-dir runs/benchtable-full

Each run enumerates every tree of the ``core_unit`` space once (``--algorithm enumeration``) under the default
cascade and trains what passes it on the default search tasks at a shortened schedule (``--epoch-scale``), without
racing. A run is an ordinary run directory: stop the build at any moment and run it again to go on. The export keys
functions by their fingerprint (the functional-equivalence cache's), so the seeds' runs join even where they trained
different but equivalent trees, and maps every tree of the space to its function. The catalog's published functions
(most of which no core unit writes) are trained by the workers' own evaluation with each run's protocol and scored
against that run's baselines; they join the table as entries labelled ``published:NAME`` with no trees.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import evoact  # noqa: E402
from evoact.benchtable import SHIPPED, BenchTable, Entry, Trial, from_runs, load_table, merge  # noqa: E402
from evoact.catalog import CATALOG  # noqa: E402
from evoact.evaluation import evaluate, make_job  # noqa: E402
from evoact.formula import parse, to_formula  # noqa: E402
from evoact.genome import parse_shard  # noqa: E402
from evoact.records import Outcome, Status  # noqa: E402
from evoact.scoring import fitness  # noqa: E402

SPACE = "core_unit"
SEEDS = (0, 1)
EPOCH_SCALE = 0.25
DATA = ROOT / "evoact" / "data"
PARTS = ROOT / "bench" / "data"  # the parts of a sharded build, committed as they are built, until the whole is


#: The settings of each seed's run (``evoact search`` options by their config names).
SETTINGS = dict(
    space=SPACE,
    algorithm="enumeration",
    mode="generational",
    epoch_scale=EPOCH_SCALE,
    race_top=0,
    population=64,
    offspring=64,
    generations=60,  # more than the space's trees need: the enumeration ends the run
)


def run_name(seed: int, shard: str) -> str:
    """The run directory's name of one seed's enumeration (of one shard of the space)."""
    k, n = parse_shard(shard)
    return f"benchtable-s{seed}" if n == 1 else f"benchtable-{k}of{n}-s{seed}"


def catalog_file(runs_dir: Path, shard: str) -> Path:
    """Where the catalog step keeps its results: beside the runs whose protocol it trained with (so that another
    build's runs in the same folder, another schedule's, never lend it theirs)."""
    return runs_dir / f"{run_name(0, shard).removesuffix('-s0')}-catalog.json"


def build_seed(seed: int, runs_dir: Path, workers: int, epoch_scale: float, shard: str) -> None:
    """Build (or, run again, resume) one seed's part of the table: an ordinary enumeration run."""
    run = evoact.search(
        "quick",
        name=run_name(seed, shard),
        runs_dir=runs_dir,
        load_if_exists=True,
        seed=seed,
        workers=workers,
        **(SETTINGS | {"epoch_scale": epoch_scale, "shard": shard}),
    )
    run.close()


def build(runs_dir: Path, workers: int, epoch_scale: float, shard: str) -> None:
    """Run (or resume) every seed's enumeration at once, each in its own process with its share of the workers."""
    share = str(max(1, workers // len(SEEDS)))
    args = ["--runs-dir", str(runs_dir), "--workers", share, "--epoch-scale", str(epoch_scale), "--shard", shard]
    procs = [subprocess.Popen([sys.executable, __file__, "seed", str(seed), *args]) for seed in SEEDS]
    if any(p.wait() for p in procs):
        sys.exit("a seed's run failed or was stopped; run the build again to resume it")


def build_catalog(runs_dir: Path, workers: int, shard: str) -> None:
    """Train every published function of the catalog on each seed with that seed's run protocol (no hurdle: they are
    reference points), saving each result as it arrives, so the step can stop and go on."""
    if parse_shard(shard)[0] != 1:
        sys.exit(f"--shard {shard}: the catalog's functions belong to part 1 of the space; build them with its runs")
    path = catalog_file(runs_dir, shard)
    done = json.loads(path.read_text()) if path.exists() else {}
    jobs = {}
    for seed in SEEDS:
        run = evoact.open_run(runs_dir / run_name(seed, shard))
        config = run.config
        run.close()
        for known in CATALOG:
            if f"{seed}:{known.name}" not in done:
                train = replace(config.training, seed=seed)
                jobs[f"{seed}:{known.name}"] = make_job(
                    to_formula(parse(known.formula)),
                    config.tasks,
                    train,
                    {"beta": 1.0, **known.params},
                    config.screening,
                )
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(evaluate, job): key for key, job in jobs.items()}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            path.with_suffix(".tmp").write_text(json.dumps(done))
            path.with_suffix(".tmp").replace(path)
            print(f"{len(done)}/{len(SEEDS) * len(CATALOG)} {futures[future]}", flush=True)


def catalog_entries(
    runs_dir: Path, shard: str, references: dict[int, dict[str, float]], metrics: dict[str, str]
) -> list[Entry]:
    """The published functions' entries, each seed scored against that seed's run's baselines."""
    path = catalog_file(runs_dir, shard)
    if not path.exists():
        sys.exit(f"{path} is missing; run python bench/benchtable.py catalog first")
    done = json.loads(path.read_text())
    entries = []
    for known in CATALOG:
        trials = []
        for seed in SEEDS:
            outcome = Outcome.from_plain(done[f"{seed}:{known.name}"])
            value = None
            if outcome.status == Status.OK:
                value = fitness(outcome.scores, list(metrics), references[seed], metrics=metrics)
            trials.append(
                Trial(seed, outcome.status, outcome.stage, outcome.error, value, outcome.seconds or 0.0, outcome.scores)
            )
        entries.append(Entry(to_formula(parse(known.formula)), (), tuple(trials), None, f"published:{known.name}"))
    return entries


def export(runs_dir: Path, out: Path | None, shard: str) -> tuple[BenchTable, Path] | None:
    """The table from the seeds' runs (every run finished), written to ``out`` (default: the shipped file for the runs'
    schedule), and where it went. One part of a sharded build goes to ``bench/data`` instead, and the whole table
    (every part rescored against part 1's baselines) is written once every part is there; None until then."""
    k, n = parse_shard(shard)
    runs, protocol, references = {}, {}, {}
    for seed in SEEDS:
        run = evoact.open_run(runs_dir / run_name(seed, shard))
        try:
            if run.state != "finished":
                sys.exit(f"{run.path} is {run.state}; finish the build first (python bench/benchtable.py build)")
            runs[seed] = run.store.candidates()
            references[seed] = run.store.meta()["references"]
            config = run.config
            scale = config.training.epoch_scale
            where = "" if runs_dir.resolve() == (ROOT / "runs").resolve() else f" --runs-dir {runs_dir}"
            build = ("" if scale == EPOCH_SCALE else f" --epoch-scale {scale}") + where
            part = f" --shard {shard}" if n > 1 else ""
            catalog = f" && python bench/benchtable.py catalog{where}{part}" if k == 1 else ""
            protocol = {
                "tasks": list(config.tasks),
                "metrics": run.metrics,
                "epoch_scale": scale,
                "baselines": list(config.baselines),
                "cascade": "the default: static screening (sign check: |rank correlation with x| >="
                f" {config.screening.min_rank_correlation}), fingerprint cache, stability, quality hurdle",
                "evoact": evoact.__version__,
                "command": f"python bench/benchtable.py build{build}{part}{catalog}"
                f" && python bench/benchtable.py export{build}{part}",
                "built": time.strftime("%Y-%m-%d", time.gmtime(run.store.meta().get("finished_at", time.time()))),
            }
            space = run.space
        finally:
            run.close()
    named = {EPOCH_SCALE: SHIPPED["short"], 1.0: SHIPPED["full"]}
    if out is None:
        if protocol["epoch_scale"] not in named:
            sys.exit(f"no shipped table is built at epoch scale {protocol['epoch_scale']}: name the file with --out")
        out = DATA / named[protocol["epoch_scale"]]
    table = from_runs(space, runs, protocol | {"references": {str(s): r for s, r in references.items()}}, shard)
    if k == 1:
        table = BenchTable(
            table.protocol, (*table.entries, *catalog_entries(runs_dir, shard, references, protocol["metrics"]))
        )
    if n == 1:
        table.save(out)
        return table, out
    PARTS.mkdir(exist_ok=True)
    stem = out.name.removesuffix(".json.gz")
    files = [PARTS / f"{stem}-{i}of{n}.json.gz" for i in range(1, n + 1)]
    table.save(files[k - 1])
    print(f"{files[k - 1]}: part {shard}, {len(table.entries)} functions for {len(table.trees)} trees")
    missing = [f"{i}/{n}" for i, f in enumerate(files, 1) if not f.exists()]
    if missing:
        print(f"parts still to build: {', '.join(missing)} (the whole table is written once every part is here)")
        return None
    parts = [load_table(f) for f in files]
    first = parts[0].protocol["references"]
    whole = merge(space, [rescored(p, first) for p in parts])
    spread = max(abs(p.protocol["references"][s][t] / first[s][t] - 1) for p in parts for s in first for t in first[s])
    whole = BenchTable(
        {
            **whole.protocol,
            "command": f"python bench/benchtable.py build{build} --shard K/{n} && python bench/benchtable.py"
            f" export{build} --shard K/{n} for each K of 1..{n}, with python bench/benchtable.py catalog{where}"
            f" --shard 1/{n} before part 1's export",
            "reference_spread": round(spread, 6),  # the parts' baselines against part 1's, at most (relative)
        },
        whole.entries,
    )
    whole.save(out)
    return whole, out


def rescored(part: BenchTable, references: dict[str, dict[str, float]]) -> BenchTable:
    """A part of a sharded build with every fitness relative to ``references`` (part 1's baselines, per seed), so that
    all parts share one yardstick even where another machine trained their baselines a little differently."""
    metrics = part.protocol["metrics"]
    tasks = list(part.tasks)

    def trial(t: Trial) -> Trial:
        if t.status != Status.OK or not t.scores:
            return t
        return replace(t, fitness=fitness(t.scores, tasks, references[str(t.seed)], metrics=metrics))

    entries = tuple(replace(e, trials=tuple(trial(t) for t in e.trials)) for e in part.entries)
    return BenchTable({**part.protocol, "references": references}, entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "catalog", "export", "seed"))
    parser.add_argument("seed", nargs="?", type=int, help="with the action seed: the one seed to build")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--workers", type=int, default=None, help="Ray workers in all (default: CPU cores)")
    parser.add_argument("--out", type=Path, default=None, help="export: the file (default: the shipped one)")
    parser.add_argument(
        "--epoch-scale",
        type=float,
        default=EPOCH_SCALE,
        help=f"each task's quick schedule times this (default {EPOCH_SCALE}, the shipped table's; use another"
        " --runs-dir for another scale)",
    )
    parser.add_argument(
        "--shard",
        default="1/1",
        help="K/N: build (or export) only the K-th of N parts of the space, so that several machines or sessions"
        " build one table between them (default 1/1, all of it); the catalog's functions belong to part 1",
    )
    args = parser.parse_args()
    workers = args.workers or os.cpu_count() or 1
    if args.action == "build":
        build(args.runs_dir, workers, args.epoch_scale, args.shard)
    elif args.action == "catalog":
        build_catalog(args.runs_dir, workers, args.shard)
    elif args.action == "seed":
        build_seed(args.seed, args.runs_dir, workers, args.epoch_scale, args.shard)
    else:
        done = export(args.runs_dir, args.out, args.shard)
        if done:
            table, out = done
            print(
                f"{out}: {len(table.entries)} functions ({len(table.scored())} trained to the end on every seed) for"
                f" {len(table.trees)} trees; {out.stat().st_size / 1e6:.2f} MB"
            )


if __name__ == "__main__":
    main()
