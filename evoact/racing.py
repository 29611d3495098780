"""Racing the elite: a candidate that enters the top ``race_top`` trains on further seeds, up to ``race_seeds`` in all,
and ranks by the mean over them (the trusted-winners issue: one seed per task makes a run's #1 partly luck).

Each seed goes through the fitness cache under its own key; every result is stored as it arrives. Decisions use
only what this session has raced, so a resumed run decides on the same facts, in the same order, as the
uninterrupted one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace

from evoact.config import MAX_SEED, SearchConfig, fitness_protocol
from evoact.evaluation import make_job
from evoact.records import Candidate, Outcome, RaceResult, Status
from evoact.screening import FitnessCache
from evoact.store import RunStore
from evoact.workers import WorkerPool

#: Racing seeds are the search's seed plus multiples of this prime (wrapped into the seed range): never the search's.
RACE_SEED_STRIDE = 1_000_003


def race_seed(search_seed: int, index: int) -> int:
    """The training seed of a candidate's ``index``-th extra seed when racing (index 0 is the search's own)."""
    return (search_seed + RACE_SEED_STRIDE * index) % (MAX_SEED + 1)


class Racing:
    """The racing seeds of one search session: which train, what they scored, and each candidate's raced mean.

    ``rows`` is the problem's view of this session's candidates (id -> row as last stored); racing updates the raced
    mean there and in the store, and ``announce``s the row. ``score`` turns an outcome into fitness against the
    run's references.
    """

    def __init__(
        self,
        store: RunStore,
        config: SearchConfig,
        cache: FitnessCache | None,
        rows: dict[int, Candidate],
        score: Callable[[Outcome], float | None],
        params_of: Callable[[Candidate], dict[str, float]],
        announce: Callable[[Candidate], None],
    ) -> None:
        self.store, self.config, self.cache, self.rows = store, config, cache, rows
        self.score, self.params_of, self.announce = score, params_of, announce
        self.tickets: dict[int, tuple[int, int]] = {}  # pool ticket -> (candidate, seed) of a racing training
        self.task_code: dict[str, str] = store.meta().get("task_code") or {}  # the user tasks' code it began with
        self.untrained: tuple[str, ...] = ()  # the baselines that did not train (``fitness_protocol``)
        self._seeds: dict[int, dict[int, float | None]] = {}  # candidate -> seed -> fitness known to this session
        self._protocols: dict[int, str] = {}  # seed -> the fitness cache's key for trainings with that seed
        self._lost: set[tuple[int, int]] = set()  # (candidate, seed) lost to the machinery this session

    def start(self, pool: WorkerPool, rows: list[Candidate]) -> int:
        """Start the seeds that ``rows`` lack, up to ``race_seeds`` in all; a seed already stored (a resumed run) or
        in the fitness cache is taken instead of trained. Returns how many seeds became known or started."""
        busy = set(self.tickets.values())
        changed = 0
        for row in rows:
            stored = {r.seed: r for r in self.store.races(row.id)}
            for index in range(1, self.config.race_seeds):
                seed = race_seed(self.config.seed, index)
                if seed in self._seeds.get(row.id, {}) or (row.id, seed) in busy or (row.id, seed) in self._lost:
                    continue
                changed += 1
                if (known := stored.get(seed)) is not None:  # the hooks heard of it as the run was resumed
                    self._know(known, announce=False)
                    continue
                if (known := self._cached(row, seed)) is not None:
                    self._know(known)
                    continue
                # no screening: the candidate passed the cascade on the search's seed, and a raced seed measures its
                # training alone (the random-network stability check under another seed failed borderline ones)
                job = make_job(
                    row.formula,
                    self.config.tasks,
                    replace(self.config.training, seed=seed),
                    self.params_of(row),
                    data_dir=self.config.data_dir,
                    score=self.config.score,
                    codes=self.task_code,
                )
                self.tickets[pool.submit(job)] = (row.id, seed)
        return changed

    def top(self) -> list[Candidate]:
        """The current top ``race_top`` evolved candidates known to this session, ranked as the store ranks them."""
        ranked = [
            r
            for r in self.rows.values()
            if r.label is None
            and r.status in (Status.OK, Status.DUPLICATE)
            and r.outcome.duplicate_of is None
            and r.outcome.fitness is not None
        ]
        ranked.sort(key=lambda r: r.rank_key)
        return ranked[: self.config.race_top]

    def finished(self, ticket: int, outcome: Outcome) -> None:
        """A racing training finished: its fitness under this seed is stored, cached and counted in the mean. A
        failure of the machinery (a timeout, a lost worker) or of the task itself is not the function's: that seed is
        neither stored nor counted, and is not tried again this session (``lost``: a resume trains it). A seed that
        ran past the timeout or out of memory in an earlier session too fails as the function's (one that is slow or
        large on that seed would otherwise stop every resume): stored, not cached (another machine may have more)."""
        cid, seed = self.tickets.pop(ticket)
        if outcome.exhausted and self._exhausted_before(cid, seed):
            outcome = outcome.with_(error=f"{outcome.error}, in an earlier session too: counted as the function's")
        elif outcome.transient or outcome.task_fault:
            self._lost.add((cid, seed))
            return
        ok = outcome.status == Status.OK
        result = RaceResult(
            cid,
            seed,
            outcome.status,
            self.score(outcome) if ok else None,
            outcome.seconds,
            outcome.error,
            scores=outcome.scores if ok else {},
        )
        row = self.rows[cid]
        self.store.add_race(result)
        if self.cache is not None and row.fingerprint is not None and not outcome.exhausted:
            self.cache.add(
                self._protocol(seed),
                row.fingerprint,
                result.status,
                result.fitness,
                result.error,
                row.formula,
                f"{self.store.path.name} #{cid}",
                learned=outcome.every_layer if ok else None,
            )
        self._know(result)

    def _exhausted_before(self, cid: int, seed: int) -> bool:
        """Whether candidate ``cid``'s ``seed`` ran past the timeout or out of memory in an earlier session; this one is
        recorded."""
        earlier = [(c, s) for c, s in self.store.meta().get("races_exhausted", [])]
        if (cid, seed) in earlier:
            return True
        self.store.set_meta("races_exhausted", sorted([*earlier, (cid, seed)]))
        return False

    @property
    def lost(self) -> int:
        """How many seeds this session lost to the machinery (or the task): the run is not finished without them."""
        return len(self._lost)

    def raced(self, cid: int) -> bool:
        """Whether this session has raced candidate ``cid`` (only then does its stored raced mean count)."""
        return cid in self._seeds

    def remember(self, cid: int) -> None:
        """A resumed run: candidate ``cid``'s stored seeds count as raced by this session, and its raced mean is
        computed from them again (a session killed between storing a seed and its mean left the mean behind)."""
        races = self.store.races(cid)
        for race in races:
            self._seeds.setdefault(cid, {})[race.seed] = race.fitness if race.status == Status.OK else None
        if races:
            self._update(cid, announce=False)

    def _cached(self, row: Candidate, seed: int) -> RaceResult | None:
        """A seed's result from the fitness cache (stored here as this run's race), without training."""
        if self.cache is None or row.fingerprint is None:
            return None
        known = self.cache.get(self._protocol(seed), row.fingerprint)
        if known is None:
            return None
        result = RaceResult(
            row.id,
            seed,
            Status.OK if known.status == Status.OK else Status.FAILED,
            known.fitness if known.status == Status.OK else None,
            0.0,
            known.reason if known.status != Status.OK else None,
            f"{known.source} {known.formula}",
            learned=self.cache.learned(self._protocol(seed), row.fingerprint, row.formula)
            if known.status == Status.OK
            else {},
        )
        self.store.add_race(result)
        return result

    def _protocol(self, seed: int) -> str:
        """The fitness cache's key for a training with ``seed``: racing seeds are cached like a search's own."""
        if seed not in self._protocols:
            # its own key: a racing seed's fitness is scored against this run's references and skips the cascade,
            # so it is shared with this search's racing seeds only, never with a search whose own seed it is
            # ("training only": earlier versions' raced seeds were screened again, and some were rejected)
            main = fitness_protocol(replace(self.config, seed=seed), untrained=self.untrained)
            self._protocols[seed] = f"{main} raced-for-seed-{self.config.seed}, training only"
        return self._protocols[seed]

    def _know(self, result: RaceResult, announce: bool = True) -> None:
        """Count a seed's result in its candidate's raced mean (stored, and used for the next top ``race_top``);
        ``announce``: tell the hooks (not for a seed an earlier session stored: ``resumed`` told them)."""
        self._seeds.setdefault(result.candidate, {})[result.seed] = (
            result.fitness if result.status == Status.OK else None
        )
        self._update(result.candidate, announce)

    def _update(self, cid: int, announce: bool) -> None:
        """Store candidate ``cid``'s raced mean over its first seed and the seeds this session knows."""
        seeds, row = self._seeds[cid], self.rows[cid]
        values = [v for v in (row.outcome.fitness, *seeds.values()) if v is not None]
        failed = sum(v is None for v in seeds.values())
        mean = statistics.fmean(values) if values else None
        std = statistics.stdev(values) if len(values) > 1 else None
        self.store.set_raced(row.id, mean, std, len(values), failed)
        self.rows[row.id] = replace(
            row, raced_fitness=mean, raced_std=std, raced_seeds=len(values), raced_failed=failed
        )
        if announce:
            self.announce(self.rows[row.id])
