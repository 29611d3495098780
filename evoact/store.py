"""The run directory: the exact config as JSON and every candidate in an SQLite database (no pickle)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from evoact.commands import resume_command, show_command
from evoact.database import connect, transaction
from evoact.records import (
    STATUSES,
    Candidate,
    ConfirmationTraining,
    Outcome,
    RaceResult,
    RunState,
    finite_number,
)
from evoact.run_facts import edited_settings, setting_digests, unfit_fact
from evoact.run_files import (
    CONFIG_FILE,
    DB_FILE,
    RUNS_ROOT,
    SEARCH,
    Role,
    RunStoreError,
    closed_box,
    is_run_directory,
    some_folders,
    take_lock,
    writer_active,
)

SCHEMA_VERSION = 5
#: Older versions this evoact still reads (and upgrades when it writes them).
READABLE_VERSIONS = (2, 3, 4, 5)

_SCHEMA = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE candidates (
    id INTEGER PRIMARY KEY,
    formula TEXT NOT NULL,
    genome TEXT,
    label TEXT,
    generation INTEGER,
    parents TEXT NOT NULL DEFAULT '[]',
    origin TEXT NOT NULL,
    nodes INTEGER,
    status TEXT NOT NULL DEFAULT 'pending',
    fitness REAL,
    val_acc REAL,
    test_acc REAL,
    train_seconds REAL,
    seconds REAL,
    learned TEXT,
    error TEXT,
    duplicate_of INTEGER REFERENCES candidates(id),
    equivalent_to TEXT,
    stage TEXT,
    fingerprint TEXT,
    probe_acc REAL,
    scores TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    raced_fitness REAL,
    raced_std REAL,
    raced_seeds INTEGER NOT NULL DEFAULT 1,
    raced_failed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX candidates_formula ON candidates(formula);
"""
    + """
CREATE TABLE IF NOT EXISTS confirmations (
    formula TEXT NOT NULL,
    name TEXT NOT NULL,
    task TEXT NOT NULL,
    seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    status TEXT NOT NULL,
    val_acc REAL,
    test_acc REAL,
    learned TEXT,
    error TEXT,
    finished_at REAL NOT NULL,
    test_loss REAL,
    revision TEXT,
    PRIMARY KEY (formula, task, seed, epochs)
);
"""
    + """
CREATE TABLE IF NOT EXISTS races (
    candidate INTEGER NOT NULL REFERENCES candidates(id),
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    fitness REAL,
    seconds REAL,
    error TEXT,
    source TEXT,
    finished_at REAL NOT NULL,
    PRIMARY KEY (candidate, seed)
);
CREATE TABLE IF NOT EXISTS race_scores (
    candidate INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    scores TEXT,
    learned TEXT,
    PRIMARY KEY (candidate, seed)
);
"""
)
_CONFIRMATIONS = _SCHEMA[
    _SCHEMA.index("CREATE TABLE IF NOT EXISTS confirmations") : _SCHEMA.index("CREATE TABLE IF NOT EXISTS races")
]
_RACES = _SCHEMA[
    _SCHEMA.index("CREATE TABLE IF NOT EXISTS races") : _SCHEMA.index("CREATE TABLE IF NOT EXISTS race_scores")
]
_RACE_SCORES = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS race_scores") :]


def _quoted(key: object) -> str:
    """A stored key, quoted and cut short for an error message."""
    return repr(str(key)[:40])


def no_fitness(store: RunStore) -> str:
    """That no evolved candidate has a fitness: "yet" for a run still going or to be resumed; a finished run found
    none (every candidate rejected or failed, or a space with nothing to propose)."""
    finished = store.meta().get("state") == RunState.FINISHED
    return "no evolved candidate has a fitness" + (" (the run finished without one)" if finished else " yet")


def _immutable(path: Path) -> str:
    """``&immutable=1`` for a run in a folder this process cannot write (an archive, a read-only mount) whose database
    was closed cleanly (no write-ahead log left) and that no process writes now: SQLite would otherwise need to create
    its shared-memory file there. A run with a log left, or a writer, is read as usual, which needs that file to exist
    already."""
    if os.access(path, os.W_OK) or writer_active(path):
        return ""
    return "&immutable=1" if _log_bytes(path) == 0 else ""


def _unopenable(path: Path) -> bool:
    """A run SQLite cannot open where it lies: a folder this process cannot write, holding the log of a database not
    closed cleanly (a copy of a killed run on a read-only mount) but not the shared-memory file that reading the log
    needs, which SQLite would have to create there."""
    return (
        not os.access(path, os.W_OK)
        and _log_bytes(path) > 0
        and not (path / f"{DB_FILE}-shm").exists()
        and not writer_active(path)
    )


def _log_bytes(path: Path) -> int:
    """The size of the run's write-ahead log: 0 where it has none, or none is left by the time it is looked at (a
    writer closing the database removes it at any moment)."""
    try:
        info = (path / f"{DB_FILE}-wal").stat()
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _snapshot(path: Path) -> sqlite3.Connection:
    """The run's database with its log, read from a private copy into memory (the copy is removed at once)."""
    try:
        with tempfile.TemporaryDirectory(prefix="evoact-read-") as folder:
            for name in (DB_FILE, f"{DB_FILE}-wal"):
                shutil.copyfile(path / name, Path(folder) / name)
            source = sqlite3.connect(Path(folder) / DB_FILE)
            try:
                memory = sqlite3.connect(":memory:", isolation_level=None)
                source.backup(memory)
            finally:
                source.close()
    except (OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise RunStoreError(
            f"{path}: a run left with its log ({DB_FILE}-wal) in a folder this process cannot write is read from a"
            f" copy, and none could be made in {tempfile.gettempdir()} ({reason}); set TMPDIR to a folder with room"
        ) from None
    return memory


def _tasks_of(path: Path) -> list[str]:
    """The task names the run at ``path`` says it trains (none where its config cannot say): for a hint only, so a
    config that is no small regular file (a named pipe would hang the read) is not read."""
    config = path / CONFIG_FILE
    try:
        if not config.is_file() or config.is_symlink() or config.stat().st_size > 1_000_000:
            return []
        tasks = json.loads(config.read_text(encoding="utf-8"))["config"]["tasks"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [t for t in tasks if isinstance(t, str)] if isinstance(tasks, list) else []


def _writer(path: Path) -> sqlite3.Connection:
    conn = connect(path / DB_FILE)
    conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    conn.execute("PRAGMA synchronous=FULL")  # a committed row survives an OS crash, as the checkpoints after it do
    return conn


class _Closed:
    """Where a closed store's connection was: closing again does nothing, anything else says the run was closed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self) -> None:
        """Closed already."""

    def __getattr__(self, name: str) -> Any:
        raise RunStoreError(f"{self.path}: this run was closed; open it again to read it (evoact.open_run)")


class RunStore:
    """One run directory. The search is its only writer; readers open it read-only."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: int | None = None) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock
        self._known_columns: set[str] | None = None
        self._read: tuple[int, dict[tuple[str, tuple], list[Candidate]]] = (-1, {})

    @staticmethod
    def check_new(path: Path) -> None:
        """Refuse ``path`` for a new run where it holds one already (or is a file)."""
        if (path / CONFIG_FILE).exists() and not (path / DB_FILE).exists():  # no run evoact made: it makes both at once
            raise RunStoreError(
                f"{path} holds a {CONFIG_FILE} but no {DB_FILE}, so it is no run evoact can open (nothing was"
                " overwritten); choose another --name"
            )
        if (path / DB_FILE).exists() or (path.exists() and not path.is_dir()):
            later = (
                "another evoact process is writing it now"
                if path.is_dir() and writer_active(path)
                else f"an unfinished one continues with `{resume_command(path, _tasks_of(path))}`"
            )
            raise RunStoreError(
                f"{path} already holds a run (nothing was overwritten); choose another --name, or see it with"
                f" `{show_command(path)}` ({later})"
            )

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> RunStore:
        """Create a new run directory; refuses one that already holds a run.

        The directory is made whole under a temporary name and renamed into place, so a crash or a refused start
        never leaves a half-made run, and a reader never sees one.
        """
        path = Path(path)
        cls.check_new(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent))
        except OSError as exc:  # a read-only or missing folder: named, not the temporary name tried in it
            raise RunStoreError(
                f"{path.parent}: a run directory cannot be made there ({exc.strerror or type(exc).__name__})"
            ) from None
        lock: int | None = None
        try:
            lock = take_lock(building)
            (building / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            conn = _writer(building)
            try:
                conn.executescript(_SCHEMA)
                facts = (
                    ("schema_version", SCHEMA_VERSION),
                    ("state", RunState.RUNNING),
                    ("started_at", time.time()),
                    ("started_config", setting_digests(config)),  # what a later edit of config.json is told from
                )
                for key, value in facts:
                    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
            finally:
                conn.close()
            os.chmod(building, 0o755)
            try:
                os.rename(building, path)  # atomic; replaces only an empty directory
            except OSError:
                raise RunStoreError(
                    f"{path} exists and is not empty; choose another --name (nothing was overwritten)"
                ) from None
        except BaseException as exc:
            if lock is not None:
                os.close(lock)
            shutil.rmtree(building, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:  # nothing was saved, so nothing to resume
                raise RunStoreError(
                    f"{path.parent}: the disk is full; no run was made (free space, then start it again)"
                ) from None
            raise
        return cls._holding(path, lock)

    @classmethod
    def _holding(cls, path: Path, lock: int) -> RunStore:
        """The writer of ``path``, whose lock this process holds; the lock is let go where no writer opens."""
        try:
            return cls(path, _writer(path), lock)
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def reopen(cls, path: str | Path, role: Role = SEARCH) -> RunStore:
        """Open a run for writing again, to resume it (``RESUME``) or confirm it (``CONFIRM``); refuses while another
        process writes it."""
        path = Path(path)
        cls.open(path).close()  # the same checks as a reader
        store = cls._holding(path, take_lock(path, role))
        try:
            try:
                damage = [row[0] for row in store._conn.execute("PRAGMA quick_check(3)")]
            except sqlite3.DatabaseError as exc:
                damage = [str(exc)]
            if damage != ["ok"]:  # a damaged file is left as it is: writing into it would mix new rows with the damage
                found = " ".join("; ".join(damage).split())[:200]
                raise RunStoreError(
                    f"{path / DB_FILE}: fails SQLite's integrity check ({found}); nothing was written (restore it from"
                    " a copy, or read what it holds with evoact show)"
                )
            try:
                store._upgrade()
            except sqlite3.Error as exc:
                raise RunStoreError(
                    f"{path / DB_FILE}: cannot be brought to this evoact's version ({' '.join(str(exc).split())[:200]})"
                ) from None
        except BaseException:
            store.close()  # a failed reopen lets the next one in (a caller of the Python API may try again)
            raise
        return store

    def _upgrade(self) -> None:
        """Bring an older run to this version: version 3 added a ``scores`` column and the confirmations table,
        version 4 the confirmations' ``test_loss``, version 5 racing (the raced columns and the races table). The
        confirmations' task ``revision`` (a nullable column earlier versions' readers and writers pass over) and the
        raced seeds' per-task scores (a table of their own, ``race_scores``, which they do not read) came later within
        version 5: each is added where it is missing."""
        version = self.meta().get("schema_version")
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(confirmations)")}
        has_race_scores = self._has("race_scores")
        race_learned = "learned" in self._columns_of("race_scores")
        if version == SCHEMA_VERSION and (not columns or "revision" in columns) and has_race_scores and race_learned:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        if version == SCHEMA_VERSION and not has_race_scores:
            self._conn.execute(_RACE_SCORES)
        elif has_race_scores and not race_learned:  # as the first evoact with the table wrote it
            self._conn.execute("ALTER TABLE race_scores ADD COLUMN learned TEXT")
        if version == 2:
            self._conn.execute("ALTER TABLE candidates ADD COLUMN scores TEXT")
            self._conn.execute(_CONFIRMATIONS)
        elif version == 3:
            self._conn.execute("ALTER TABLE confirmations ADD COLUMN test_loss REAL")
        if columns and "revision" not in columns:
            self._conn.execute("ALTER TABLE confirmations ADD COLUMN revision TEXT")
        if version in (2, 3, 4):
            for column in (
                "raced_fitness REAL",
                "raced_std REAL",
                "raced_seeds INTEGER NOT NULL DEFAULT 1",
                "raced_failed INTEGER NOT NULL DEFAULT 0",
            ):
                self._conn.execute(f"ALTER TABLE candidates ADD COLUMN {column}")
            self._conn.execute(_RACES)
            self._conn.execute(_RACE_SCORES)
        self.set_meta("schema_version", SCHEMA_VERSION)
        self._conn.execute("COMMIT")

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        """Open an existing run read-only; safe while the search is still writing it."""
        path = Path(path)
        db = path / DB_FILE
        if not path.is_dir():
            beside = RUNS_ROOT / path if not path.is_absolute() else None
            hint = f" (did you mean {beside}?)" if beside is not None and is_run_directory(beside) else ""
            if path.exists():
                raise RunStoreError(f"{path}: a file, not a run directory{hint}")
            raise RunStoreError(f"{path}: no such run directory{hint}")
        closed_box(path)
        if not db.is_file():
            holds_runs = any(is_run_directory(p) for p in some_folders(path))
            raise RunStoreError(
                f"{path}: not an evoact run directory (no {DB_FILE})"
                + (f"; it holds runs: evoact runs {path} lists them" if holds_runs else "")
            )
        if _unopenable(path):
            conn = _snapshot(path)
        else:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro{_immutable(path)}", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        store = cls(path, conn)
        try:
            return store._checked()
        except BaseException:
            conn.close()
            raise

    def _checked(self) -> RunStore:
        """This newly opened store, if it holds a run this version reads; a ``RunStoreError`` saying why not."""
        path, conn, store = self.path, self._conn, self
        db = path / DB_FILE
        try:
            # evoact writes tables and indexes only: a view or trigger in a received file could compute without end
            odd = conn.execute("SELECT name FROM sqlite_master WHERE type NOT IN ('table', 'index') LIMIT 1").fetchone()
            if odd:
                raise RunStoreError(f"{db}: holds {str(odd[0])[:40]!r}, which is not a table or index evoact wrote")
            version = store.meta().get("schema_version")
        except sqlite3.DatabaseError as exc:
            raise RunStoreError(f"{db}: not a readable run database ({exc})") from None
        if version not in READABLE_VERSIONS:
            raise RunStoreError(
                f"{db}: run format version {version!r}, this evoact reads versions"
                f" {', '.join(map(str, READABLE_VERSIONS))}"
            )
        try:
            config = store.config()
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"{path / CONFIG_FILE}: missing or not valid JSON ({exc})") from None
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
            raise RunStoreError(f"{path / CONFIG_FILE}: not an evoact run config")
        return store

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """What is written inside commits at once (``database.transaction``)."""
        return transaction(self._conn)

    def close(self) -> None:
        """Close the database connection and let another writer in; reading the closed run is then a
        ``RunStoreError`` that says so (sqlite's own is "Cannot operate on a closed database")."""
        self._conn.close()
        self._conn = cast(sqlite3.Connection, _Closed(self.path))
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock, 0)  # an older evoact taking it next writes no role: none is left there
            os.close(self._lock)  # releases the flock
            self._lock = None

    # --- meta and config ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The exact configuration the run was started with."""
        return json.loads((self.path / CONFIG_FILE).read_text(encoding="utf-8"))

    def set_meta(self, key: str, value: Any) -> None:
        """Record one run-level fact (state, timings, counters) as JSON."""
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def edited_settings(self) -> list[str]:
        """The settings of the run's config.json that differ from those it started with (none for a run made before
        evoact recorded them)."""
        return edited_settings(self.meta().get("started_config"), self.config())

    def meta(self) -> dict[str, Any]:
        """All run-level facts, each checked against what evoact writes there (a run directory is not trusted)."""
        out = {}
        for key, text in self._conn.execute("SELECT key, value FROM meta"):
            try:
                value = json.loads(text)
            except (TypeError, ValueError):
                raise RunStoreError(f"{self.path / DB_FILE}: the run fact {_quoted(key)} is not valid JSON") from None
            if what := unfit_fact(key, value):
                raise RunStoreError(
                    f"{self.path / DB_FILE}: the run fact {_quoted(key)} is {str(value)[:40]!r}, not {what}"
                )
            out[key] = value
        return out

    # --- candidates ---------------------------------------------------------------------
    def add_candidate(
        self,
        formula: str,
        origin: str,
        *,
        genome: str | None = None,
        label: str | None = None,
        generation: int | None = None,
        parents: tuple[int, ...] = (),
        nodes: int | None = None,
    ) -> int:
        """Register a proposed candidate as pending and return its id."""
        cur = self._conn.execute(
            "INSERT INTO candidates (formula, genome, label, generation, parents, origin, nodes, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (formula, genome, label, generation, json.dumps(list(parents)), origin, nodes, time.time()),
        )
        assert cur.lastrowid is not None  # set by the INSERT
        return int(cur.lastrowid)

    def record_result(self, cid: int, result: Outcome | dict[str, Any]) -> None:
        """Store a finished evaluation, rejection or reuse; committed at once so that nothing finished is lost."""
        o = result if isinstance(result, Outcome) else Outcome.from_plain(result)
        plain = o.row()  # every field in its JSON form
        self._conn.execute(
            "UPDATE candidates SET status=?, fitness=?, val_acc=?, test_acc=?, train_seconds=?, seconds=?,"
            " learned=?, error=?, duplicate_of=?, equivalent_to=?, stage=?, probe_acc=?, scores=?, finished_at=?"
            " WHERE id=?",
            (
                o.status,
                o.fitness,
                o.val_acc,
                o.test_acc,
                o.train_seconds,
                o.seconds,
                json.dumps(plain["learned"]),
                o.error,
                o.duplicate_of,
                o.equivalent_to,
                o.stage,
                o.probe_acc,
                json.dumps(plain["scores"]) if o.scores else None,
                time.time(),
                cid,
            ),
        )

    def retry(self, cids: list[int]) -> None:
        """Set failed candidates back to pending, their outcome cleared, to be evaluated again."""
        self._conn.executemany(
            "UPDATE candidates SET status='pending', fitness=NULL, val_acc=NULL, test_acc=NULL, train_seconds=NULL,"
            " seconds=NULL, learned=NULL, error=NULL, duplicate_of=NULL, equivalent_to=NULL, stage=NULL,"
            " probe_acc=NULL, scores=NULL, finished_at=NULL WHERE id=? AND status='failed'",
            [(cid,) for cid in cids],
        )

    def set_fitness(self, cid: int, fitness: float | None) -> None:
        """Replace a finished candidate's fitness (a baseline's, once the multi-task references are known)."""
        self._conn.execute("UPDATE candidates SET fitness=? WHERE id=?", (fitness, cid))

    def set_fingerprint(self, cid: int, fingerprint: str) -> None:
        """Record a candidate's functional fingerprint (stage 2 key)."""
        self._conn.execute("UPDATE candidates SET fingerprint=? WHERE id=?", (fingerprint, cid))

    def evaluated(self, formula: str) -> Candidate | None:
        """The first finished evaluation of exactly this formula, if any."""
        rows = self._select("WHERE formula=? AND status IN ('ok', 'failed') ORDER BY id LIMIT 1", (formula,))
        return rows[0] if rows else None

    def candidates_with_fingerprint(self, fingerprint: str) -> list[Candidate]:
        """Candidates of this run with the given functional fingerprint, in id order."""
        return self._select("WHERE fingerprint=? ORDER BY id", (fingerprint,))

    def candidate(self, cid: int) -> Candidate | None:
        """One candidate by id (None for an id no SQLite row can have: past 64 bits, not an integer)."""
        if not isinstance(cid, int) or isinstance(cid, bool) or not -(2**63) <= cid < 2**63:
            return None
        rows = self._select("WHERE id=?", (cid,))
        return rows[0] if rows else None

    def candidates(self, status: str | None = None) -> list[Candidate]:
        """All candidates (optionally of one status) in id order."""
        return self._select("WHERE status=? ORDER BY id", (status,)) if status else self._select("ORDER BY id", ())

    def sessions(self) -> list[tuple[float, float | None]]:
        """The run's sessions (a search, then each resume) as [start, end] times, end None where a session was killed
        without a word; a run from before sessions were recorded had one, from its start to its last recorded end."""
        meta = self.meta()
        if "sessions" in meta:
            return [(start, end) for start, end in meta["sessions"]]
        if "started_at" not in meta:
            return []
        start, end = meta["started_at"], meta.get("finished_at")
        return [(start, end if end is not None and end >= start else None)]

    def result_times(self) -> list[float]:
        """When each stored result (a candidate's outcome, a raced seed's) was written, in order: where a session
        killed without a word ended."""
        has_races = self._has("races")
        races = "UNION ALL SELECT finished_at FROM races" if has_races else ""
        cur = self._conn.execute(f"SELECT finished_at FROM candidates {races}")
        return sorted(t for (t,) in cur if finite_number(t))

    def baselines(self) -> list[Candidate]:
        """The baselines, in id order."""
        return self._select("WHERE label IS NOT NULL ORDER BY id", ())

    def ranked(self) -> list[Candidate]:
        """Candidates and baselines with a fitness, best first (ties: earlier id), one row per function; a raced
        candidate ranks by its mean over its seeds, and one that failed on a raced seed below all that did not.

        A cache hit on another run's result counts (its fitness is that function's mean); a duplicate of a
        candidate in this run does not, since its original is already ranked.
        """
        columns = self._columns()
        order = "COALESCE(raced_fitness, fitness) DESC" if "raced_fitness" in columns else "fitness DESC"
        if "raced_failed" in columns:
            order = f"raced_failed > 0, {order}"
        return self._select(
            "WHERE status IN ('ok', 'duplicate') AND fitness IS NOT NULL AND duplicate_of IS NULL"
            f" ORDER BY {order}, id ASC",
            (),
        )

    def _columns(self) -> set[str]:
        """The candidate table's columns (runs before version 5 have no raced ones: they were never raced), read once:
        only ``_upgrade`` changes them, before anything is ranked."""
        if self._known_columns is None:
            self._known_columns = {row[1] for row in self._conn.execute("PRAGMA table_info(candidates)")}
        return self._known_columns

    def hall_of_fame(self, size: int = 10) -> list[Candidate]:
        """The best evolved (non-baseline) candidates."""
        return [r for r in self.ranked() if r.label is None][:size]

    def proposed(self) -> int:
        """How many candidates the search proposed (every row but the baselines)."""
        return self._conn.execute("SELECT COUNT(*) FROM candidates WHERE label IS NULL").fetchone()[0]

    def counts(self) -> dict[str, int]:
        """How many candidates are in each status, baselines included."""
        counts = dict.fromkeys(STATUSES, 0)
        counts.update(dict(self._conn.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status")))
        return counts

    def _select(self, where: str, args: tuple) -> list[Candidate]:
        """Candidates matching ``where``; a reader parses each answer once until another connection commits (SQLite's
        ``data_version``), so pages that read a 10,000-candidate run several times read it once."""
        if self._lock is None:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._read[0]:
                self._read = (version, {})
            if (where, args) in self._read[1]:
                return list(self._read[1][where, args])
        try:
            cur = self._conn.execute(f"SELECT * FROM candidates {where}", args)
            names = [c[0] for c in cur.description]
            found = cur.fetchall()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, busy, out of memory: not the file's damage
                raise
            raise RunStoreError(f"{self.path / DB_FILE}: not a readable run database ({exc})") from None
        rows = [self._parsed(dict(zip(names, values))) for values in found]
        if self._lock is None:
            self._read[1][where, args] = rows
        return list(rows)

    def _parsed(self, row: dict[str, Any]) -> Candidate:
        """A stored row as a record; a damaged one named by its id and database (one row of thousands is at fault)."""
        try:
            return _candidate(row)
        except (ValueError, TypeError) as exc:  # a RecordError, or JSON that does not parse
            said = str(exc).removeprefix(f"candidate #{row.get('id')}: ")
            raise RunStoreError(f"{self.path / DB_FILE}: candidate #{row.get('id')}: {said}") from None

    # --- racing -------------------------------------------------------------------------
    def add_race(self, result: RaceResult) -> None:
        """Store one extra-seed training of a candidate, and its per-task scores, committed at once."""
        key = (result.candidate, result.seed)
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO races (candidate, seed, status, fitness, seconds, error, source, finished_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, result.status, result.fitness, result.seconds, result.error, result.source, time.time()),
            )
            if result.scores or result.learned:
                plain = result.plain()
                self._conn.execute(
                    "INSERT OR REPLACE INTO race_scores (candidate, seed, scores, learned) VALUES (?, ?, ?, ?)",
                    (*key, json.dumps(plain.get("scores", {})), json.dumps(plain.get("learned", {}))),
                )
            else:
                self._conn.execute("DELETE FROM race_scores WHERE candidate=? AND seed=?", key)

    def _has(self, table: str) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (table,)).fetchone() is not None

    def _columns_of(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def races(self, cid: int | None = None) -> list[RaceResult]:
        """The stored extra-seed trainings, of one candidate or of all, with their per-task scores (none for a run
        made before racing; no scores where a seed was reused from the fitness cache, which gives its constants'
        trained values where it holds them, or stored before they were)."""
        if not self._has("races"):
            return []
        where, args = ("WHERE r.candidate=?", (cid,)) if cid is not None else ("", ())
        join = "LEFT JOIN race_scores s ON s.candidate = r.candidate AND s.seed = r.seed"
        columns = self._columns_of("race_scores")  # none before the table was; no learned in its first form
        picked = ", ".join(f"s.{c}" if c in columns else f"NULL AS {c}" for c in ("scores", "learned"))
        scores = (picked, join if columns else "")
        cur = self._conn.execute(
            f"SELECT r.*, {scores[0]} FROM races r {scores[1]} {where} ORDER BY r.candidate, r.seed", args
        )
        names = [c[0] for c in cur.description]
        out = []
        for values in cur.fetchall():
            row = dict(zip(names, values))
            try:
                row["scores"] = json.loads(row.get("scores") or "{}")
                row["learned"] = json.loads(row.get("learned") or "{}")
                out.append(RaceResult.from_plain(row))
            except ValueError as exc:  # a RecordError too
                what = (
                    "per-task scores or constants are not JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
                )
                raise RunStoreError(
                    f"{self.path / DB_FILE}: race of candidate #{row.get('candidate')} seed {row.get('seed')}: {what}"
                ) from None
        return out

    def set_raced(self, cid: int, mean: float | None, std: float | None, seeds: int, failed: int) -> None:
        """Record a candidate's fitness over its raced seeds: the mean, its spread, how many seeds trained and how
        many failed."""
        self._conn.execute(
            "UPDATE candidates SET raced_fitness=?, raced_std=?, raced_seeds=?, raced_failed=? WHERE id=?",
            (mean, std, seeds, failed, cid),
        )

    # --- confirmation -------------------------------------------------------------------
    def confirmation(self, formula: str, task: str, seed: int, epochs: float) -> ConfirmationTraining | None:
        """A stored confirmation training, if this one was already done."""
        rows = self.confirmations("WHERE formula=? AND task=? AND seed=? AND epochs=?", (formula, task, seed, epochs))
        return rows[0] if rows else None

    def confirmations(self, where: str = "", args: tuple = ()) -> list[ConfirmationTraining]:
        """Stored confirmation trainings (none for a run that was never confirmed)."""
        if not self._conn.execute("SELECT 1 FROM sqlite_master WHERE name='confirmations'").fetchone():
            return []
        cur = self._conn.execute(f"SELECT * FROM confirmations {where} ORDER BY finished_at", args)
        names = [c[0] for c in cur.description]
        out = []
        for values in cur.fetchall():
            row = dict(zip(names, values))
            try:
                row["learned"] = json.loads(row.get("learned") or "{}")
                out.append(ConfirmationTraining.from_plain(row))
            except ValueError as exc:  # a RecordError too
                what = "learned values are not JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise RunStoreError(f"{self.path / DB_FILE}: a confirmation training's {what}") from None
        return out

    def add_confirmation(self, training: ConfirmationTraining) -> None:
        """Store one confirmation training, stamped with the time it is stored (a copy from another run too),
        committed at once."""
        self._conn.execute(
            "INSERT OR REPLACE INTO confirmations (formula, name, task, seed, epochs, status, val_acc, test_acc,"
            " learned, error, finished_at, test_loss, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                training.formula,
                training.name,
                training.task,
                training.seed,
                training.epochs,
                training.status,
                training.val_acc,
                training.test_acc,
                json.dumps({k: list(v) for k, v in training.learned.items()}),
                training.error,
                time.time(),
                training.test_loss,
                training.revision,
            ),
        )


_CANDIDATE_COLUMNS = (
    "id",
    "formula",
    "origin",
    "genome",
    "label",
    "generation",
    "nodes",
    "fingerprint",
    "created_at",
    "raced_fitness",
    "raced_std",
    "raced_seeds",
    "raced_failed",
)


def _candidate(row: dict[str, Any]) -> Candidate:
    """A stored row as a record."""
    outcome = {k: v for k, v in row.items() if k not in _CANDIDATE_COLUMNS and k != "parents" and v is not None}
    outcome["learned"] = json.loads(outcome.get("learned") or "{}")
    outcome["scores"] = json.loads(outcome.get("scores") or "{}")
    return Candidate(
        **{k: row[k] for k in _CANDIDATE_COLUMNS if k in row},
        parents=tuple(json.loads(row["parents"])),
        outcome=Outcome.from_plain(outcome),
    )
