"""The problem side of a search: what a proposal is worth. It owns the rejection cascade, evaluation and scoring.

The algorithm proposes and is told fitness (EvoTorch's Problem/SearchAlgorithm split). Here a proposal becomes a
stored candidate; stages 1-2 of the cascade run in the driver (one numba batch, the fingerprint cache), stages 3-4
and training in the Ray workers; results are scored (``scoring``), stored, cached and announced to the hooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import asdict, replace

import sympy as sp

from evoact.baselines import baseline_formula
from evoact.compiler import CompileError, lower
from evoact.config import SearchConfig
from evoact.evaluation import make_job
from evoact.evolution import Fitness, Proposal
from evoact.formula import X
from evoact.hooks import Hooks
from evoact.records import Candidate, Outcome
from evoact.scoring import fitness, objectives, references, uses_loss
from evoact.screening import CACHE_FILE, FitnessCache, protocol_key, screen_static
from evoact.search_space import SearchSpace
from evoact.store import RunStore
from evoact.tasks import get_task
from evoact.training import Hurdle
from evoact.workers import WorkerPool


def fitness_protocol(config: SearchConfig) -> str:
    """The fitness cache's key for ``config``: outcomes are shared only under the same tasks (at the same code
    revision), weighting, scoring and training protocol."""
    multi = {
        "tasks": list(config.tasks),
        "weights": list(config.task_weights),
        "baselines": list(config.baselines),
        "data_dir": config.data_dir,
    } | (
        {}
        if (config.score, config.aggregate) == ("accuracy", "mean")
        else {"score": config.score, "aggregate": config.aggregate}
    )
    single = config.task if config.data_dir is None else {"task": config.task, "data_dir": config.data_dir}
    if config.score != "accuracy":
        single = {"task": config.task, "data_dir": config.data_dir, "score": config.score}
    revisions = {name: get_task(name, config.data_dir).revision() for name in config.tasks}
    return protocol_key(single if len(config.tasks) == 1 else multi, asdict(config.training) | {"revisions": revisions})


class Problem:
    """Turns proposals into fitness through the cascade, the workers and scoring; every outcome goes to the store."""

    def __init__(
        self, store: RunStore, config: SearchConfig, space: SearchSpace, hooks: Hooks, metrics: dict[str, str]
    ) -> None:
        self.store, self.config, self.hooks, self.metrics = store, config, hooks, metrics
        self.params, self.max_nodes = space.learnable, space.limits.max_nodes
        self.screening = config.screening
        self.baseline_formulas = {name: baseline_formula(name) for name in config.baselines}
        self.protocol = fitness_protocol(config)
        # A Pareto run selects on per-task scores, which the cache (one fitness per function) does not keep.
        use_cache = self.screening.active and self.screening.use_cache and config.selection != "pareto"
        self.cache = FitnessCache(store.path.parent / CACHE_FILE) if use_cache else None
        self.hurdles: dict[str, Hurdle] = {}  # per task, known once the baselines are in
        self.references: dict[str, float] | None = None  # likewise
        self.pool: WorkerPool | None = None
        self._existing = _Existing(store)
        self._training: dict[int, Candidate] = {}  # pool ticket -> the candidate it trains
        self._waiting: dict[int, int] = {}  # functional duplicate -> the candidate whose outcome it takes
        self._fingerprints: dict[int, str] = {}
        self._batch: dict[str, int] = {}  # fingerprint -> the first candidate of this generation trained for it
        self._baselines: dict[str, int] = {}  # fingerprint -> the baseline trained for it
        self._uncached: list[Candidate] = []  # results whose fitness waited for the references
        self._rows: dict[int, Candidate] = {}  # every candidate of this session, as last stored
        self._finished: list[Candidate] = []  # proposals that got an outcome since the last ``collect``

    # --- what the algorithm may propose ----------------------------------------------------
    @staticmethod
    def admissible(expr: sp.Expr) -> bool:
        """Worth proposing at all: depends on x and compiles to finite torch code."""
        if X not in expr.free_symbols:
            return False
        try:
            lower(expr)
        except CompileError:
            return False
        return True

    # --- the baselines -------------------------------------------------------------------
    def evaluate_baselines(self, pool: WorkerPool) -> None:
        """Train the reference activations, then calibrate the quality hurdle and the per-task references."""
        self.pool = pool
        rows = [
            self._existing.claim(None, name) or self.store.add_candidate(formula, "baseline", label=name)
            for name, formula in self.baseline_formulas.items()
        ]
        self._dispatch(self._screen(self._read(rows), baseline=True)[0])
        self.drain()
        self._calibrate()

    def _calibrate(self) -> None:
        """From the trained baselines: the quality hurdle and each task's reference accuracy.

        The hurdle is a fraction of the worst baseline's accuracy after the same short training; the references
        (best baseline per task, 1.0 where every baseline failed) normalise multi-task scores, the baselines'
        own fitness included.
        """
        baselines = [r for r in self._rows.values() if r.label]
        if self.screening.active:
            self.hurdles = hurdles(baselines, self.metrics, self.screening.hurdle_ratio)
            self.store.set_meta("hurdles", {task: asdict(h) for task, h in self.hurdles.items()})
            if self.config.task in self.hurdles:
                self.store.set_meta("hurdle", self.hurdles[self.config.task].limit)
        self.references = {t: 1.0 for t in self.config.tasks} | references(
            baselines, self.config.tasks, self.metrics, self.config.score
        )
        self.store.set_meta("references", self.references)
        for row in baselines:
            if row.status == "ok" and len(self.config.tasks) > 1:
                self.store.set_fitness(row.id, self._fitness(row.outcome))
                self._rows[row.id] = replace(row, outcome=row.outcome.with_(fitness=self._fitness(row.outcome)))
        for row in self._uncached:
            self._cache(self._rows[row.id])
        self._uncached.clear()

    # --- proposals -----------------------------------------------------------------------
    def start_generation(self) -> None:
        """Functional duplicates are spotted within a generation, across its top-up batches."""
        self._batch = {}

    def submit(self, proposals: Iterable[Proposal], generation: int) -> tuple[list[Candidate], int]:
        """Store proposals as candidates (or find them in a resumed run), screen them and start training the survivors.

        Returns the candidates and how many passed stage 1 (a cache hit passes: it is evaluated, for free).
        """
        with self.batch():
            ids = [
                self._existing.claim(generation, p.formula)
                or self.store.add_candidate(
                    p.formula, p.origin, genome=p.tree, generation=generation, parents=p.parents, nodes=p.nodes
                )
                for p in proposals
            ]
            candidates = self._read(ids)
            survivors, passed = self._screen(candidates)
            self._dispatch(survivors)
        return candidates, passed

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """What this run records inside (candidates, outcomes) commits at once: one disk sync for many rows."""
        return self.store.transaction()

    def _screen(self, rows: list[Candidate], baseline: bool = False) -> tuple[list[Candidate], int]:
        """Stages 1-2: record rejections and cache hits; return what needs training and how many passed stage 1.

        Rows that already have an outcome (a resumed run) are counted as they were decided and not screened again.
        """
        done = [r for r in rows if r.status != "pending"]
        for row in done:
            if row.fingerprint and row.outcome.stage not in ("static", "cache") and row.outcome.duplicate_of is None:
                (self._baselines if baseline else self._batch).setdefault(row.fingerprint, row.id)
        passed = sum(not (r.status == "rejected" and r.outcome.stage == "static") for r in done)
        rows = [r for r in rows if r.status == "pending"]
        if not self.screening.active:
            return [r for r in rows if not self._reuse_exact(r)], passed + len(rows)
        verdicts = screen_static(
            [r.formula for r in rows], [r.nodes for r in rows], self.params, self.max_nodes, self.screening
        )
        survivors: list[Candidate] = []
        for row, verdict in zip(rows, verdicts):
            if verdict.fingerprint:
                self.store.set_fingerprint(row.id, verdict.fingerprint)
                self._fingerprints[row.id] = verdict.fingerprint
                self._rows[row.id] = replace(self._rows[row.id], fingerprint=verdict.fingerprint)
            if verdict.reason:
                self._finish(row.id, Outcome("rejected", stage="static", error=verdict.reason, seconds=0.0))
            elif not baseline and (
                original := self._batch.get(verdict.fingerprint) or self._baselines.get(verdict.fingerprint)
            ):
                self._waiting[row.id] = original  # resolved when that one's outcome arrives
            elif not baseline and self._reuse_cached(row.id, verdict.fingerprint):
                pass
            else:
                survivors.append(row)
                (self._baselines if baseline else self._batch)[verdict.fingerprint] = row.id
        self._resolve_waiting()
        return survivors, passed + sum(v.reason is None for v in verdicts)

    def _reuse_exact(self, row: Candidate) -> bool:
        earlier = self.store.evaluated(row.formula)
        if earlier is None:
            return False
        self._finish(
            row.id,
            earlier.outcome.with_(
                status="duplicate",
                stage="cache",
                duplicate_of=earlier.id,
                seconds=0.0,
                equivalent_to=f"#{earlier.id} {earlier.formula}",
            ),
        )
        return True

    def _reuse_cached(self, cid: int, fp: str) -> bool:
        if self.cache is None:
            return False
        known = self.cache.get(self.protocol, fp)
        if known is None or (known.status == "ok" and known.evaluations < self.screening.evaluations_per_hash):
            return False
        same_run = self.store.candidates_with_fingerprint(fp)
        self._finish(
            cid,
            Outcome(
                "duplicate",
                stage="cache",
                fitness=known.fitness,
                val_acc=known.fitness
                if len(self.config.tasks) == 1 and not uses_loss(self.metrics[self.config.task], self.config.score)
                else None,
                error=known.reason if known.status != "ok" else None,
                seconds=0.0,
                duplicate_of=same_run[0].id if same_run and same_run[0].id != cid else None,
                equivalent_to=f"{known.source} {known.formula} ({known.status}, {known.evaluations} evaluation(s))",
            ),
        )
        return True

    # --- training ------------------------------------------------------------------------
    def _dispatch(self, rows: list[Candidate]) -> None:
        """Stages 3-4 and full training go to the workers; baselines skip the hurdle they calibrate."""
        for row in rows:
            job = make_job(
                row.formula,
                self.config.tasks,
                self.config.training,
                self.params,
                self.screening,
                data_dir=self.config.data_dir,
                hurdles=None if row.label else self.hurdles,
                score=self.config.score,
            )
            self._training[self.pool.submit(job)] = row

    @property
    def in_flight(self) -> int:
        """Candidates being trained now."""
        return len(self._training)

    def poll(self) -> None:
        """Wait for the next outcomes from the workers and store them, all those that arrived together in one commit
        (no database is held while waiting: the fitness cache is shared with other runs)."""
        arrived = list(self.pool.results())
        with self.batch(), self.cache.transaction() if self.cache is not None else contextlib.nullcontext():
            for ticket, plain in arrived:
                row = self._training.pop(ticket)
                outcome = Outcome.from_plain(plain)
                done = self._finish(
                    row.id, outcome.with_(fitness=self._fitness(outcome)) if outcome.status == "ok" else outcome
                )
                self._cache(done, outcome.transient)
            self._resolve_waiting()

    def drain(self) -> None:
        """Wait until everything dispatched has an outcome, storing each as it arrives."""
        while self._training:
            self.poll()

    def collect(self) -> list[Candidate]:
        """The proposals that got an outcome since the last call (screened out, reused or trained), in that order."""
        out, self._finished = self._finished, []
        return out

    def _fitness(self, outcome: Outcome) -> float | None:
        return fitness(
            outcome.scores,
            self.config.tasks,
            self.references,
            self.config.task_weights,
            self.metrics,
            self.config.score,
            self.config.aggregate,
        )

    def _cache(self, row: Candidate, transient: bool = False) -> None:
        """Share a trained function's outcome with later candidates and runs; a worker's death or a timeout is no
        outcome of the function. A fitness that needs the references waits for them."""
        if self.cache is None or row.id not in self._fingerprints or transient:
            return
        if row.status == "ok" and row.outcome.fitness is None:
            self._uncached.append(row)
            return
        self.cache.add(
            self.protocol,
            self._fingerprints[row.id],
            row.status,
            row.outcome.fitness,
            row.outcome.error,
            row.formula,
            f"{self.store.path.name} #{row.id}",
        )

    def _read(self, ids: list[int]) -> list[Candidate]:
        """Candidates as stored (a resumed run's may already have outcomes), kept in hand from here on."""
        rows = [self.store.candidate(cid) for cid in ids]
        self._rows.update((row.id, row) for row in rows)
        return rows

    def _finish(self, cid: int, outcome: Outcome) -> Candidate:
        self.store.record_result(cid, outcome)
        done = self._rows[cid] = replace(self._rows[cid], outcome=outcome)
        if done.label is None:
            self._finished.append(done)
        self.hooks.finished(done)
        return done

    def _resolve_waiting(self) -> None:
        """Functional duplicates take their original's outcome as soon as it has one."""
        for cid, original in list(self._waiting.items()):
            done = self._rows[original]
            if done.status != "pending":
                del self._waiting[cid]
                self._finish(
                    cid,
                    done.outcome.with_(
                        status="duplicate",
                        stage="cache",
                        duplicate_of=original,
                        seconds=0.0,
                        equivalent_to=f"#{original} {done.formula}",
                    ),
                )

    # --- what the algorithm is told --------------------------------------------------------
    def fitness(self, cid: int) -> Fitness | None:
        """The fitness, or Pareto objectives; None for rejected and failed candidates."""
        row = self._rows[cid]
        if row.status not in ("ok", "duplicate"):
            return None
        if self.config.selection == "pareto":
            return objectives(
                row,
                self.references or {},
                self.config.tasks,
                self.config.complexity_objective,
                self.metrics,
                self.config.score,
            )
        return row.outcome.fitness

    def readmit(self, ids: list[int]) -> None:
        """Candidates a resumed asynchronous run awaits: those with an outcome are collected as finished, the others are
        screened and trained again."""
        rows = self._read(ids)
        self._finished += [r for r in rows if r.status != "pending"]
        self._dispatch(self._screen([r for r in rows if r.status == "pending"])[0])

    def finish(self) -> None:
        """Rows a resumed run never proposed again (only if the code changed in between) are recorded as failed."""
        for cid in self._existing.unclaimed():
            if self.store.candidate(cid).status == "pending":  # rows this session never read
                self.store.record_result(cid, Outcome("failed", error="not proposed again when the run was resumed"))

    def close(self) -> None:
        """Close the cache."""
        if self.cache is not None:
            self.cache.close()


def hurdles(baselines: list[Candidate], metrics: dict[str, str], ratio: float) -> dict[str, Hurdle]:
    """Each task's quality hurdle from the baselines' probes on it: ``ratio`` of the worst baseline's accuracy, or its
    loss over ``ratio`` (a looser hurdle for a smaller ratio; 0 turns it off)."""
    out: dict[str, Hurdle] = {}
    if ratio <= 0:
        return out
    for task, metric in metrics.items():
        probes = [s for r in baselines if (s := r.outcome.scores.get(task)) is not None]
        if metric == "accuracy" and (accs := [p.probe_acc for p in probes if p.probe_acc is not None]):
            out[task] = Hurdle("accuracy", ratio * min(accs))
        elif metric == "loss" and (losses := [p.probe_loss for p in probes if p.probe_loss is not None]):
            out[task] = Hurdle("loss", max(losses) / ratio)
    return out


class _Existing:
    """Rows an interrupted run already holds, for the resumed run to find again instead of adding."""

    def __init__(self, store: RunStore) -> None:
        self._rows: dict[tuple[int | None, str], list[int]] = {}
        for row in store.candidates():  # id order: the order the run added them
            self._rows.setdefault((row.generation, row.label or row.formula), []).append(row.id)

    def claim(self, generation: int | None, key: str) -> int | None:
        """The id of the next stored row for this baseline label or (generation, formula), if any."""
        ids = self._rows.get((generation, key))
        return ids.pop(0) if ids else None

    def unclaimed(self) -> list[int]:
        """Stored rows nobody claimed."""
        return [cid for ids in self._rows.values() for cid in ids]
