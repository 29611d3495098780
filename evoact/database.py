"""What the run store and the fitness cache share about SQLite: one transaction for many writes."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Commit what is written inside at once: one disk sync for many rows. Inside another transaction it is part of
    that one. Each write is a whole row, so an interruption (Ctrl-C) still commits those written before it."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
