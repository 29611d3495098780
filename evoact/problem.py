"""The problem side of a search: what a proposal is worth. It owns the rejection cascade, evaluation and scoring.

The algorithm proposes and is told fitness (EvoTorch's Problem/SearchAlgorithm split). Here a proposal becomes a
stored candidate; stages 1-2 of the cascade run in the driver (one numba batch, the fingerprint cache), stages 3-4
and training in the Ray workers; results are scored (``scoring``), stored, cached and announced to the hooks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from typing import Any

import sympy as sp

from evoact.baselines import baseline_formula, baseline_params
from evoact.commands import resume_command
from evoact.compiler import CompileError, lower
from evoact.config import SearchConfig, fitness_protocol
from evoact.evaluation import make_job
from evoact.evolution import Fitness, Proposal
from evoact.formula import X
from evoact.hooks import Hooks
from evoact.racing import Racing
from evoact.records import Candidate, Outcome, Stage, Status, baselines_failed
from evoact.run_files import CONFIG_FILE
from evoact.scoring import fitness, objectives, references, uses_loss
from evoact.screening import CACHE_FILE, FitnessCache, screen_static
from evoact.search_space import SearchSpace
from evoact.store import RunStore
from evoact.surrogate import relative_scores
from evoact.surrogate_stage import SurrogateStage
from evoact.tasks import is_user_task, task_family
from evoact.training import Hurdle
from evoact.workers import WorkerPool


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
        self.verdicts = fitness_protocol(config, verdicts=True)  # where this run's rejections are shared
        self.glu_gate = task_family(config.tasks) == "glu"  # the function is a GLU gate: screened as one
        self.family = fitness_protocol(config, seeded=False)  # what the surrogate may learn from: any training seed
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
        self._news: list[Callable[[], None]] | None = None  # what the hooks hear once the cache's write lock is let go
        raced = functools.partial(self._tell, self.hooks.raced)
        self.racing = Racing(store, config, self.cache, self._rows, self._fitness, self.params_of, raced)
        self.surrogate = (
            SurrogateStage(store, config, dict(self.params), self.cache, self.family, metrics)
            if SurrogateStage.asked(config)
            else None
        )

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
    def params_of(self, row: Candidate) -> dict[str, float]:
        """Where a candidate's constants start: the space's values, or a baseline's own (PAU's fitted ones)."""
        return baseline_params(row.label, self.params) if row.label else self.params

    def retry_failed_baselines(self) -> None:
        """A resumed run whose task could train no baseline trains them all again (the task may have been fixed
        since); the failures stay in the run's meta. Called before the resumed run counts what it already has."""
        stored = [r for r in self.store.candidates() if r.origin == "baseline"]
        if stored and all(r.status == Status.FAILED for r in stored):
            failures = [{"label": r.label, "error": r.outcome.error} for r in stored]
            self.store.set_meta("baseline_failures", [*self.store.meta().get("baseline_failures", []), failures])
            self.store.retry([r.id for r in stored])

    def evaluate_baselines(self, pool: WorkerPool) -> None:
        """Train the reference activations, then calibrate the quality hurdle and the per-task references."""
        self.pool = pool
        rows = [
            self._existing.claim(None, name) or self.store.add_candidate(formula, "baseline", label=name)
            for name, formula in self.baseline_formulas.items()
        ]
        stored = self._read(rows)
        self._dispatch(self._screen(stored, baseline=True)[0])
        while self._training:
            self.poll()
            if broken := next((self._rows[c] for c in rows if self._rows[c].outcome.task_fault), None):
                self._stop_baselines(rows, broken)
        trained = [self._rows[cid] for cid in rows]
        if failed := baselines_failed(trained):  # nothing to score against: no search can mean anything
            own = any(is_user_task(t) for t in self.config.tasks)
            resume = resume_command(self.store.path, self.config.tasks)
            raise ValueError(
                f"{failed} (the tasks cannot score candidates), then `{resume}`"
                + (" trains them again" if own else " (which takes --data-dir) trains them again")
                + (
                    f'; for a --timeout too short for them, raise "timeout" in {self.store.path / CONFIG_FILE} first'
                    " (resume takes that edit)"
                    if any(r.outcome.exhausted for r in trained)
                    else ""
                )
            )
        self._calibrate()
        self._warn_untested(trained)
        self.race_to_end(baselines=True)

    def _stop_baselines(self, rows: list[int], broken: Candidate) -> None:
        """A task that broke its contract (``TaskError``) fails every function alike: the baselines still to train are
        failed with a pointer to why, so that a resume trains them all again, and the search stops now."""
        for cid in rows:
            if self._rows[cid].status == Status.PENDING:
                error = f"not trained: {broken.label}'s training showed the task itself broken"
                self._finish(cid, Outcome(Status.FAILED, error=error, seconds=0.0))
        raise ValueError(
            f"{broken.outcome.error}; no function can train on it, so the search stops at its first baseline: fix"
            f" the task, then `{resume_command(self.store.path, self.config.tasks)}` trains them again"
        )

    def _warn_untested(self, baselines: list[Candidate]) -> None:
        """Say at once which user tasks return no test measure: the search needs none, but ``confirm`` compares them
        (and would refuse only after the search)."""
        untested = [
            task
            for task in self.config.tasks
            if is_user_task(task)
            and not any(
                (score := r.outcome.scores.get(task)) is not None and score.measure(self.metrics[task]) is not None
                for r in baselines
                if r.status == Status.OK
            )
        ]
        if untested:
            self.hooks.note(
                f"{', '.join(untested)} returned no test measure (test_acc, or test_loss for a loss task): the search"
                " needs none, but evoact confirm compares them there; return one to confirm on your task"
            )

    def _calibrate(self) -> None:
        """From the trained baselines: the quality hurdle and each task's reference accuracy.

        The hurdle is a fraction of the worst baseline's accuracy after the same short training; the references
        (best baseline per task, 1.0 where every baseline failed) normalise multi-task scores, the baselines'
        own fitness included. Where a baseline did not train, both are the others', so the fitness cache's keys name it.
        """
        baselines = [r for r in self._rows.values() if r.label]
        if failed := tuple(sorted(str(r.label) for r in baselines if r.status != Status.OK)):
            self.protocol = fitness_protocol(self.config, untrained=failed)
            self.verdicts = fitness_protocol(self.config, verdicts=True, untrained=failed)
            self.family = fitness_protocol(self.config, seeded=False, untrained=failed)
            self.racing.untrained = failed
            if self.cache is not None:
                self.hooks.note(
                    f"baseline {', '.join(failed)} did not train: this run's hurdles and references are the other"
                    " baselines', so it shares the folder's fitness cache only with runs where the same did not train"
                )
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
            if row.status == Status.OK and len(self.config.tasks) > 1:
                fitness = self._fitness(row.outcome)
                self.store.set_fitness(row.id, fitness)
                self._rows[row.id] = replace(row, outcome=row.outcome.with_(fitness=fitness))
                if fitness is not None and fitness != row.outcome.fitness:  # a resumed run's were heard as resumed
                    self.hooks.scored(self._rows[row.id])
        waiting, self._uncached = self._uncached, []
        for row in waiting:  # one still without a fitness waits again, in the fresh list
            self._cache(self._rows[row.id])

    def pool_factor(self, generation: int) -> int:
        """How many times its quota a generation proposes (the surrogate stage's pool, where it ranks one)."""
        if self.surrogate is None:
            return 1
        assert self.references is not None  # the baselines are in before any generation
        return self.surrogate.pool_factor(generation, self.references)

    def _surrogate(self, rows: list[Candidate], train: int | None) -> list[Candidate]:
        """The rows the surrogate stage lets train; the others are recorded as skipped, with why."""
        assert self.surrogate is not None and self.references is not None
        split = self.surrogate.split(rows, train, self.references)
        for row, decision in split.skipped:
            self._finish(row.id, Outcome(Status.REJECTED, stage=Stage.SURROGATE, error=decision.reason, seconds=0.0))
        if split.note:
            self.hooks.note(split.note)
        return split.train

    # --- proposals -----------------------------------------------------------------------
    def start_generation(self) -> None:
        """Functional duplicates are spotted within a generation, across its top-up batches."""
        self._batch = {}

    def submit(
        self, proposals: Iterable[Proposal], generation: int, train: int | None = None
    ) -> tuple[list[Candidate], int]:
        """Store proposals as candidates (or find them in a resumed run), screen them and start training the survivors.

        Returns the candidates and how many passed stage 1 (a cache hit passes: it is evaluated, for free). With
        ``train`` (the surrogate selecting), at most ``train`` of them train, those it ranks best, and the count is
        of those that trained or train now: the others, free or skipped, are not the generation's quota.
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
            survivors, passed = self._screen(candidates, train=train)
            self._dispatch(survivors)
        return candidates, passed

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """What this run records inside (candidates, outcomes) commits at once: one disk sync for many rows."""
        return self.store.transaction()

    def _screen(
        self, rows: list[Candidate], baseline: bool = False, train: int | None = None
    ) -> tuple[list[Candidate], int]:
        """Stages 1-2: record rejections and cache hits; return what needs training and how many passed stage 1
        (with ``train``: how many trained or train now, at most ``train``).

        Rows that already have an outcome (a resumed run) are counted as they were decided and not screened again;
        a resumed generation's pending rows were all let train (a screening commits whole), so they train again.
        """
        done = [r for r in rows if r.status != Status.PENDING]
        if train is not None:
            trained = sum(r.outcome.stage not in (Stage.STATIC, Stage.CACHE, Stage.SURROGATE) for r in done)
            train = max(0, train - trained)
        for row in done:
            if (
                row.fingerprint
                and row.outcome.stage not in (Stage.STATIC, Stage.CACHE)
                and row.outcome.duplicate_of is None
            ):
                (self._baselines if baseline else self._batch).setdefault(row.fingerprint, row.id)
        passed = sum(not (r.status == Status.REJECTED and r.outcome.stage == Stage.STATIC) for r in done)
        rows = [r for r in rows if r.status == Status.PENDING]
        if not self.screening.active:
            return [r for r in rows if not self._reuse_exact(r)], passed + len(rows)
        screen = functools.partial(screen_static, max_nodes=self.max_nodes, config=self.screening, gate=self.glu_gate)
        if baseline:  # each baseline at its own constants' values
            verdicts = [screen([r.formula], [r.nodes], self.params_of(r))[0] for r in rows]
        else:
            verdicts = screen([r.formula for r in rows], [r.nodes for r in rows], self.params)
        survivors: list[Candidate] = []
        for row, verdict in zip(rows, verdicts):
            if verdict.fingerprint:
                self.store.set_fingerprint(row.id, verdict.fingerprint)
                self._fingerprints[row.id] = verdict.fingerprint
                self._rows[row.id] = replace(self._rows[row.id], fingerprint=verdict.fingerprint)
            if verdict.reason:
                self._finish(row.id, Outcome(Status.REJECTED, stage=Stage.STATIC, error=verdict.reason, seconds=0.0))
                continue
            fp = verdict.fingerprint
            assert fp is not None  # every candidate that passes stage 1 has a fingerprint
            if not baseline and (original := self._batch.get(fp) or self._baselines.get(fp)):
                self._waiting[row.id] = original  # resolved when that one's outcome arrives
            elif not baseline and self._reuse_cached(row.id, fp):
                pass
            else:
                survivors.append(row)
                (self._baselines if baseline else self._batch)[fp] = row.id
        if self.surrogate is not None and not baseline and survivors:
            survivors = self._surrogate(survivors, train)
        self._resolve_waiting()
        if train is not None:
            return survivors, trained + len(survivors)
        return survivors, passed + sum(v.reason is None for v in verdicts)

    def _reuse_exact(self, row: Candidate) -> bool:
        earlier = self.store.evaluated(row.formula)
        if earlier is None:
            return False
        self._finish(row.id, _duplicate_of(earlier))
        return True

    def _reuse_cached(self, cid: int, fp: str) -> bool:
        if self.cache is None:
            return False
        known = self.cache.get(self.protocol, fp)
        if known is None or known.status == Status.REJECTED:  # a rejection is under its settings' key (one under the
            known = self.cache.get(self.verdicts, fp)  # plain key is an earlier version's, under settings unknown)
        if known is None or (known.status == Status.OK and known.evaluations < self.screening.evaluations_per_hash):
            return False
        same_run = self.store.candidates_with_fingerprint(fp)
        self._finish(
            cid,
            Outcome(
                Status.DUPLICATE,
                stage=Stage.CACHE,
                fitness=known.fitness,
                val_acc=known.fitness
                if len(self.config.tasks) == 1 and not uses_loss(self.metrics[self.config.task], self.config.score)
                else None,
                error=known.reason if known.status != Status.OK else None,
                seconds=0.0,
                duplicate_of=same_run[0].id if same_run and same_run[0].id != cid else None,
                equivalent_to=f"{known.source} {known.formula} ({known.status}, {known.evaluations} evaluation(s))",
                learned=self.cache.learned(self.protocol, fp, self._rows[cid].formula)
                if known.status == Status.OK
                else {},
            ),
        )
        return True

    # --- training ------------------------------------------------------------------------
    def _dispatch(self, rows: list[Candidate]) -> None:
        """Stages 3-4 and full training go to the workers; baselines skip the hurdle they calibrate."""
        for row in rows:
            assert self.pool is not None  # set by evaluate_baselines, before anything is trained
            job = make_job(
                row.formula,
                self.config.tasks,
                self.config.training,
                self.params_of(row),
                self.screening,
                data_dir=self.config.data_dir,
                hurdles=None if row.label else self.hurdles,
                score=self.config.score,
                codes=self.racing.task_code,
            )
            self._training[self.pool.submit(job)] = row

    @property
    def in_flight(self) -> int:
        """Trainings running now: candidates and racing seeds."""
        return len(self._training) + len(self.racing.tickets)

    def poll(self) -> None:
        """Wait for the next outcomes from the workers and store them, all those that arrived together in one commit
        (no database is held while waiting: the fitness cache is shared with other runs). The run's commit comes
        first: killed between the two, a resumed run has its results, and the cache only misses them (the other way
        round, a result the run had not stored would come back from the cache as a duplicate of itself)."""
        assert self.pool is not None  # set by evaluate_baselines, before anything is trained
        arrived = list(self.pool.results())
        self._news = []  # a slow hook (a logger over the network) held the folder's cache from other runs' writes
        try:
            with self.cache.transaction() if self.cache is not None else contextlib.nullcontext(), self.batch():
                broken = self._arrived(arrived)
        finally:  # what the block stored is committed even where it was cut short (Ctrl-C): heard either way
            news, self._news = self._news, None
            for tell in news:
                tell()
        if broken is not None:  # after the commit: what arrived with it is kept (the baselines' own stop says more)
            resume = resume_command(self.store.path, self.config.tasks)
            if broken.transient:  # evaluation's one transient task fault: the task was edited under the search
                raise ValueError(
                    f"{broken.error}; so the search stops here (what it finished is kept): once the code is restored,"
                    f" `{resume}` trains what met the edit; to search with the edited task, start a new search"
                )
            raise ValueError(
                f"{broken.error}; a task that breaks its contract fails every function alike, so the search stops here"
                f" (what it finished is kept): fix the task or its data, then `{resume}` goes on (a task whose code"
                " changed needs a new search)"
            )

    def _arrived(self, arrived: list[tuple[int, dict[str, Any]]]) -> Outcome | None:
        """Store the outcomes that arrived; returns one that showed the task itself broken, if any."""
        broken: Outcome | None = None
        for ticket, plain in arrived:
            outcome = Outcome.from_plain(plain)
            if ticket in self.racing.tickets:
                self.racing.finished(ticket, outcome)
                broken = broken or (outcome if outcome.task_fault else None)
                continue
            row = self._training.pop(ticket)
            if outcome.task_fault and outcome.transient and not row.label:
                # the task was edited under the search, no fault of the function: restored, a resume trains it
                broken = broken or outcome
                continue
            done = self._finish(
                row.id, outcome.with_(fitness=self._fitness(outcome)) if outcome.status == Status.OK else outcome
            )
            self._cache(done, outcome.transient or outcome.task_fault)
            broken = broken or (outcome if outcome.task_fault and not row.label else None)
        self._resolve_waiting()
        return broken

    def _tell(self, event: Callable[[Candidate], None], row: Candidate) -> None:
        """A hook event now, or once the outcomes arriving together are committed (``poll``)."""
        if self._news is None:
            event(row)
        else:
            self._news.append(functools.partial(event, row))

    def drain(self) -> None:
        """Wait until everything dispatched has an outcome, storing each as it arrives."""
        while self._training or self.racing.tickets:
            self.poll()

    # --- racing the elite (racing.py) ----------------------------------------------------
    def race(self, baselines: bool = False) -> int:
        """Start the seeds that the current top ``race_top`` candidates (or the baselines) lack; returns how many seeds
        became known or started, 0 once nothing is missing (or the run does not race)."""
        if not self.config.racing or self.references is None:
            return 0
        assert self.pool is not None  # set by evaluate_baselines, before anything is trained
        return self.racing.start(self.pool, self._baselines_trained() if baselines else self.racing.top())

    def race_settled(self) -> bool:
        """Whether no seed of the current top ``race_top`` candidates is training: only then is the best's raced mean
        the one the ranking will keep (an asynchronous run's stop rules wait for it)."""
        top = {row.id for row in self.racing.top()}
        return not any(cid in top for cid, _ in self.racing.tickets.values())

    def race_to_end(self, baselines: bool = False) -> None:
        """Race until every candidate of the top ``race_top`` (or every baseline) has its seeds: a candidate pushed
        out of the top by a raced mean gets no more; one that enters it gets its seeds."""
        while self.race(baselines):
            self.drain()

    def _baselines_trained(self) -> list[Candidate]:
        return [r for r in self._rows.values() if r.label and r.status == Status.OK and r.outcome.fitness is not None]

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
        """Share a trained function's outcome with later candidates and runs; a worker's death, a timeout or a broken
        task is no outcome of the function. Its fitness and relative scores need the references: until they are known
        it waits."""
        if self.cache is None or row.id not in self._fingerprints or transient:
            return
        if row.status == Status.OK and (row.outcome.fitness is None or self.references is None):
            self._uncached.append(row)
            return
        scores = None
        if row.status == Status.OK and self.references is not None:  # always known here: the wait above
            scores = relative_scores(
                row.outcome.scores, self.references, self.config.tasks, self.metrics, self.config.score
            )
        self.cache.add(
            self.verdicts if row.status == Status.REJECTED else self.protocol,
            self._fingerprints[row.id],
            row.status,
            row.outcome.fitness,
            row.outcome.error,
            row.formula,
            f"{self.store.path.name} #{row.id}",
            scores,
            self.family,
            row.outcome.every_layer if row.status == Status.OK else None,
        )

    def _read(self, ids: list[int]) -> list[Candidate]:
        """Candidates as stored (a resumed run's may already have outcomes), kept in hand from here on."""
        rows = [self._session(self._stored(cid)) for cid in ids]
        self._rows.update((row.id, row) for row in rows)
        return rows

    def _session(self, row: Candidate) -> Candidate:
        """A stored row as this session knows it: its raced mean counts only once this session has raced it (a
        resumed run then decides on the same facts, in the same order, as the uninterrupted one)."""
        if self.racing.raced(row.id) or (row.raced_seeds == 1 and not row.raced_failed):
            return row
        return replace(row, raced_fitness=None, raced_std=None, raced_seeds=1, raced_failed=0)

    def known_through(self, generation: float) -> None:
        """A resumed run: the candidates of generations up to ``generation`` (all for an asynchronous run), already
        decided before the checkpoint it continues from, are known with their raced seeds, as if never stopped."""
        for row in self.store.candidates():
            if row.label is None and row.generation is not None and row.generation <= generation:
                self._rows[row.id] = row
                self.racing.remember(row.id)

    def _stored(self, cid: int) -> Candidate:
        """A candidate of this run's store (ids come from it, so it is there)."""
        row = self.store.candidate(cid)
        assert row is not None, f"candidate {cid} is not in the run store"
        return row

    def _finish(self, cid: int, outcome: Outcome) -> Candidate:
        self.store.record_result(cid, outcome)
        done = self._rows[cid] = replace(self._rows[cid], outcome=outcome)
        if done.label is None:
            self._finished.append(done)
        self._tell(self.hooks.finished, done)
        return done

    def _resolve_waiting(self) -> None:
        """Functional duplicates take their original's outcome as soon as it has one (skipped by the surrogate: they
        are skipped too, and counted as such)."""
        for cid, original in list(self._waiting.items()):
            done = self._rows[original]
            if done.outcome.stage == Stage.SURROGATE:
                del self._waiting[cid]
                error = f"a functional duplicate of #{original}, which the surrogate skipped"
                self._finish(cid, Outcome(Status.REJECTED, stage=Stage.SURROGATE, error=error, seconds=0.0))
            elif done.status != Status.PENDING:
                del self._waiting[cid]
                self._finish(cid, _duplicate_of(done))

    # --- what the algorithm is told --------------------------------------------------------
    def fitness(self, cid: int) -> Fitness | None:
        """The fitness, or Pareto objectives; None for rejected and failed candidates."""
        row = self._rows[cid]
        if row.status not in (Status.OK, Status.DUPLICATE):
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
        self._finished += [r for r in rows if r.status != Status.PENDING]
        self._dispatch(self._screen([r for r in rows if r.status == Status.PENDING])[0])

    def finish(self) -> None:
        """Rows a resumed run never proposed again (only if the code changed in between) are recorded as failed."""
        for cid in self._existing.unclaimed():
            if self._stored(cid).status == Status.PENDING:  # rows this session never read
                self.store.record_result(
                    cid, Outcome(Status.FAILED, error="not proposed again when the run was resumed")
                )

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


def _duplicate_of(original: Candidate) -> Outcome:
    """A duplicate's outcome: its original's measures, marked as taken from it."""
    return original.outcome.with_(
        status=Status.DUPLICATE,
        stage=Stage.CACHE,
        duplicate_of=original.id,
        seconds=0.0,
        equivalent_to=f"#{original.id} {original.formula}",
    )
