"""The functional-equivalence cache: outcomes per (training protocol, fingerprint), shared by the runs of a folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoact.database import transaction

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
"""
#: Columns added since the first schema (a cache written before them gains them when it is opened): the number of
#: evaluations in ``fitness_sum``, each task's relative score summed over the ``scores_n`` evaluations that gave it,
#: and the protocol's family (the protocol but for the training seed: what the surrogate may learn from)
_ADDED = {"scored": "INTEGER", "scores_sum": "TEXT", "scores_n": "INTEGER", "family": "TEXT"}


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


_COLUMNS = "status, evaluations, fitness_sum, scored, reason, formula, source, scores_sum, scores_n"


def _outcome(row: tuple[Any, ...]) -> Outcome:
    status, n, total, scored, reason, formula, source, scores_sum, scores_n = row
    scores = tuple(v / scores_n for v in json.loads(scores_sum)) if scores_sum and scores_n else None
    return Outcome(status, n, total / scored if total is not None and scored else None, reason, formula, source, scores)


class FitnessCache:
    """SQLite store of outcomes; fitness is the mean over the evaluations made so far."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        with self.transaction():  # one process adds the new columns; the others find them there
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(outcomes)")}
            for column, kind in _ADDED.items():
                if column not in have:
                    self._conn.execute(f"ALTER TABLE outcomes ADD COLUMN {column} {kind}")
            if "scored" not in have:  # before the column, every evaluation of an 'ok' function counted in the mean
                self._conn.execute("UPDATE outcomes SET scored = evaluations WHERE fitness_sum IS NOT NULL")
            self._conn.execute("CREATE INDEX IF NOT EXISTS outcomes_family ON outcomes (family)")

    def get(self, protocol: str, fp: str) -> Outcome | None:
        """The outcome recorded for a fingerprint, if any."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM outcomes WHERE protocol=? AND fingerprint=?", (protocol, fp)
        ).fetchone()
        return None if row is None else _outcome(row)

    def known(self, family: str) -> list[Outcome]:
        """Every outcome recorded under a protocol of ``family`` (any training seed), oldest first."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM outcomes WHERE family=? ORDER BY rowid", (family,))
        return [_outcome(row) for row in rows]

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
    ) -> None:
        """Record one evaluation: fitness values (and relative ``scores``) accumulate while every evaluation is 'ok';
        the first outcome's status is kept, and a later rejection or failure counts as an evaluation without a
        fitness. ``family``: the protocol's key without the training seed (``known``)."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT status, scores_sum, scores_n FROM outcomes WHERE protocol=? AND fingerprint=?", (protocol, fp)
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO outcomes (protocol, fingerprint, status, evaluations, fitness_sum, scored, reason,"
                    " formula, source, scores_sum, scores_n, family) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        protocol,
                        fp,
                        status,
                        fitness,
                        int(fitness is not None),
                        reason,
                        formula,
                        source,
                        json.dumps(list(scores)) if scores else None,
                        1 if scores else 0,
                        family,
                    ),
                )
                return
            counts = row[0] == "ok" and status == "ok"
            summed, n = row[1], row[2] or 0
            if counts and scores:
                before = json.loads(summed) if summed else None
                if before is None or len(before) == len(scores):
                    summed = json.dumps([a + b for a, b in zip(before or [0.0] * len(scores), scores)])
                    n += 1
            self._conn.execute(
                "UPDATE outcomes SET evaluations = evaluations + 1, fitness_sum = CASE WHEN ? THEN"
                " COALESCE(fitness_sum, 0) + ? ELSE fitness_sum END, scored = COALESCE(scored, 0) + ?,"
                " scores_sum = ?, scores_n = ? WHERE protocol=? AND fingerprint=?",
                (
                    counts and fitness is not None,
                    fitness,
                    int(counts and fitness is not None),
                    summed,
                    n,
                    protocol,
                    fp,
                ),
            )

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """What is recorded inside commits at once (``database.transaction``)."""
        return transaction(self._conn)

    def close(self) -> None:
        """Close the database."""
        self._conn.close()
