"""Run a search: search space -> evolution -> Ray evaluation -> run store, with live progress."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

import evoact
from evoact.baselines import baseline_formula
from evoact.config import SearchConfig
from evoact.evaluation import make_job
from evoact.evolution import Evolution
from evoact.genome import Genome
from evoact.progress import SearchProgress
from evoact.search_space import load_search_space
from evoact.store import RunStore
from evoact.tasks import get_task
from evoact.workers import WorkerPool

RUNS_ROOT = Path("runs")


def default_run_dir(config: SearchConfig, root: Path = RUNS_ROOT) -> Path:
    """``runs/<date>-<time>-<space>-<task>-s<seed>``: sortable and says what ran."""
    space = Path(config.space).stem
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{space}-{config.task}-s{config.seed}"


def run_search(config: SearchConfig, run_dir: Path, console: Console | None = None) -> RunStore:
    """Evaluate the baselines, then evolve for ``config.generations`` generations; returns the closed store."""
    space = load_search_space(config.space)
    genome = Genome(space)
    task = get_task(config.task)
    baselines = {name: baseline_formula(name) for name in config.baselines}
    task.load()  # generate and cache the data once, before any worker needs it
    store = RunStore.create(run_dir, {
        "config": config.to_dict(),
        "search_space": {"source": space.source, "text": space.text},
        "versions": {"evoact": evoact.__version__, "torch": torch.__version__, "python": platform.python_version()},
    })
    algorithm = Evolution(genome, config.evolution, config.seed)
    algorithm.seen.update(baselines.values())  # evolution explores beyond the baselines (seeds may still equal one)
    total = len(baselines) + config.evolution.population + config.evolution.offspring * (config.generations - 1)
    progress = SearchProgress(total, config.generations, console)
    pool = None
    try:
        pool = WorkerPool(config.workers, config.address, config.timeout)
        ids = [store.add_candidate(formula, "baseline", label=name) for name, formula in baselines.items()]
        _evaluate(store, pool, ids, config, space.learnable, progress)
        for generation in range(config.generations):
            progress.set_generation(generation)
            proposals = algorithm.ask()
            ids = [store.add_candidate(p.formula, p.origin, genome=p.tree, generation=generation, parents=p.parents, nodes=p.nodes) for p in proposals]
            fitness = _evaluate(store, pool, ids, config, space.learnable, progress)
            algorithm.tell(proposals, ids, fitness)
        store.set_meta("state", "finished")
    except BaseException:
        store.set_meta("state", "interrupted")
        raise
    finally:
        store.set_meta("finished_at", time.time())
        progress.close()
        if pool is not None:
            pool.close()
        store.close()
    return store


def _evaluate(store: RunStore, pool: WorkerPool, ids: list[int], config: SearchConfig,
              params: dict[str, float], progress: SearchProgress) -> list[float | None]:
    """Evaluate candidates (a formula already evaluated in this run is reused, not retrained)."""
    jobs: list[dict[str, Any]] = []
    job_ids: list[int] = []
    for cid in ids:
        row = store.candidate(cid)
        earlier = store.evaluated(row["formula"])
        if earlier is not None:
            store.record_result(cid, {**earlier, "status": "duplicate", "duplicate_of": earlier["id"], "seconds": 0.0})
            progress.update(store.candidate(cid))
            continue
        jobs.append(make_job(row["formula"], config.task, config.training, params))
        job_ids.append(cid)
    for index, result in pool.imap(jobs):
        store.record_result(job_ids[index], result)
        progress.update(store.candidate(job_ids[index]))
    rows = {cid: store.candidate(cid) for cid in ids}
    return [rows[cid]["fitness"] if rows[cid]["status"] in ("ok", "duplicate") else None for cid in ids]
