"""A run directory on disk: the writer lock and what it says, which folders hold runs, where nothing is written."""

import os
import sqlite3
from pathlib import Path

import pytest

from evoact.run_files import (
    CONFIRM,
    DB_FILE,
    SEARCH,
    RunStoreError,
    check_target,
    linked_runs,
    listed_runs,
    take_lock,
    writer,
    writer_active,
)


def _run(path: Path) -> Path:
    path.mkdir(parents=True)
    sqlite3.connect(path / DB_FILE).execute("CREATE TABLE meta (key TEXT)").connection.close()
    return path


def test_the_lock_says_who_holds_it_and_refuses_a_second_writer(tmp_path: Path) -> None:
    run = _run(tmp_path / "r")
    assert writer(run) is None and not writer_active(run)
    fd = take_lock(run, CONFIRM)
    try:
        assert writer(run) == CONFIRM and writer_active(run)
        with pytest.raises(RunStoreError, match=r"being written by another evoact process \(evoact confirm\)"):
            take_lock(run, SEARCH)
    finally:
        os.close(fd)
    assert writer(run) is None  # the lock goes with its holder
    os.close(take_lock(run, SEARCH))


def test_a_lock_file_linked_to_another_file_is_refused(tmp_path: Path) -> None:
    run = _run(tmp_path / "r")
    (tmp_path / "precious.txt").write_text("keep me\n")
    os.link(tmp_path / "precious.txt", run / ".writer.lock")
    with pytest.raises(RunStoreError, match="not a lock file evoact wrote"):
        take_lock(run)
    assert (tmp_path / "precious.txt").read_text() == "keep me\n"


def test_a_folder_lists_its_own_runs_and_names_links_apart(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    b, a = _run(folder / "b"), _run(folder / "a")
    _run(folder / ".hidden")
    (folder / "empty").mkdir()
    (folder / "notes.txt").write_text("x")
    elsewhere = _run(tmp_path / "elsewhere")
    (folder / "link").symlink_to(elsewhere)
    assert listed_runs(folder) == [a, b]
    assert linked_runs(folder) == [folder / "link"]
    assert listed_runs(tmp_path / "missing") == [] == linked_runs(tmp_path / "missing")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("r/config.json", "a run directory's own file"),
        ("r/.writer.lock", "a run directory's own file"),
        ("r/checkpoints/0.json", "a run directory's own file"),
        ("r/candidates.db-wal", "a run directory's own file"),
        ("cache.db-wal", "the name of a database's log"),
        ("cache.db", "holds saved results"),
        ("r", "a folder"),
        ("nowhere/x.py", "no such folder"),
        ("link.py", "a symbolic link"),
        ("notes.txt", r"exists and is not a \.py file"),
    ],
)
def test_check_target_refuses_what_would_lose_saved_work(tmp_path: Path, name: str, says: str) -> None:
    run = _run(tmp_path / "r")
    (run / "checkpoints").mkdir()
    sqlite3.connect(tmp_path / "cache.db").execute("CREATE TABLE t (a)").connection.close()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "link.py").symlink_to(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=says):
        check_target(tmp_path / name, (".py",))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_check_target_lets_a_new_file_or_one_of_its_kind_be_written(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text("# an earlier export\n")
    check_target(tmp_path / "new.py", (".py",))
    check_target(tmp_path / "old.py", (".py",))
