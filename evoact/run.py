"""Reading a run directory: its config and search space as typed objects, a candidate's constants, and the typed
summaries (``evoact.summaries``) that ``evoact show`` prints and the report renders. Acting on a run (export,
confirm, resume, report) is the API's (``evoact.api.Run``): this module only reads."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
import os
import sqlite3
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from evoact.baselines import baseline_params
from evoact.catalog import Match, nearest_known
from evoact.compiler import CompileError, values_at
from evoact.config import SearchConfig
from evoact.formula import FormulaError, constant_names, parse
from evoact.options import reproduce_command
from evoact.pareto import pareto_front
from evoact.records import (
    USER_ORIGINS,
    Candidate,
    RaceResult,
    RecordError,
    RunState,
    Stage,
    Status,
    baselines_failed,
    joined_layers,
    mean_learned,
)
from evoact.run_files import CONFIRM, RunStoreError, linked_runs, listed_runs, writer
from evoact.scoring import objectives, uses_loss
from evoact.screening.fingerprint import scale_free_fingerprint
from evoact.screening.probe import probe_points
from evoact.search_space import SearchSpace, SearchSpaceError, parse_search_space
from evoact.store import RunStore
from evoact.summaries import (
    BaselineRef,
    BaselineRow,
    CascadeSummary,
    Confirmation,
    ConfirmedVerdict,
    FunctionRef,
    ParetoPoint,
    RankedCandidate,
    RunOverview,
    RunSummary,
    TaskMean,
    TaskVerdict,
    Verdict,
    confirmed_verdicts,
)
from evoact.tasks import TASKS, is_user_task, task_family


def _count(top: Any) -> int:
    """``top`` as a count: a whole number (NumPy's too), 0 or more; a one-line error otherwise (not a slice's -1)."""
    try:
        n = operator.index(top)
    except TypeError:
        n = -1
    if isinstance(top, bool) or n < 0:
        raise ValueError(f"top must be a whole number, 0 or more (None: all), got {top!r}")
    return n


class RunReader:
    """One run, read through its store: parsed once, checked where it is read."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.path = store.path

    @functools.cached_property
    def config(self) -> SearchConfig:
        """The search config the run was started with."""
        try:
            config = SearchConfig.from_dict(self.store.config()["config"])
        except ValueError as exc:
            raise RunStoreError(f"{self.path / 'config.json'}: {exc}") from None
        meta = self.store.meta()
        made_on = meta.get("metrics") or meta.get("references")  # the tasks the stored results were made on
        if made_on and set(made_on) != set(config.tasks):
            raise RunStoreError(
                f"{self.path / 'config.json'}: names the tasks {', '.join(config.tasks)}, but the run's results were"
                f" made on {', '.join(made_on)} (was the file edited?)"
            )
        return config

    @functools.cached_property
    def space(self) -> SearchSpace:
        """The search space the run used, from the text stored with it."""
        stored = self.store.config().get("search_space")
        if not isinstance(stored, dict) or not isinstance(stored.get("text"), str):
            raise RunStoreError(f"{self.path / 'config.json'}: no search space text")
        source = str(stored.get("source", "config.json"))
        try:
            return parse_search_space(stored["text"], source, stored=True)
        except SearchSpaceError as exc:  # the copy in config.json is at fault, not the file it was read from
            problem = str(exc).removeprefix(f"{source}: ")
            raise RunStoreError(
                f"{self.path / 'config.json'}: the copy of the search space stored with the run (read from {source})"
                f" is damaged: {problem}"
            ) from None

    @functools.cached_property
    def metrics(self) -> dict[str, str]:
        """Each task's metric, ``accuracy`` or ``loss``: as the run stored it (a user task's, which is never imported
        to read a run), else the built-in task's (a run from before metrics were stored: a user's is accuracy)."""
        stored = self.store.meta().get("metrics") or {}
        return {
            name: stored.get(name) or (TASKS[name].metric if name in TASKS else "accuracy")
            for name in self.config.tasks
        }

    @property
    def test_measure(self) -> str | None:
        """What a one-task run's rows say of its test split, ``test acc`` or ``test loss``; None for several tasks
        (each task's measures go in a table of their own)."""
        if len(self.config.tasks) != 1:
            return None
        return "test loss" if self.metrics[self.config.task] == "loss" else "test acc"

    def test_value(self, row: Candidate) -> float | None:
        """A row's ``test_measure`` (None where it has none)."""
        score = row.outcome.scores.get(self.config.task)
        return (score.test_loss if score else None) if self.test_measure == "test loss" else row.outcome.test_acc

    def fitness_measure(self) -> str:
        """What this run's fitness is, in words."""
        c = self.config
        if len(c.tasks) == 1:
            return "minus validation loss" if uses_loss(self.metrics[c.task], c.score) else "validation accuracy"
        compared = "loss" if c.score == "loss" else "accuracy (loss on loss tasks)"
        how = {"mean": "mean", "worst": "lowest", "q25": "lower quartile"}[c.aggregate]
        return f"{how} over the tasks of the validation {compared} relative to the best baseline's"

    def constants(self, row: Candidate, races: Sequence[RaceResult] | None = None) -> dict[str, float]:
        """A candidate's constants, those its formula holds: where they started (the space's values, or a baseline's
        own), replaced by the values the run trained (means over every task's layers of every seed it trained on;
        ``races``: its stored raced seeds, where read already)."""
        start = baseline_params(row.label, self.space.learnable) if row.label else self.space.learnable
        held = set(constant_names(parse(row.formula)))
        return {k: v for k, v in {**start, **mean_learned(self.learned(row, races))}.items() if k in held}

    def learned(self, row: Candidate, races: Sequence[RaceResult] | None = None) -> dict[str, tuple[float, ...]]:
        """Each learnable constant's trained values over every task's layers, first training first, then each raced
        seed's (racing ranked the candidate by all of them, so its constants are theirs too)."""
        return joined_layers([row.outcome.every_layer, *(r.every_layer for r in self._raced(row, races))])

    def _raced(self, row: Candidate, races: Sequence[RaceResult] | None = None) -> list[RaceResult]:
        """``row``'s raced seeds that trained or were reused from the fitness cache (``races``: its stored ones, where
        read already); a reused one has no per-task scores, and its constants only where the cache held them."""
        races = self.store.races(row.id) if races is None else races
        return [r for r in races if r.status == Status.OK]

    def cascade(self) -> CascadeSummary:
        """What the rejection cascade did: proposals, rejections per stage, cache hits, trainings, seconds saved.

        Savings are estimated from the median cost of a full training in this run: each candidate removed
        before training saves one (in a generation the surrogate ranked from a pool, one per pool's worth); one
        stopped at the quality hurdle saves the rest of its epochs.
        """
        everything = self.store.candidates()
        rows = [r for r in everything if r.label is None]
        full = [r.outcome.train_seconds for r in everything if r.status == Status.OK and r.outcome.train_seconds]
        full_cost = float(np.median(full)) if full else 0.0  # the median: a worker's first training pays its start-up
        stages = {stage: [r for r in rows if r.outcome.stage == stage] for stage in Stage}
        # a skipped candidate saves what an evaluation past the cache costs on average (some stop at a hurdle)
        past_cache = [
            r.outcome.train_seconds or 0.0
            for r in rows
            if r.outcome.stage not in (Stage.STATIC, Stage.CACHE, Stage.SURROGATE) and r.status != Status.PENDING
        ]
        surrogate_saved = (
            0.0  # selecting, it ranked out what only the pool proposed: nothing saved
            if self.config.screening.selecting
            else len(stages[Stage.SURROGATE]) * (sum(past_cache) / len(past_cache) if past_cache else 0.0)
        )
        # a pooled generation proposed ``surrogate_pool`` times its quota: of its static and cache rejections, only
        # that share would have been proposed (and so saved) without the pool
        meta = self.store.meta()
        pooled = meta.get("pooled_generations", ())
        share = {g: 1 / self.config.screening.surrogate_pool for g in pooled}
        removed = sum(share.get(r.generation, 1.0) for r in stages[Stage.STATIC] + stages[Stage.CACHE])
        saved = full_cost * (removed + len(stages[Stage.STABILITY]))
        saved += surrogate_saved
        saved += sum(max(0.0, full_cost - (r.outcome.train_seconds or 0.0)) for r in stages[Stage.QUALITY])
        reasons: dict[str, int] = {}
        for r in stages[Stage.STATIC]:
            key = r.outcome.error.split(" (")[0].split(":")[0] if r.outcome.error else "?"
            reasons[key] = reasons.get(key, 0) + 1
        by_task: dict[str, int] = {}  # the task whose hurdle each rejection missed
        for r in stages[Stage.QUALITY]:
            task = next((t for t, s in r.outcome.scores.items() if s.stopped), self.config.task)
            by_task[task] = by_task.get(task, 0) + 1
        races = self.store.races()
        evolved = [r for r in self.store.ranked() if r.label is None]
        first_seed = max(evolved, key=lambda r: (r.outcome.fitness or 0.0, -r.id), default=None)
        return CascadeSummary(
            proposed=len(rows),
            rejected_static=len(stages[Stage.STATIC]),
            static_reasons=reasons,
            cache_hits=len(stages[Stage.CACHE]),
            rejected_stability=len(stages[Stage.STABILITY]),
            rejected_quality=len(stages[Stage.QUALITY]),
            rejected_quality_by_task=by_task,
            hurdles=meta.get("hurdles") or {},
            fully_trained=sum(r.status == Status.OK for r in rows),
            failed=sum(r.status == Status.FAILED for r in rows),
            train_seconds=sum(r.outcome.train_seconds or 0.0 for r in everything),
            full_training_seconds=full_cost,
            train_seconds_saved=saved,
            hurdle=meta.get("hurdle"),
            race_trainings=len(races),
            race_reused=sum(r.source is not None for r in races),
            race_seconds=sum(r.seconds or 0.0 for r in races),
            race_failed=sum(r.status == Status.FAILED for r in races),
            race_error=next((r.error for r in races if r.status == Status.FAILED and r.error), None),
            single_seed_best=first_seed.id if races and first_seed is not None else None,
            skipped_surrogate=len(stages[Stage.SURROGATE]),
            surrogate_seconds_saved=surrogate_saved,
            pending=sum(r.status == Status.PENDING for r in rows),
            surrogate_prior=meta.get("surrogate_prior") or {},
        )

    def pareto_front(self) -> tuple[ParetoPoint, ...]:
        """The Pareto front over evolved candidates (baseline-normalised task scores, and size if it was an objective):
        each with its ``objectives`` (per task, then nodes), best fitness first."""
        tasks, complexity = self.config.tasks, self.config.complexity_objective
        refs = self.store.meta().get("references") or {}
        rows = [
            (r, o)
            for r in self.store.ranked()
            if r.label is None
            and (o := objectives(r, refs, tasks, complexity, self.metrics, self.config.score)) is not None
        ]
        out = []
        for i in pareto_front([o for _, o in rows]):
            row, values = rows[i]
            shown: dict[str, Any] = dict(zip(tasks, values))
            if complexity:
                shown["nodes"] = row.nodes
            out.append(ParetoPoint(row, shown))
        return tuple(out)

    @property
    def state(self) -> RunState:
        """``finished``, ``running``, ``stopped`` (by a stopping rule; resumable) or ``interrupted``: a run whose search
        is gone (its lock is free, or a confirmation holds it) is not running, whatever its last word was."""
        state = self.store.meta().get("state")
        if state == RunState.RUNNING and writer(self.path) in (None, CONFIRM):
            return RunState.INTERRUPTED
        return RunState(state) if state else RunState.INTERRUPTED

    @property
    def started_at(self) -> float | None:
        """When the run started (seconds since the epoch), if recorded."""
        started = self.store.meta().get("started_at")
        return float(started) if isinstance(started, (int, float)) else None

    @property
    def mode(self) -> str:
        """How it ran: ``generational`` or ``async`` (a run from before the mode was recorded: generational)."""
        return str(self.store.meta().get("mode", "generational"))

    @property
    def versions(self) -> dict[str, str] | None:
        """The software that made the run (evoact, Python, torch, SymPy), as recorded when it started."""
        versions = self.store.config().get("versions")
        return {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else None

    def duration(self) -> float | None:
        """Seconds the search ran: each session's start to its end, summed, so the time between a stop and a resume
        does not count. A session killed without a word (``kill -9``, a lost machine) ended at its last stored
        result; one still running, now. A run from before sessions were recorded is one session."""
        sessions = self.store.sessions()
        if not sessions:
            return None
        running = self.state == RunState.RUNNING
        times = self.store.result_times() if any(e is None for _, e in sessions) else []  # sorted
        total = 0.0
        for i, (begin, ended) in enumerate(sessions):
            last = i == len(sessions) - 1
            if last and running:
                ended = time.time()
            elif ended is None:  # its last result before the next session began
                before = bisect.bisect_left(times, math.inf if last else sessions[i + 1][0])
                ended = times[before - 1] if before and times[before - 1] >= begin else begin
            total += max(0.0, ended - begin)
        return total

    def command(self) -> str | None:
        """The command that runs this search again into a new folder beside this run, naming the folder as this
        process reaches it (the command recorded when it started named it from where that process ran)."""
        where = self.path if self.path.name not in ("", "..") else Path(os.path.abspath(self.path))  # opened as "."
        try:
            return reproduce_command(self.config, where)
        except ValueError:  # a config this evoact cannot restate (its budget unknown): the recorded command
            command = self.store.config().get("command")
            return command if isinstance(command, str) else None

    def overview(self) -> RunOverview:
        """One line about the run, as ``evoact runs`` lists it: state, tasks, best against the best baseline, time."""
        best, baseline = self._top(), next((r for r in self.store.ranked() if r.label), None)
        return RunOverview(
            name=self.path.name,
            path=str(self.path),
            state=self.state,
            tasks=self.config.tasks,
            seed=self.config.seed,
            budget=self.config.budget,
            best=None if best is None else FunctionRef.of(best),
            best_baseline=None if baseline is None else BaselineRef.of(baseline),
            candidates=self.store.proposed(),
            counts=self.store.counts(),
            seconds=self.duration(),
            command=self.command(),
            stopped_because=self._stopped_because(),
            confirming=writer(self.path) == CONFIRM,
            **self._confirmed_overview(best),
        )

    def _confirmed_overview(self, best: Candidate | None) -> dict[str, Any]:
        """What ``overview`` says of the confirmations of ``best``: a damaged one is named there, so that the run is
        still listed (``show`` and ``confirm`` refuse it in one line)."""
        if best is None:
            return {}
        try:
            return {"confirmed": self.confirmed(best) or None}
        except RunStoreError as exc:
            return {"confirmation_unreadable": str(exc)}

    def confirmation(self) -> Confirmation | None:
        """What this run's confirmations found, if it was confirmed: each task's latest (``Confirmation.after``)."""
        stored = self.store.meta().get("confirmation")
        if stored is None:
            return None
        try:
            return Confirmation.from_json(stored)
        except ValueError as exc:
            raise RunStoreError(f"{self.path}: {exc}") from None

    def confirmed(self, row: Candidate) -> dict[str, ConfirmedVerdict]:
        """What this run's confirmations said of candidate ``row``, on each task that confirmed it (none if not)."""
        confirmation = self.confirmation()
        return confirmed_verdicts(
            {
                task: (result, mine)
                for task, result in (confirmation.tasks if confirmation else {}).items()
                if (mine := next((r for r in result.rows if r.id == row.id), None)) is not None
            }
        )

    def verdict(self) -> Verdict | None:
        """What the run found, first: its best function against the best baseline, overall and per task (validation),
        and what a confirmation on fresh seeds said of it where there is one; None before anything has a fitness."""
        best = self._top()
        if best is None:
            return None
        baselines = [r for r in self.store.ranked() if r.label]
        races = self._races_of([best, *baselines])
        means = self.task_means(best, races[best.id])
        theirs = {str(r.label): self.task_means(r, races[r.id]) for r in baselines}
        per_task = {}
        for task, metric in self.metrics.items():
            measured = [(mean, name, m[task]) for name, m in theirs.items() if (mean := m[task].mean) is not None]
            pick = max if metric == "accuracy" else min
            _, name, value = pick(measured, key=lambda t: t[0]) if measured else (0.0, None, TaskMean(metric, None))
            mine = means[task]
            per_task[task] = TaskVerdict(
                metric, mine.mean, name, value.mean, mine.std, mine.seeds, value.std, value.seeds
            )
        confirmed = self.confirmed(best)
        head = baselines[0] if baselines else None
        known = self._rediscovers(best)
        return Verdict(
            winner=FunctionRef.of(best),
            best_baseline=None if head is None else BaselineRef.of(head),
            margin=None
            if head is None or best.rank_fitness is None or head.rank_fitness is None
            else best.rank_fitness - head.rank_fitness,
            per_task=per_task,
            confirmed=confirmed or None,
            known_as=None if known is None else known.name,
            rediscovery=None if known is None else known.described,
        )

    def _rediscovers(self, row: Candidate) -> Match | None:
        """The published function a candidate is (up to scale and beta, as ``inspect`` matches it), if any."""
        try:
            matches = nearest_known(row.formula, dict(self.space.learnable), top=1)
        except (FormulaError, CompileError, ValueError):  # a damaged stored formula: no match to report
            return None
        return matches[0] if matches and matches[0].rediscovery else None

    def lineage(self, cid: int, depth: int = 6, budget: list[int] | None = None) -> dict[str, Any]:
        """A candidate and its ancestors, ``depth`` generations back: id, formula, fitness, origin, generation, parents
        (at most two distinct parents each, and 64 entries in all: stored parents are data, not trusted)."""
        budget = [64] if budget is None else budget
        budget[0] -= 1
        row = self.candidate(cid)
        parents = [p for p in dict.fromkeys(row.parents)][:2] if depth > 1 else []
        return {
            "id": row.id,
            "formula": row.formula,
            "fitness": row.outcome.fitness,
            "origin": row.origin,
            "generation": row.generation,
            "parents": [
                self.lineage(p, depth - 1, budget) for p in parents if budget[0] > 0 and self.store.candidate(p)
            ],
        }

    def _grouped(self, ranked: list[Candidate], top: int) -> tuple[RankedCandidate, ...]:
        """The ranking's first ``top`` rows; a function that only rescales or shifts a better-ranked one (a constant
        output factor, sign included, and in a built-in pointwise run an added constant) is marked as that one's
        variant (``variant_of``, ``factor``, ``shift``): the same idea twice. A baseline is never a variant: it keeps
        its own row."""
        races = self._races_of(ranked[:top])
        return tuple(
            RankedCandidate(row, rank, head, factor, shift, self.task_means(row, races[row.id]))
            for rank, row, head, factor, shift in itertools.islice(self._variants(ranked, races), top)
        )

    def _variants(
        self, ranked: Sequence[Candidate], races: dict[int, list[RaceResult]] | None = None
    ) -> Iterator[tuple[int, Candidate, int | None, float | None, float | None]]:
        """Each of ``ranked`` with its rank and, where it is ``factor`` times a better-ranked function (sign included)
        plus ``shift``, that one's id, the factor and the shift; a baseline is never a variant. An added constant makes
        a variant only where the function is a built-in network's activation, whose next layer's bias absorbs it, not
        where it is a GLU gate (a gate shifted adds a linear path) or a user's network's (where the bias follows is
        not known). ``races``: raced seeds already read, by id."""
        tasks = self.config.tasks  # where a layer's bias follows is known of the built-in networks only
        shifted = task_family(tasks) == "pointwise" and not any(is_user_task(t) for t in tasks)
        heads: dict[str, tuple[int, np.ndarray]] = {}
        for rank, row in enumerate(ranked, 1):
            try:
                constants = self.constants(row, (races or {}).get(row.id))
                values = values_at(parse(row.formula), probe_points(), constants)
            except (FormulaError, CompileError, ValueError):  # a damaged stored formula: a row of its own
                yield rank, row, None, None, None
                continue
            key = scale_free_fingerprint(values, shifted=shifted)
            if key in heads and not row.label:
                head, reference = heads[key]
                level, head_level = (values.mean(), reference.mean()) if shifted else (0.0, 0.0)
                mine, theirs = values - level, reference - head_level
                factor = float(np.sqrt(np.mean(mine**2) / np.mean(theirs**2))) * (1 if mine @ theirs >= 0 else -1)
                yield rank, row, head, factor, float(level - factor * head_level)
                continue
            if key and key not in heads:
                heads[key] = (row.id, values)
            yield rank, row, None, None, None

    def distinct(self, top: int) -> tuple[list[Candidate], list[tuple[Candidate, int]]]:
        """The best ``top`` evolved candidates, passing over each that only rescales or shifts a better-ranked evolved
        one (what ``show`` lists as its variant): what ``confirm --top`` trains, so that N slots hold N ideas; and
        those passed over on the way, each with the candidate it varies. A variant of a baseline is kept (the run's
        best may be one: the verdict reads its confirmation)."""
        chosen: list[Candidate] = []
        passed: list[tuple[Candidate, int]] = []
        baselines: set[int] = set()
        for _, row, head, _, _ in self._variants(self.store.ranked()):
            if len(chosen) == top:
                break
            if row.label:
                baselines.add(row.id)
            elif head is None or head in baselines:
                chosen.append(row)
            else:
                passed.append((row, head))
        return chosen, passed

    def summary(self, top: int = 20, status: Status | str | None = None) -> RunSummary:
        """Everything ``evoact show`` prints and the report renders; ``status``: also list that status's candidates."""
        everything = self.store.candidates()
        ranked = self.store.ranked()
        rank = {r.id: i for i, r in enumerate(ranked, 1)}
        baselines = [r for r in everything if r.label]
        races = self._races_of(baselines)
        return RunSummary(
            run=str(self.path),
            state=self.state,
            counts=self.store.counts(),
            config=self.config.to_dict(),
            cascade=self.cascade(),
            ranking=self._grouped(ranked, top),
            baselines=tuple(BaselineRow(r, rank.get(r.id), self.task_means(r, races[r.id])) for r in baselines),
            confirmation=self.confirmation(),
            verdict=self.verdict(),
            pareto_front=self.pareto_front() if self.config.selection == "pareto" else None,
            candidates=tuple(r for r in everything if r.status == status)[:top] if status else None,
            stopped_because=self._stopped_because(everything),
            user_trees_rejected={
                origin: n
                for origin in USER_ORIGINS
                if (n := sum(r.origin == origin and r.status == Status.REJECTED for r in everything))
            },
        )

    def _stopped_because(self, rows: Sequence[Candidate] | None = None) -> str | None:
        """Why a run stopped short: its stop rule, its space run out of new functions, or a task on which every
        baseline failed (it cannot score);
        ``rows``: the run's candidates where the caller has read them already."""
        state = self.state
        if state in (RunState.STOPPED, RunState.FINISHED):  # finished with a reason: its space ran out
            return self.store.meta().get("stopped_because")
        if state != RunState.INTERRUPTED:  # a search whose baselines all fail ends interrupted
            return None
        return baselines_failed(self.store.baselines() if rows is None else [r for r in rows if r.label])

    def ranking(self, top: int | None = None) -> list[Candidate]:
        """Evolved candidates with a fitness, best first (baselines left out), at most ``top``."""
        return self.store.hall_of_fame(_count(top) if top is not None else 1_000_000)

    @property
    def best(self) -> Candidate | None:
        """The best evolved candidate so far (None before any has a fitness)."""
        return self._top()

    def _top(self) -> Candidate | None:
        best = self.ranking(1)
        return best[0] if best else None

    def _races_of(self, rows: Sequence[Candidate]) -> dict[int, list[RaceResult]]:
        """The stored raced seeds of each of ``rows`` (by the races table's key: a page of a large run reads few)."""
        return {r.id: self.store.races(r.id) for r in rows}

    def task_means(self, row: Candidate, races: Sequence[RaceResult] | None = None) -> dict[str, TaskMean]:
        """Each task's validation measure of ``row``: the mean over its first training and its raced seeds' (``races``:
        its stored ones, where read already), with the spread; a task whose quality hurdle stopped it counts no
        seed."""
        trainings = [row.outcome.scores, *(r.scores for r in self._raced(row, races))]
        out = {}
        for task, metric in self.metrics.items():
            values = [
                v
                for scores in trainings
                if task in scores and not scores[task].stopped and (v := scores[task].validation(metric)) is not None
            ]
            out[task] = TaskMean(
                metric,
                statistics.fmean(values) if values else None,
                statistics.stdev(values) if len(values) > 1 else None,
                len(values),
            )
        return out

    def candidate(self, cid: int) -> Candidate:
        """One candidate by id; a ``KeyError`` naming the run when there is none."""
        row = self.store.candidate(cid)
        if row is None:
            raise KeyError(f"{self.path}: no candidate with id {cid}")
        return row

    def __repr__(self) -> str:
        # as `evoact runs` and overview() count: the proposed candidates, baselines not among them
        return (
            f"{type(self).__name__}({str(self.path)!r}, state={self.state.value!r}, candidates={self.store.proposed()})"
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """``with evoact.open_run(path) as run:`` closes the run at the end of the block."""
        self.close()


def read_run(path: str | Path) -> RunReader:
    """Open a run directory for reading; safe while its search is still running."""
    return RunReader(RunStore.open(path))


def list_runs(folder: str | Path) -> tuple[list[tuple[RunReader, RunOverview]], list[str]]:
    """Every run directly inside ``folder`` with its overview, oldest first, and a line for each run directory that
    could not be read (one damaged or crafted run hides no other). The caller closes the readers."""
    listed, unreadable = [], []
    for path in listed_runs(Path(folder)):
        name = path.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        try:
            path.name.encode("utf-8")
        except UnicodeEncodeError:
            unreadable.append(f"{name}: the folder's name is not UTF-8 text; rename it to list it")
            continue
        run = None
        try:
            run = read_run(path)
            listed.append((run, run.overview()))
        except (RunStoreError, SearchSpaceError, RecordError, sqlite3.DatabaseError, ValueError, TypeError, KeyError,
                AttributeError, OverflowError, OSError) as exc:  # fmt: skip
            if run is not None:
                run.close()
            unreadable.append(f"{name}: {' '.join(str(exc).split())[:200]}")
    for link in linked_runs(Path(folder)):
        name = link.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        unreadable.append(f"{name}: a link to a run elsewhere; a run is listed in the folder that holds it")
    listed.sort(key=lambda pair: pair[0].started_at or 0)
    return listed, unreadable
