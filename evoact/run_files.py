"""A run directory on disk: its files' names, the writer lock and what it says, which folders hold runs, and where
nothing may be written over them."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from evoact.checkpoint import CHECKPOINT_DIR

CONFIG_FILE = "config.json"
DB_FILE = "candidates.db"
#: Where run directories go unless the user names another folder.
RUNS_ROOT = Path("runs")
LOCK_FILE = ".writer.lock"


class RunStoreError(RuntimeError):
    """A run directory is missing, not a run, or cannot be written where asked."""


#: A run directory's own entries: name -> kind.
_OWN = {
    CONFIG_FILE: "file",
    DB_FILE: "file",
    f"{DB_FILE}-wal": "file",
    f"{DB_FILE}-shm": "file",
    f"{DB_FILE}-journal": "file",
    LOCK_FILE: "file",
    CHECKPOINT_DIR: "folder",
}


def closed_box(path: Path) -> None:
    """Refuse a run directory whose own files are links or not regular files: through them, reading, writing or
    pruning the run would reach files outside it."""
    for name, kind in _OWN.items():
        entry = path / name
        if entry.is_symlink():
            raise RunStoreError(f"{entry}: a symbolic link; a run directory's files must be its own")
        if entry.exists() and not (entry.is_dir() if kind == "folder" else entry.is_file()):
            raise RunStoreError(f"{entry}: not a regular {kind}")


#: What a writer is doing, as its lock file says: a search or a resume writes candidates, a confirmation trainings.
SEARCH: Final = "search"
RESUME: Final = "resume"
CONFIRM: Final = "confirm"
Role = Literal["search", "resume", "confirm"]


def take_lock(path: Path, role: Role = SEARCH) -> int:
    """Hold ``path``'s writer lock for this process's lifetime (the OS drops it if the process dies); the file says
    the ``role`` and the process, for whoever finds it held."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise RunStoreError(f"{path / LOCK_FILE}: cannot be opened as the run's lock file ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > 64:  # it is written: only its own
        os.close(fd)
        raise RunStoreError(f"{path / LOCK_FILE}: not a lock file evoact wrote (a link to another file, or too long)")
    for _ in range(20):  # a reader looking (``writer_active``) holds it shared for an instant: wait that out
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            time.sleep(0.025)
            continue
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{role} {os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise RunStoreError(f"{path / LOCK_FILE}: cannot be written ({exc.strerror})") from None
        return fd
    os.close(fd)
    doing = f" (evoact {holder})" if (holder := writer(path)) else ""
    raise RunStoreError(f"{path} is being written by another evoact process{doing}; wait for it or stop it first")


def is_run_directory(path: Path) -> bool:
    """Whether ``path`` holds a run (its database): what every listing and check of runs asks."""
    return (path / DB_FILE).is_file()


def listed_runs(folder: Path) -> list[Path]:
    """The runs directly in ``folder``, by name, as ``runs`` and the dashboard list them (``is_listed_run``)."""
    return _entries(folder, is_listed_run)


def linked_runs(folder: Path) -> list[Path]:
    """The links in ``folder`` to runs elsewhere, which its listing leaves out (a run is listed where it is)."""
    return _entries(folder, lambda p: not p.name.startswith(".") and p.is_symlink() and is_run_directory(p))


def _entries(folder: Path, keep: Callable[[Path], bool]) -> list[Path]:
    """What ``folder`` holds that ``keep`` keeps, by name (an ``OSError`` where the folder cannot be read; an entry
    that cannot be looked at is not kept)."""
    if not folder.is_dir():
        return []
    kept = []
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            if keep(path):
                kept.append(path)
    return sorted(kept)


def is_listed_run(path: Path) -> bool:
    """Whether ``path`` is a run a folder's listing shows: not hidden, not reached through a link, holding a run (a
    name the system refuses, such as one too long, is none)."""
    try:
        return not path.name.startswith(".") and not path.is_symlink() and path.is_dir() and is_run_directory(path)
    except OSError:
        return False


def some_folders(path: Path, limit: int = 1000) -> list[Path]:
    """At most ``limit`` of the folders in ``path`` (a folder of many files is not read to its end for a hint)."""
    try:
        return [p for p in itertools.islice(path.iterdir(), limit) if p.is_dir()]
    except OSError:
        return []


def writer_active(path: Path) -> bool:
    """Whether a process holds ``path``'s writer lock now (a search or confirmation writing it)."""
    return writer(path) is not None


def writer(path: Path) -> str | None:
    """What the process holding ``path``'s writer lock does (``SEARCH``, ``RESUME``, ``CONFIRM``, or "" where its lock
    file does not say, as an older evoact's does not); None where none holds it."""
    try:  # non-blocking: a named pipe in a received run directory must not hang whoever looks
        fd = os.open(path / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        said = os.pread(fd, 64, 0).decode("ascii", "replace").split(maxsplit=1)
        return said[0] if said and said[0] in (SEARCH, RESUME, CONFIRM) else ""
    finally:
        os.close(fd)  # closing also releases the shared lock taken to look
    return None


#: The first bytes of every SQLite database: a run's, the shared fitness cache, anyone's.
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_target(path: Path, suffixes: tuple[str, ...] = ()) -> None:
    """A one-line ``ValueError``, before anything is written, where writing a file at ``path`` (an export, a report,
    a plot) would lose what is saved or cannot succeed: a folder, a missing folder, one of a run directory's own files
    (its config, database, logs, writer lock or checkpoints), any SQLite database or its log, a symbolic link or
    anything but a regular file, or with ``suffixes``, an existing file of another kind."""
    if path.is_symlink():  # a link in a received run directory may point at any file
        raise ValueError(f"{path}: a symbolic link; nothing was written through it (give another name)")
    if path.is_dir():
        raise ValueError(f"{path}: a folder; give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: no such folder")
    if (path.name in _OWN and is_run_directory(path.parent)) or (
        path.parent.name == CHECKPOINT_DIR and is_run_directory(path.parent.parent)
    ):
        raise ValueError(f"{path}: a run directory's own file; nothing was written (give another name)")
    logged = [path.parent / path.name[: -len(end)] for end in ("-wal", "-shm", "-journal") if path.name.endswith(end)]
    if any(_database(d) for d in logged):  # SQLite takes (or deletes) a file of that name, whether it exists yet or not
        raise ValueError(f"{path}: the name of a database's log (SQLite's own file); nothing was written")
    if not path.exists():
        return
    if not path.is_file():  # a named pipe would block the write, a device take it
        raise ValueError(f"{path}: not a regular file; nothing was written (give another name)")
    if _database(path):
        raise ValueError(f"{path} holds saved results (a database or its log); nothing was written")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(
            f"{path} exists and is not a {'/'.join(suffixes)} file; nothing was written (give another name)"
        )


def _database(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts as every SQLite database does."""
    if not path.is_file():
        return False
    with contextlib.suppress(OSError), path.open("rb") as file:
        return file.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    return False
