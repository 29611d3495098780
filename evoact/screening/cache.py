"""The functional-equivalence cache: outcomes per (training protocol, fingerprint), shared by the runs of a folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
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


class FitnessCache:
    """SQLite store of outcomes; fitness is the mean over the evaluations made so far."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    def get(self, protocol: str, fp: str) -> Outcome | None:
        """The outcome recorded for a fingerprint, if any."""
        row = self._conn.execute(
            "SELECT status, evaluations, fitness_sum, reason, formula, source FROM outcomes"
            " WHERE protocol=? AND fingerprint=?",
            (protocol, fp),
        ).fetchone()
        if row is None:
            return None
        status, n, total, reason, formula, source = row
        return Outcome(status, n, total / n if total is not None and n else None, reason, formula, source)

    def add(
        self, protocol: str, fp: str, status: str, fitness: float | None, reason: str | None, formula: str, source: str
    ) -> None:
        """Record one evaluation: fitness values accumulate; a rejection or failure is kept as the outcome."""
        self._conn.execute(
            "INSERT INTO outcomes VALUES (?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(protocol, fingerprint) DO UPDATE SET"
            " evaluations = evaluations + 1, fitness_sum = CASE WHEN excluded.status = 'ok' AND status = 'ok'"
            " THEN fitness_sum + excluded.fitness_sum ELSE fitness_sum END",
            (protocol, fp, status, fitness, reason, formula, source),
        )

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """What is recorded inside commits at once (``database.transaction``)."""
        return transaction(self._conn)

    def close(self) -> None:
        """Close the database."""
        self._conn.close()
