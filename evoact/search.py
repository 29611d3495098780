"""Run or resume a search: the driver that wires the algorithm, the problem and the hooks.

The algorithm asks and is told; the problem turns proposals into fitness; the progress display and the
checkpoints hang on hooks. Generation by generation: ask for a generation's quota (topped up where stage 1
rejects), evaluate it, tell the algorithm, checkpoint.
"""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path

import torch
from rich.console import Console

import evoact
from evoact.checkpoint import Checkpoint, read_checkpoint
from evoact.config import SearchConfig, restated
from evoact.evolution import ALGORITHMS
from evoact.genome import Genome
from evoact.hooks import Checkpoints, Hooks
from evoact.problem import Problem
from evoact.progress import SearchProgress
from evoact.search_space import SearchSpace, load_search_space, parse_search_space
from evoact.store import RunStore, RunStoreError
from evoact.tasks import get_task, require_trusted
from evoact.workers import WorkerPool

RUNS_ROOT = Path("runs")
_MAX_TOP_UPS = 25


def default_run_dir(config: SearchConfig, root: Path = RUNS_ROOT) -> Path:
    """``runs/<date>-<time>-<space>-<task>-s<seed>``: sortable and says what ran (a user task by its function)."""
    space = Path(config.space).stem
    task = re.sub(r"[^\w.-]+", "_", config.task.rpartition(":")[2]) + (f"+{len(config.tasks) - 1}" if len(config.tasks) > 1 else "")
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{space}-{task}-s{config.seed}"


def run_search(config: SearchConfig, run_dir: Path, console: Console | None = None) -> RunStore:
    """Evaluate the baselines, then evolve for ``config.generations`` generations; returns the closed store."""
    space = load_search_space(config.space)
    for name in config.tasks:  # an unknown task fails before the run directory exists
        get_task(name, config.data_dir)
    store = RunStore.create(run_dir, {
        "config": config.to_dict(),
        "search_space": {"source": space.source, "text": space.text},
        "versions": {"evoact": evoact.__version__, "torch": torch.__version__, "python": platform.python_version()},
    })
    return _drive(store, config, space, None, console)


def resume_search(run_dir: Path, console: Console | None = None, trust_user_tasks: bool = False, address: str | None = None,
                  data_dir: str | None = None) -> RunStore:
    """Continue an interrupted run from its newest intact checkpoint, reusing every finished evaluation.

    The result equals an uninterrupted run's with the same seed: the algorithm restarts from its saved state,
    proposes the same candidates, and finds their rows (finished ones are reused, in-flight ones re-run).
    A run that trains with user tasks is resumed only with ``trust_user_tasks``: its config names code to run.
    Its stored Ray address and data directory are not used unless given again as ``address`` and ``data_dir``.
    """
    store = RunStore.reopen(run_dir)
    try:
        if store.meta().get("state") == "finished":
            raise RunStoreError(f"{run_dir} already finished; there is nothing to resume")
        stored = store.config()
        config, notes = restated(SearchConfig.from_dict(stored["config"]), address, data_dir)
        require_trusted(config.tasks, trust_user_tasks, "resume")
        space = parse_search_space(stored["search_space"]["text"], stored["search_space"]["source"])
        checkpoint = read_checkpoint(store.path)
    except BaseException:
        store.close()
        raise
    return _drive(store, config, space, checkpoint, console, notes)


def _drive(store: RunStore, config: SearchConfig, space: SearchSpace, checkpoint: Checkpoint | None,
           console: Console | None, notes: list[str] = ()) -> RunStore:
    total = len(config.baselines) + config.evolution.population + config.evolution.offspring * (config.generations - 1)
    hooks = Hooks(SearchProgress(total, config.generations, console), Checkpoints(store.path))
    problem = None
    try:  # nothing below may leave the store open (and its writer lock held) if it fails
        tasks = [get_task(name, config.data_dir) for name in config.tasks]
        problem = Problem(store, config, space, hooks, {task.name: task.metric for task in tasks})
        algorithm = ALGORITHMS[config.algorithm](Genome(space), config.evolution, config.seed, admissible=problem.admissible)
        algorithm.seen.update(problem.baseline_formulas.values())  # explore beyond the baselines (seeds may still equal one)
        if checkpoint is not None and checkpoint.generation >= 0:
            try:
                algorithm.restore(checkpoint.state)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise RunStoreError(f"{store.path}: checkpoint of generation {checkpoint.generation} cannot be continued"
                                    f" by this evoact ({type(exc).__name__}: {exc})") from None
    except BaseException:
        hooks.close()
        if problem is not None:
            problem.close()
        store.close()
        raise
    for note in [*notes, *(f"skipping damaged checkpoint {skipped}" for skipped in (checkpoint.skipped if checkpoint else ()))]:
        hooks.note(note)
    if checkpoint is not None:
        hooks.note(f"resuming after generation {checkpoint.generation}" if checkpoint.generation >= 0 else
                   "resuming from the start (no intact checkpoint); finished evaluations are reused")
    store.set_meta("state", "running")
    pool = None
    try:
        for task in tasks:
            task.prepare()  # generate and cache the data once, before any worker needs it
        pool = WorkerPool(config.workers, config.address, config.timeout, config.gpus_per_job)
        store.set_meta("ray_address", pool.address)
        problem.evaluate_baselines(pool)
        for generation in range(algorithm.generation, config.generations):
            hooks.generation(generation)
            problem.start_generation()
            target = config.evolution.population if generation == 0 else config.evolution.offspring
            proposals, candidates, kept = [], [], 0
            for _ in range(_MAX_TOP_UPS):  # refill stage-1 rejections, so each generation evaluates `target`
                batch = algorithm.ask(target - kept)
                made, passed = problem.submit(batch, generation)
                proposals, candidates, kept = proposals + batch, candidates + made, kept + passed
                if kept >= target:
                    break
            problem.drain()
            algorithm.tell(proposals, [c.id for c in candidates], [problem.fitness(c.id) for c in candidates])
            hooks.step(generation, algorithm.state())
        problem.finish()
        store.set_meta("state", "finished")
    except BaseException:
        store.set_meta("state", "interrupted")
        raise
    finally:
        store.set_meta("finished_at", time.time())
        hooks.close()
        if pool is not None:
            pool.close()
        problem.close()
        store.close()
    return store
