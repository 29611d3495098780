"""Run or resume a search: search space -> evolution -> rejection cascade -> Ray training -> run store, checkpoints."""

from __future__ import annotations

import platform
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

import evoact
from evoact.baselines import baseline_formula
from evoact.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from evoact.config import SearchConfig, restated
from evoact.evaluation import make_job
from evoact.evolution import ALGORITHMS, Fitness, Proposal
from evoact.genome import Genome
from evoact.progress import SearchProgress
from evoact.screening import CACHE_FILE, FitnessCache, protocol_key, screen_static
from evoact.scoring import normalised, objectives, references, weighted_mean
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
    try:  # nothing below may leave the store open (and its writer lock held) if it fails
        tasks = [get_task(name, config.data_dir) for name in config.tasks]
        baselines = {name: baseline_formula(name) for name in config.baselines}
        algorithm = ALGORITHMS[config.algorithm](Genome(space), config.evolution, config.seed)
        algorithm.seen.update(baselines.values())  # evolution explores beyond the baselines (seeds may still equal one)
        if checkpoint is not None and checkpoint.generation >= 0:
            try:
                algorithm.restore(checkpoint.state)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise RunStoreError(f"{store.path}: checkpoint of generation {checkpoint.generation} cannot be continued"
                                    f" by this evoact ({type(exc).__name__}: {exc})") from None
        existing = _Existing(store)
        cascade = _Cascade(store, config, space.learnable, space.limits.max_nodes, store.path)
    except BaseException:
        store.close()
        raise
    total = len(baselines) + config.evolution.population + config.evolution.offspring * (config.generations - 1)
    progress = SearchProgress(total, config.generations, console)
    for note in notes:
        progress.note(note)
    if checkpoint is not None:
        for note in checkpoint.skipped:
            progress.note(f"skipping damaged checkpoint {note}")
        progress.note(f"resuming after generation {checkpoint.generation}" if checkpoint.generation >= 0 else
                      "resuming from the start (no intact checkpoint); finished evaluations are reused")
    store.set_meta("state", "running")
    pool = None
    try:
        for task in tasks:
            task.prepare()  # generate and cache the data once, before any worker needs it
        pool = WorkerPool(config.workers, config.address, config.timeout, config.gpus_per_job)
        store.set_meta("ray_address", pool.address)
        ids = [existing.claim(None, name) or store.add_candidate(formula, "baseline", label=name) for name, formula in baselines.items()]
        cascade.train(pool, cascade.screen(ids, progress, baseline=True)[0], progress)
        cascade.calibrate()
        for generation in range(algorithm.generation, config.generations):
            progress.set_generation(generation)
            cascade.start_generation()
            target = config.evolution.population if generation == 0 else config.evolution.offspring
            proposals, ids, survivors, kept = [], [], [], 0
            for _ in range(_MAX_TOP_UPS):  # refill stage-1 rejections, so each generation evaluates `target`
                batch = algorithm.ask(target - kept)
                batch_ids = [existing.claim(generation, p.formula) or _add(store, p, generation) for p in batch]
                proposals, ids = proposals + batch, ids + batch_ids
                to_train, passed = cascade.screen(batch_ids, progress)
                survivors, kept = survivors + to_train, kept + passed
                if kept >= target:
                    break
            cascade.train(pool, survivors, progress)
            algorithm.tell(proposals, ids, [cascade.fitness(cid) for cid in ids])
            write_checkpoint(store.path, generation, algorithm.state())
        existing.abandon()
        store.set_meta("state", "finished")
    except BaseException:
        store.set_meta("state", "interrupted")
        raise
    finally:
        store.set_meta("finished_at", time.time())
        progress.close()
        if pool is not None:
            pool.close()
        cascade.close()
        store.close()
    return store


def _add(store: RunStore, p: Proposal, generation: int) -> int:
    return store.add_candidate(p.formula, p.origin, genome=p.tree, generation=generation, parents=p.parents, nodes=p.nodes)


class _Existing:
    """Rows an interrupted run already holds, for the resumed run to find again instead of adding."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._rows: dict[tuple[int | None, str], list[int]] = {}
        for row in store.candidates():  # id order: the order the run added them
            self._rows.setdefault((row["generation"], row["label"] or row["formula"]), []).append(row["id"])

    def claim(self, generation: int | None, key: str) -> int | None:
        """The id of the next stored row for this baseline label or (generation, formula), if any."""
        ids = self._rows.get((generation, key))
        return ids.pop(0) if ids else None

    def abandon(self) -> None:
        """Record rows the resumed run never proposed again (only if the code changed in between) as failed."""
        for cid in (cid for ids in self._rows.values() for cid in ids):
            if self.store.candidate(cid)["status"] == "pending":
                self.store.record_result(cid, {"status": "failed", "error": "not proposed again when the run was resumed"})


class _Cascade:
    """Stages 1-2 in the driver (one numba batch, the fingerprint cache); stages 3-4 and training in workers."""

    def __init__(self, store: RunStore, config: SearchConfig, params: dict[str, float], max_nodes: int, run_dir: Path) -> None:
        self.store, self.config, self.params, self.max_nodes = store, config, params, max_nodes
        self.screening = config.screening
        multi = {"tasks": list(config.tasks), "weights": list(config.task_weights), "baselines": list(config.baselines),
                 "data_dir": config.data_dir}
        single = config.task if config.data_dir is None else {"task": config.task, "data_dir": config.data_dir}
        self.protocol = protocol_key(single if len(config.tasks) == 1 else multi, asdict(config.training))
        # A Pareto run selects on per-task scores, which the cache (one fitness per function) does not keep.
        use_cache = self.screening.active and self.screening.use_cache and config.selection != "pareto"
        self.cache = FitnessCache(run_dir.parent / CACHE_FILE) if use_cache else None
        self.hurdle: float | None = None
        self.references: dict[str, float] = {}
        self._waiting: dict[int, int] = {}  # in-generation functional duplicate -> the candidate it waits for
        self._fingerprints: dict[int, str] = {}
        self._batch: dict[str, int] = {}  # fingerprint -> the first candidate of this generation trained for it
        self._baselines: dict[str, int] = {}  # fingerprint -> the baseline trained for it

    def start_generation(self) -> None:
        """Functional duplicates are spotted within a generation, across its top-up batches."""
        self._batch = {}

    def screen(self, ids: list[int], progress: SearchProgress, baseline: bool = False) -> tuple[list[int], int]:
        """Record stage-1 rejections and cache hits; return the ids that need training and how many passed stage 1.

        A cache hit passes: it is evaluated, for free. Rows that already have a result (a resumed run) are
        counted as they were decided and are not screened again.
        """
        rows = [self.store.candidate(cid) for cid in ids]
        done = [r for r in rows if r["status"] != "pending"]
        progress.skip(len(done))
        for row in done:
            if row["fingerprint"] and row["stage"] not in ("static", "cache") and row["duplicate_of"] is None:
                (self._baselines if baseline else self._batch).setdefault(row["fingerprint"], row["id"])
        passed = sum(not (r["status"] == "rejected" and r["stage"] == "static") for r in done)
        rows = [r for r in rows if r["status"] == "pending"]
        if not self.screening.active:
            return [r["id"] for r in rows if not self._reuse_exact(r)], passed + len(rows)
        verdicts = screen_static([r["formula"] for r in rows], [r["nodes"] for r in rows], self.params, self.max_nodes, self.screening)
        survivors: list[int] = []
        for row, verdict in zip(rows, verdicts):
            cid = row["id"]
            if verdict.fingerprint:
                self.store.set_fingerprint(cid, verdict.fingerprint)
                self._fingerprints[cid] = verdict.fingerprint
            if verdict.reason:
                self.store.record_result(cid, {"status": "rejected", "stage": "static", "error": verdict.reason, "seconds": 0.0})
                progress.screened(self.store.candidate(cid))
            elif not baseline and (original := self._batch.get(verdict.fingerprint) or self._baselines.get(verdict.fingerprint)):
                self._waiting[cid] = original  # resolved when that one's result arrives
            elif not baseline and self._reuse_cached(cid, verdict.fingerprint):
                progress.screened(self.store.candidate(cid))
            else:
                survivors.append(cid)
                (self._baselines if baseline else self._batch)[verdict.fingerprint] = cid
        return survivors, passed + sum(v.reason is None for v in verdicts)

    def _reuse_exact(self, row: dict[str, Any]) -> bool:
        earlier = self.store.evaluated(row["formula"])
        if earlier is None:
            return False
        self.store.record_result(row["id"], {**earlier, "status": "duplicate", "stage": "cache", "duplicate_of": earlier["id"],
                                             "equivalent_to": f"#{earlier['id']} {earlier['formula']}", "seconds": 0.0})
        return True

    def _reuse_cached(self, cid: int, fp: str) -> bool:
        if self.cache is None:
            return False
        outcome = self.cache.get(self.protocol, fp)
        if outcome is None or (outcome.status == "ok" and outcome.evaluations < self.screening.evaluations_per_hash):
            return False
        same_run = self.store.candidates_with_fingerprint(fp)
        self.store.record_result(cid, {
            "status": "duplicate", "stage": "cache", "fitness": outcome.fitness,
            "val_acc": outcome.fitness if len(self.config.tasks) == 1 else None,  # a multi-task fitness is no accuracy
            "error": outcome.reason if outcome.status != "ok" else None, "seconds": 0.0,
            "duplicate_of": same_run[0]["id"] if same_run and same_run[0]["id"] != cid else None,
            "equivalent_to": f"{outcome.source} {outcome.formula} ({outcome.status}, {outcome.evaluations} evaluation(s))",
        })
        return True

    def calibrate(self) -> None:
        """From the trained baselines: the quality hurdle and each task's reference accuracy.

        The hurdle is a fraction of the worst baseline's accuracy after the same short training; the
        references (best baseline per task, 1.0 where every baseline failed) normalise multi-task scores,
        the baselines' own fitness included.
        """
        baselines = [r for r in self.store.candidates() if r["label"]]
        probes = [r["probe_acc"] for r in baselines if r["probe_acc"] is not None]
        if self.screening.active and probes:
            self.hurdle = self.screening.hurdle_ratio * min(probes)
            self.store.set_meta("hurdle", self.hurdle)
        self.references = {t: 1.0 for t in self.config.tasks} | references(baselines, self.config.tasks)
        self.store.set_meta("references", self.references)
        for row in baselines:
            if row["status"] == "ok" and len(self.config.tasks) > 1:
                self.store.set_fitness(row["id"], self._scored(row)["fitness"])

    def _scored(self, result: dict[str, Any]) -> dict[str, Any]:
        """A multi-task result's fitness: the weighted mean of its baseline-normalised scores (once known)."""
        values = normalised(result.get("scores") or {}, self.references, self.config.tasks)
        if len(self.config.tasks) == 1 or result["status"] != "ok" or values is None:
            return result
        return {**result, "fitness": weighted_mean(values, self.config.task_weights)}

    def train(self, pool: WorkerPool, ids: list[int], progress: SearchProgress) -> None:
        """Stages 3-4 and full training in the workers; results go to the store and the cache as they arrive."""
        rows = [self.store.candidate(cid) for cid in ids]
        jobs = [make_job(r["formula"], self.config.tasks, self.config.training, self.params, self.screening,
                         None if r["label"] else self.hurdle, self.config.data_dir) for r in rows]
        for index, result in pool.imap(jobs):
            cid = ids[index]
            result = self._scored(result)
            self.store.record_result(cid, result)
            if self.cache is not None and cid in self._fingerprints and not result.get("transient"):
                self.cache.add(self.protocol, self._fingerprints[cid], result["status"], result.get("fitness"),
                               result.get("error"), rows[index]["formula"], f"{self.store.path.name} #{cid}")
            progress.update(self.store.candidate(cid))
        for cid, original in list(self._waiting.items()):
            done = self.store.candidate(original)
            if done["status"] != "pending":
                self.store.record_result(cid, {**done, "status": "duplicate", "stage": "cache", "duplicate_of": original,
                                               "equivalent_to": f"#{original} {done['formula']}", "seconds": 0.0,
                                               "error": done["error"]})
                progress.screened(self.store.candidate(cid))
                del self._waiting[cid]

    def fitness(self, cid: int) -> Fitness | None:
        """What the algorithm sees: the fitness, or Pareto objectives; None for rejected and failed candidates."""
        row = self.store.candidate(cid)
        if row["status"] not in ("ok", "duplicate"):
            return None
        if self.config.selection == "pareto":
            return objectives(row, self.references, self.config.tasks, self.config.complexity_objective)
        return row["fitness"]

    def close(self) -> None:
        """Close the cache."""
        if self.cache is not None:
            self.cache.close()
