"""What the run store and the fitness cache share about SQLite: one transaction for many writes."""

from __future__ import annotations

import contextlib
import errno
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class _Connection(sqlite3.Connection):
    """A connection whose full disk is an ``OSError`` naming its file (SQLite's message names neither the file nor
    that it is the disk, not the database, that is full)."""

    def __init__(self, database: str | Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self.path = str(database)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise _full(exc, self.path) from exc

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise _full(exc, self.path) from exc

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(sql_script)
        except sqlite3.OperationalError as exc:
            raise _full(exc, self.path) from exc


#: Free bytes under which SQLite's I/O error on a write is taken for a full disk: on a full tmpfs, growing the log or
#: its shared-memory file fails as an I/O error, not as SQLITE_FULL.
NEARLY_FULL = 1 << 20


def _full(exc: sqlite3.OperationalError, path: str) -> Exception:
    code = exc.sqlite_errorcode & 0xFF
    if code != sqlite3.SQLITE_FULL and not (code == sqlite3.SQLITE_IOERR and _free(Path(path).parent) < NEARLY_FULL):
        return exc
    return OSError(errno.ENOSPC, "the disk is full (what was saved before is kept: free space, then resume)", path)


def _free(folder: Path) -> int:
    """Free bytes on the disk of ``folder`` (unknown: as if plenty)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL


def connect(path: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """A connection for writing, in autocommit mode (``transaction`` groups writes)."""
    return sqlite3.connect(path, isolation_level=None, factory=_Connection, **kwargs)


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
        if conn.in_transaction:  # SQLite itself rolls back on some errors (a full disk)
            try:
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        raise
    if conn.in_transaction:  # not if SQLite rolled back on an error the block caught
        conn.execute("COMMIT")
