"""The functional-equivalence cache: outcomes per (training protocol, fingerprint), shared by the runs of a folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoact.database import connect, transaction
from evoact.formula import check_learned, constant_names, parse
from evoact.records import Status, finite_number
from evoact.terminal import shorten

CACHE_FILE = "fitness_cache.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    protocol TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    evaluations INTEGER NOT NULL,
    fitness_sum REAL,
    reason TEXT,
    formula TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (protocol, fingerprint)
);
-- beside ``outcomes`` (whose columns stay as the first versions wrote them, so that they go on writing): how many
-- evaluations ``fitness_sum`` holds, each task's relative score summed over the ``scores_n`` evaluations that gave it,
-- and the protocol's family (the protocol but for the training seed: what the surrogate may learn from)
CREATE TABLE IF NOT EXISTS details (
    protocol TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    family TEXT,
    scored INTEGER NOT NULL,
    scores_sum TEXT,
    scores_n INTEGER NOT NULL,
    PRIMARY KEY (protocol, fingerprint)
);
CREATE INDEX IF NOT EXISTS details_family ON details (family);
-- the learnable constants' trained values (every layer of every task) of a training of exactly ``formula``: what a
-- reuse of its outcome exports (an equivalent formula's constants may mean something else)
CREATE TABLE IF NOT EXISTS learned (
    protocol TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    formula TEXT NOT NULL,
    learned TEXT NOT NULL,
    PRIMARY KEY (protocol, fingerprint, formula)
);
"""


def protocol_key(task: str | dict[str, Any], training: dict[str, Any]) -> str:
    """Outcomes are shared only between evaluations with the same task (or tasks and weighting) and training
    protocol."""
    return hashlib.sha256(json.dumps({"task": task, "training": training}, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Outcome:
    """What evaluating a function (any member of its equivalence class) gave so far."""

    status: str
    evaluations: int
    fitness: float | None
    reason: str | None
    formula: str
    source: str
    #: each task's score relative to the best baseline's, the mean over the evaluations that recorded them (what the
    #: surrogate learns from); None where none did
    scores: tuple[float, ...] | None = None


_SELECT = (
    "SELECT o.status, o.evaluations, o.fitness_sum, d.scored, o.reason, o.formula, o.source, d.scores_sum, d.scores_n"
    " FROM outcomes o LEFT JOIN details d ON d.protocol = o.protocol AND d.fingerprint = o.fingerprint"
)


def _scored(scored: int | None, evaluations: int, total: float | None) -> int:
    """How many evaluations ``fitness_sum`` holds; a version before ``details`` counted every evaluation."""
    if scored is not None:
        return scored
    return evaluations if total is not None else 0


#: The statuses an entry records: a training's outcome or a rejection.
_STATUSES = frozenset({Status.OK, Status.REJECTED, Status.FAILED})


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _outcome(row: tuple[Any, ...], path: Path) -> Outcome:
    """An entry as read, checked: the cache is a shared file, and a column holds whatever was put in it."""
    status, n, total, scored, reason, formula, source, scores_sum, scores_n = row
    try:
        scores = tuple(v / scores_n for v in json.loads(scores_sum)) if scores_sum and scores_n else None
        sound = (
            status in _STATUSES
            and _count(n)
            and (total is None or finite_number(total))
            and (scored is None or _count(scored))
            and all(isinstance(t, str) for t in (formula, source))
            and (reason is None or isinstance(reason, str))
            and (scores is None or all(finite_number(v) for v in scores))
        )
    except (TypeError, ValueError, ZeroDivisionError, RecursionError):  # JSON that is no list of numbers
        sound = False
    if not sound:
        raise CacheError(
            f"the fitness cache {path} holds an entry evoact did not write ({shorten(repr(row), 120)}): move it"
            " aside (a new one starts empty; the runs themselves keep every result), or start a search with --no-cache"
        )
    scored = _scored(scored, n, total)
    return Outcome(status, n, total / scored if total is not None and scored else None, reason, formula, source, scores)


class CacheError(ValueError):
    """The fitness cache's file is damaged or not a cache."""


def _unusable(path: Path, exc: sqlite3.Error) -> CacheError:
    return CacheError(
        f"cannot use the fitness cache {path} ({exc}): make it a writable file or move it aside (the runs themselves"
        " keep every result), or start a search with --no-cache"
    )


class FitnessCache:
    """SQLite store of outcomes; fitness is the mean over the evaluations that gave one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from None
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
            damage = self._conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                self._conn.close()
                raise _unusable(self.path, exc) from None
            damage = str(exc)
        if damage != "ok":
            self._conn.close()
            raise CacheError(
                f"the fitness cache {self.path} is damaged or not a cache ({damage}): move it aside (a new one starts"
                " empty; the runs themselves keep every result), or start a search with --no-cache"
            )

    def get(self, protocol: str, fp: str) -> Outcome | None:
        """The outcome recorded for a fingerprint, if any."""
        row = self._conn.execute(f"{_SELECT} WHERE o.protocol=? AND o.fingerprint=?", (protocol, fp)).fetchone()
        return None if row is None else _outcome(row, self.path)

    def learned(self, protocol: str, fp: str, formula: str) -> dict[str, tuple[float, ...]]:
        """The constants' trained values the last training of exactly ``formula`` recorded; none where none did, or
        where the shared file holds anything but the formula's constants with bounded lists of finite numbers."""
        row = self._conn.execute(
            "SELECT learned FROM learned WHERE protocol=? AND fingerprint=? AND formula=?", (protocol, fp, formula)
        ).fetchone()
        if row is None:
            return {}
        try:
            names = tuple(constant_names(parse(formula)))
            values = json.loads(row[0])
            if not isinstance(values, dict) or not set(values) <= set(names):
                return {}
            return {k: tuple(v) for k, v in check_learned(values, names).items()}
        except (ValueError, TypeError, OverflowError, RecursionError):  # a FormulaError too
            return {}

    def known(self, family: str) -> list[Outcome]:
        """Every outcome recorded under a protocol of ``family`` (any training seed), oldest first."""
        rows = self._conn.execute(f"{_SELECT} WHERE d.family=? ORDER BY o.rowid", (family,))
        return [_outcome(row, self.path) for row in rows]

    def add(
        self,
        protocol: str,
        fp: str,
        status: str,
        fitness: float | None,
        reason: str | None,
        formula: str,
        source: str,
        scores: Sequence[float] | None = None,
        family: str | None = None,
        learned: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        """Record one evaluation: fitness values (and relative ``scores``) accumulate while every evaluation is 'ok';
        the first outcome's status is kept, and a later rejection or failure counts as an evaluation without a
        fitness. ``family``: the protocol's key without the training seed (``known``); ``learned``: the constants'
        trained values, kept for ``formula`` itself."""
        key = (protocol, fp)
        with self.transaction():
            if learned:
                self._conn.execute(
                    "INSERT OR REPLACE INTO learned VALUES (?, ?, ?, ?)",
                    (*key, formula, json.dumps({k: list(v) for k, v in learned.items()})),
                )
            row = self._conn.execute(
                "SELECT o.status, o.evaluations, o.fitness_sum, d.scored, d.scores_sum, d.scores_n FROM outcomes o"
                " LEFT JOIN details d ON d.protocol = o.protocol AND d.fingerprint = o.fingerprint"
                " WHERE o.protocol=? AND o.fingerprint=?",
                key,
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO outcomes VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
                    (*key, status, fitness, reason, formula, source),
                )
                scored, summed, n = int(fitness is not None), list(scores) if scores else None, int(bool(scores))
            else:
                before, evaluations, total, scored, summed, n = row
                counts = before == "ok" and status == "ok" and fitness is not None
                scored = _scored(scored, evaluations, total)
                summed, n = (json.loads(summed), n) if summed else (None, 0)
                if counts and scores and (summed is None or len(summed) == len(scores)):
                    summed, n = [a + b for a, b in zip(summed or [0.0] * len(scores), scores)], n + 1
                scored += int(counts)
                self._conn.execute(
                    "UPDATE outcomes SET evaluations = evaluations + 1, fitness_sum = CASE WHEN ? THEN"
                    " COALESCE(fitness_sum, 0) + ? ELSE fitness_sum END WHERE protocol=? AND fingerprint=?",
                    (counts, fitness, *key),
                )
            self._conn.execute(
                "INSERT INTO details VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(protocol, fingerprint) DO UPDATE SET"
                " family = COALESCE(excluded.family, family), scored = excluded.scored,"
                " scores_sum = excluded.scores_sum, scores_n = excluded.scores_n",
                (*key, family, scored, json.dumps(summed) if summed else None, n),
            )

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """What is recorded inside commits at once (``database.transaction``)."""
        return transaction(self._conn)

    def close(self) -> None:
        """Close the database."""
        self._conn.close()
