import contextlib
import errno
import json
import os
import re
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from evoact.records import Candidate, ConfirmationTraining, Outcome, RaceResult, RecordError, TaskScore
from evoact.run_facts import CACHE_PRIOR_LIMIT
from evoact.run_files import DB_FILE, RunStoreError
from evoact.store import SCHEMA_VERSION, RunStore


def _filled(path):
    store = RunStore.create(path, {"config": {"seed": 1}})
    a = store.add_candidate("Max(0, x)", "baseline", label="relu")
    b = store.add_candidate("tanh(x)", "random", genome="tanh(x)", generation=0, nodes=2)
    c = store.add_candidate("x**2", "mutation", genome="square(x)", generation=1, parents=(b,), nodes=2)
    store.record_result(a, {"status": "ok", "fitness": 0.8, "val_acc": 0.8, "test_acc": 0.79})
    store.record_result(
        b, {"status": "ok", "fitness": 0.9, "val_acc": 0.9, "test_acc": 0.88, "learned": {"beta": [1.5]}}
    )
    store.record_result(c, {"status": "failed", "error": "non-finite loss in epoch 1"})
    return store, (a, b, c)


def test_candidates_are_ranked_counted_and_read_back(tmp_path):
    store, (a, b, c) = _filled(tmp_path / "run")
    assert [r.id for r in store.ranked()] == [b, a]
    assert [r.id for r in store.hall_of_fame()] == [b]
    assert store.counts() == {"pending": 0, "ok": 2, "failed": 1, "rejected": 0, "duplicate": 0}
    row = store.candidate(c)
    assert row.parents == (b,) and row.outcome.error == "non-finite loss in epoch 1" and row.generation == 1
    assert store.candidate(b).outcome.learned == {"beta": (1.5,)}
    assert store.evaluated("tanh(x)").id == b and store.evaluated("sin(x)") is None
    assert [r.id for r in store.baselines()] == [a]
    assert store.config() == {"config": {"seed": 1}}


def test_ranking_counts_cache_hits_once_per_function(tmp_path):
    store, (a, b, c) = _filled(tmp_path / "run")
    hit = store.add_candidate("sin(x)", "random", genome="sin(x)", generation=1, nodes=2)
    store.record_result(
        hit, {"status": "duplicate", "stage": "cache", "fitness": 0.95, "equivalent_to": "other #4 sin(x)"}
    )
    again = store.add_candidate("sin(x) + 0", "random", genome="add(sin(x), 0)", generation=1, nodes=4)
    store.record_result(again, {"status": "duplicate", "stage": "cache", "fitness": 0.95, "duplicate_of": hit})
    rejected = store.add_candidate("exp(x)", "random", genome="exp(x)", generation=1, nodes=2)
    store.record_result(
        rejected, {"status": "duplicate", "stage": "cache", "error": "unstable", "equivalent_to": "other #5"}
    )
    assert [r.id for r in store.ranked()] == [hit, b, a]


def test_reader_sees_committed_rows_while_writer_is_open_and_cannot_write(tmp_path):
    writer, _ = _filled(tmp_path / "run")
    reader = RunStore.open(tmp_path / "run")
    assert reader.counts()["ok"] == 2
    writer.record_result(writer.add_candidate("sin(x)", "random"), {"status": "ok", "fitness": 0.5})
    assert reader.counts()["ok"] == 3
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.set_meta("state", "tampered")


def test_existing_run_is_never_overwritten(tmp_path):
    store, _ = _filled(tmp_path / "run")
    with pytest.raises(RunStoreError, match=r"already holds a run .*\(another evoact process is writing it now\)"):
        RunStore.create(tmp_path / "run", {})  # not sent to resume a run that is running
    store.close()
    with pytest.raises(RunStoreError, match="already holds a run .* continues with `evoact resume"):
        RunStore.create(tmp_path / "run", {})
    assert RunStore.open(tmp_path / "run").counts()["ok"] == 2
    (tmp_path / "partial").mkdir()  # a config.json alone: sent to `show`, which said it is no run
    (tmp_path / "partial" / "config.json").write_text("{}")
    with pytest.raises(RunStoreError, match=r"partial holds a config.json but no candidates.db, so it is no run"):
        RunStore.create(tmp_path / "partial", {})
    assert (tmp_path / "partial" / "config.json").read_text() == "{}"


def test_broken_run_directories_get_clear_errors(tmp_path):
    with pytest.raises(RunStoreError, match="no such run directory"):
        RunStore.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunStoreError, match="not an evoact run directory"):
        RunStore.open(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / DB_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunStoreError, match="not a readable run database"):
        RunStore.open(tmp_path / "junk")
    store, _ = _filled(tmp_path / "noconfig")
    (tmp_path / "noconfig" / "config.json").unlink()
    with pytest.raises(RunStoreError, match="config.json: missing or not valid JSON"):
        RunStore.open(tmp_path / "noconfig")
    store, _ = _filled(tmp_path / "badconfig")
    (tmp_path / "badconfig" / "config.json").write_text("{truncated")
    with pytest.raises(RunStoreError, match="config.json: missing or not valid JSON"):
        RunStore.open(tmp_path / "badconfig")
    store, _ = _filled(tmp_path / "future")
    store.set_meta("schema_version", 99)
    with pytest.raises(RunStoreError, match="run format version 99"):
        RunStore.open(tmp_path / "future")


def test_only_one_writer_at_a_time_and_a_finished_writer_lets_the_next_in(tmp_path):
    writer, _ = _filled(tmp_path / "run")
    with pytest.raises(RunStoreError, match="being written by another evoact process"):
        RunStore.reopen(tmp_path / "run")
    RunStore.open(tmp_path / "run").close()  # readers need no lock
    writer.close()
    again = RunStore.reopen(tmp_path / "run")
    again.record_result(again.add_candidate("sin(x)", "random"), {"status": "ok", "fitness": 0.5})
    again.close()
    assert RunStore.open(tmp_path / "run").counts()["ok"] == 3


@pytest.mark.parametrize("name", ["config.json", ".writer.lock", "checkpoints", DB_FILE])
def test_a_run_directory_is_a_closed_box_links_inside_are_refused(tmp_path, name):
    store, _ = _filled(tmp_path / "run")
    store.close()
    run, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    target = outside / name
    if (run / name).exists():
        (run / name).rename(target)
    elif name == "checkpoints":
        target.mkdir()
    else:
        target.write_text("")
    (run / name).symlink_to(target)
    for opening in (RunStore.open, RunStore.reopen):
        with pytest.raises(RunStoreError, match=f"{name}: a symbolic link; a run directory's files must be its own"):
            opening(run)
    assert sorted(p.name for p in outside.iterdir()) == [name]  # nothing was made or removed outside the run


def test_a_lock_file_that_is_a_link_is_never_followed(tmp_path):
    store, _ = _filled(tmp_path / "run")
    store.close()
    (tmp_path / "run" / ".writer.lock").unlink()
    (tmp_path / "run" / ".writer.lock").symlink_to(tmp_path / "created-outside")  # a dangling link
    with pytest.raises(RunStoreError, match="symbolic link"):
        RunStore.reopen(tmp_path / "run")
    assert not (tmp_path / "created-outside").exists()


def test_a_database_holding_views_or_a_special_journal_file_is_refused(tmp_path):
    store, _ = _filled(tmp_path / "run")
    store.close()
    with sqlite3.connect(tmp_path / "run" / DB_FILE) as db:  # a view could compute without end when read
        db.execute(
            "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n"
        )
    with pytest.raises(RunStoreError, match="'endless', which is not a table or index evoact wrote"):
        RunStore.open(tmp_path / "run")
    store, _ = _filled(tmp_path / "fifo")
    store.close()
    os.mkfifo(tmp_path / "fifo" / f"{DB_FILE}-journal")  # reading through it would block for ever
    with pytest.raises(RunStoreError, match="journal: not a regular file"):
        RunStore.open(tmp_path / "fifo")


def test_a_transaction_commits_many_writes_at_once_nested_ones_join_it_and_an_interruption_keeps_what_was_written(
    tmp_path,
):
    store = RunStore.create(tmp_path / "run", {"config": {"seed": 1}})
    reader = RunStore.open(tmp_path / "run")
    with store.transaction():
        a = store.add_candidate("tanh(x)", "random", generation=0)
        with store.transaction():  # part of the outer one
            b = store.add_candidate("sin(x)", "random", generation=0)
        assert reader.candidates() == []  # nothing committed before the outer one ends
    assert [r.id for r in reader.candidates()] == [a, b]
    with pytest.raises(KeyboardInterrupt):
        with store.transaction():
            store.record_result(a, {"status": "ok", "fitness": 0.5, "val_acc": 0.5})
            raise KeyboardInterrupt
    assert reader.candidate(a).status == "ok"


def test_a_candidate_that_failed_a_raced_seed_ranks_below_every_one_that_did_not(tmp_path):
    store = RunStore.create(tmp_path / "run", {"config": {}})
    steady, flaky, plain = (store.add_candidate(f, "random") for f in ("tanh(x)", "sin(x)", "x*tanh(x)"))
    for cid, fitness in ((steady, 0.80), (flaky, 0.95), (plain, 0.70)):
        store.record_result(cid, Outcome("ok", fitness=fitness))
    store.set_raced(steady, 0.82, 0.01, 3, 0)
    store.set_raced(flaky, 0.95, None, 1, 2)  # both extra seeds failed: its one good seed must not carry it
    assert [r.id for r in store.ranked()] == [steady, plain, flaky]
    assert store.candidate(flaky).raced_failed == 2


def test_raced_fields_and_race_rows_from_a_damaged_run_are_refused_in_one_line():
    with pytest.raises(RecordError, match="raced_fitness must be a finite number"):
        Candidate(1, "x", "random", raced_fitness=float("inf"))
    with pytest.raises(RecordError, match="raced_seeds must be a count"):
        Candidate(1, "x", "random", raced_seeds="many")
    with pytest.raises(RecordError, match="unknown status 'bogus'"):
        RaceResult(1, 7, "bogus")


def test_a_run_without_confirmation_revisions_is_read_as_it_is_and_gains_them_when_written(tmp_path):
    """Runs confirmed before revisions were recorded: a reader takes them as they are, a writer adds the column (a
    nullable column, so the format's version and earlier evoacts' readers are unchanged)."""
    path = tmp_path / "run"
    store = RunStore.create(path, {"config": {}})
    store.add_confirmation(ConfirmationTraining("relu(x)", "relu", "mnist1d-mlp", 10000, 1, "ok", test_acc=0.5))
    store._conn.execute("ALTER TABLE confirmations DROP COLUMN revision")
    store.close()
    old = RunStore.open(path)
    assert old.confirmation("relu(x)", "mnist1d-mlp", 10000, 1).test_acc == 0.5
    assert old.confirmation("relu(x)", "mnist1d-mlp", 10000, 1).revision is None  # its table has no such column
    old.close()
    upgraded = RunStore.reopen(path)
    assert upgraded.meta()["schema_version"] == SCHEMA_VERSION == 5
    assert upgraded.confirmation("relu(x)", "mnist1d-mlp", 10000, 1).revision is None
    upgraded.add_confirmation(ConfirmationTraining("relu(x)", "relu", "mnist1d-mlp", 10001, 1, "ok", revision="abc"))
    assert upgraded.confirmation("relu(x)", "mnist1d-mlp", 10001, 1).revision == "abc"
    upgraded.close()


def test_a_surrogate_snapshot_longer_than_any_run_writes_is_refused_in_one_line(tmp_path):
    """The fitness-cache snapshot is data from a run directory: bounded where it is read."""
    store = RunStore.create(tmp_path / "run", {"config": {}})
    store.set_meta("surrogate_cache_prior", [["tanh(x)", None]] * (CACHE_PRIOR_LIMIT + 1))
    with pytest.raises(RunStoreError, match=f"surrogate_cache_prior.*not a list of at most {CACHE_PRIOR_LIMIT}"):
        store.meta()
    store.close()


def test_a_baseline_failures_record_that_evoact_would_not_write_is_refused_in_one_line(tmp_path):
    """A resume appends to this record: a hand-made one that is no list (it raised a TypeError there) is named."""
    store = RunStore.create(tmp_path / "run", {"config": {}})
    store.set_meta("baseline_failures", [[{"label": "relu", "error": "no data"}]])
    assert store.meta()["baseline_failures"][0][0]["label"] == "relu"
    store.set_meta("baseline_failures", 5)
    with pytest.raises(RunStoreError, match="the run fact 'baseline_failures' is '5', not a list of the baselines'"):
        store.meta()
    store.close()


@pytest.mark.parametrize(
    "sessions",
    [[[0, 1e308], [0, 1e308]], [[-5.0, None]], [[1.0, None]] * 100_001, [[1.0]], "x"],
    ids=["far-future", "negative", "too-many", "no-end", "text"],
)
def test_sessions_no_run_writes_are_refused_in_one_line(tmp_path, sessions):
    """A run's sessions make its time (``runs``): from a run directory, so bounded where they are read (summed
    times that overflow, or a list that takes minutes to add up, must not reach the readers)."""
    store = RunStore.create(tmp_path / "run", {"config": {}})
    store.set_meta("sessions", sessions)
    with pytest.raises(RunStoreError, match=r"'sessions' is .*not a list of at most 100,000 \[start, end or null\]"):
        store.meta()
    store.close()


def test_confirmation_trainings_read_back_as_records_and_a_damaged_one_is_named(tmp_path):
    store = RunStore.create(tmp_path / "run", {"config": {}})
    learned = {"beta": (1.5, 2.0)}
    store.add_confirmation(
        ConfirmationTraining("beta*x", "#3", "mnist1d-mlp", 10000, 1, "ok", test_acc=0.5, learned=learned, revision="a")
    )
    read = store.confirmation("beta*x", "mnist1d-mlp", 10000, 1)
    assert isinstance(read, ConfirmationTraining) and read.status == "ok" and read.learned == {"beta": (1.5, 2.0)}
    assert (read.name, read.seed, read.measure("accuracy"), read.measure("loss")) == ("#3", 10000, 0.5, None)
    store.add_confirmation(replace(read, formula="x", name="relu"))  # a copy, as --baselines-from makes
    assert store.confirmation("x", "mnist1d-mlp", 10000, 1).learned == read.learned
    store._conn.execute("UPDATE confirmations SET status = 'bogus' WHERE formula = 'x'")
    db = re.escape(str(tmp_path / "run" / DB_FILE))
    with pytest.raises(RunStoreError, match=f"{db}: a confirmation training's .*unknown status 'bogus'"):
        store.confirmations()
    store._conn.execute("UPDATE confirmations SET status = 'ok', test_acc = 'NaN?' WHERE formula = 'x'")
    with pytest.raises(RunStoreError, match=f"{db}: .*test_acc must be a finite number"):
        store.confirmations()


def test_a_damaged_candidate_row_is_named_by_its_id_and_database(small_run, tmp_path):
    """One row of thousands is at fault: the error says which, where it said only what (adversary review)."""
    import shutil
    import sqlite3

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    with sqlite3.connect(run / DB_FILE) as db:
        db.execute("UPDATE candidates SET fitness = 'abc' WHERE id = 2")
    db_file = re.escape(str(run / DB_FILE))
    with pytest.raises(RunStoreError, match=f"^{db_file}: candidate #2: Outcome.fitness must be a finite number"):
        RunStore.open(run).candidates()
    many = json.dumps({"beta": [1.0] * 10_001})  # past one value per layer of every task: refused where read
    for learned in ('{"beta": ["1.0"]}', '{"beta": [true]}', '{"beta": [1.0, "2"]}', many):  # text or true: no number
        with sqlite3.connect(run / DB_FILE) as db:
            db.execute("UPDATE candidates SET fitness = 0.9, learned = ? WHERE id = 2", (learned,))
        with pytest.raises(RunStoreError, match=f"^{db_file}: candidate #2: learned must map constant names to lists"):
            RunStore.open(run).candidates()


def test_a_run_whose_database_fails_the_integrity_check_is_not_written(small_run, tmp_path):
    """Resume and confirm open a run to write: a damaged page (here: one b-tree page's cell pointers) that reading
    the facts does not reach must still stop them, before a row is added."""
    import shutil
    import sqlite3

    refused = 0
    pages = (small_run / DB_FILE).stat().st_size // 4096
    for page in range(1, pages):
        run = tmp_path / f"page{page}"
        shutil.copytree(small_run, run)
        with sqlite3.connect(run / DB_FILE) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = bytearray((run / DB_FILE).read_bytes())
        data[page * 4096 + 8 : page * 4096 + 16] = b"\xff" * 8
        (run / DB_FILE).write_bytes(bytes(data))
        try:
            RunStore.open(run).close()
            with sqlite3.connect(f"file:{run / DB_FILE}?mode=ro", uri=True) as conn:
                found = conn.execute("PRAGMA quick_check").fetchone()[0] != "ok"
        except (RunStoreError, sqlite3.DatabaseError):
            continue  # damage the reader's own checks already refuse
        if not found:
            continue  # a page SQLite's check does not read (free, or a payload's bytes)
        with pytest.raises(RunStoreError, match="fails SQLite's integrity check.*nothing was written"):
            RunStore.reopen(run)
        assert (run / DB_FILE).read_bytes() == bytes(data)
        refused += 1
    assert refused  # some page's damage is only found by the check


def test_a_cleanly_closed_run_in_a_folder_this_process_cannot_write_is_read_without_writing_there(
    small_run, tmp_path, monkeypatch
):
    """An archived or read-only-mounted run: SQLite must not need to create its shared-memory file beside it."""
    import shutil

    run = tmp_path / "archived"
    shutil.copytree(small_run, run)
    with sqlite3.connect(run / DB_FILE) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for leftover in run.glob(f"{DB_FILE}-*"):
        leftover.unlink()
    expected = [(r.id, r.formula, r.outcome.fitness) for r in RunStore.open(run).candidates()]
    for leftover in run.glob(f"{DB_FILE}-*"):
        leftover.unlink()
    before = sorted(p.name for p in run.iterdir())
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK and Path(p) == run else access(p, mode))
    store = RunStore.open(run)
    assert [(r.id, r.formula, r.outcome.fitness) for r in store.candidates()] == expected
    store.close()
    assert sorted(p.name for p in run.iterdir()) == before  # no -shm or -wal made in the folder
    writer = RunStore.reopen(run)  # its owner writes it again (its log still empty): a reader must see what it adds
    reader = RunStore.open(run)
    added = writer.add_candidate("sin(x)", "random", generation=0)
    assert reader.candidate(added).formula == "sin(x)"
    reader.close()
    writer.close()


def test_a_killed_runs_copy_on_a_read_only_mount_is_read_whole_with_its_log(small_run, tmp_path, monkeypatch):
    """A copy of a run killed mid-write (its database and log, no shared-memory file) in a folder this process cannot
    write: SQLite alone cannot read the log there (it would create the -shm file), and the rows in the log count."""
    import shutil

    live = tmp_path / "live"
    shutil.copytree(small_run, live)
    writer = RunStore.reopen(live)
    added = writer.add_candidate("sin(x)", "random", generation=0)  # committed to the log, not to the database
    archived = tmp_path / "archived"
    archived.mkdir()
    for name in ("config.json", DB_FILE, f"{DB_FILE}-wal"):  # what a copy of the killed run holds
        shutil.copyfile(live / name, archived / name)
    writer.close()
    assert (archived / f"{DB_FILE}-wal").stat().st_size > 0
    before = sorted(p.name for p in archived.iterdir())
    access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if mode == os.W_OK and Path(p) == archived else access(p, mode)
    )
    store = RunStore.open(archived)
    assert store.candidate(added).formula == "sin(x)" and len(store.candidates()) == len(
        RunStore.open(live).candidates()
    )
    store.close()
    assert sorted(p.name for p in archived.iterdir()) == before  # nothing made in the folder
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-room"))  # no copy can be made: said, not "damaged"
    with pytest.raises(RunStoreError, match=r"is read from a copy, and none could be made in .*no-room.*set TMPDIR"):
        RunStore.open(archived)


def test_a_run_that_cannot_be_made_in_its_folder_names_the_folder_not_a_temporary_name(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(RunStoreError, match=rf"^{tmp_path / 'afile'}: a run directory cannot be made there \("):
        RunStore.create(tmp_path / "afile" / "run", {"config": {"seed": 1}})
    if os.geteuid() == 0:  # root writes through permissions: test_driver checks a read-only mount
        return
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(RunStoreError, match=rf"^{locked}: a run directory cannot be made there \(Permission denied\)"):
        RunStore.create(locked / "run", {"config": {"seed": 1}})


def test_a_full_disk_is_named_with_the_database_and_keeps_what_was_saved(tmp_path):
    store = RunStore.create(tmp_path / "run", {"config": {"seed": 1}})
    kept = store.add_candidate("tanh(x)", "random", generation=0)
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own way to run out of room, without a disk
    with pytest.raises(OSError) as caught:
        with store.transaction():
            for _ in range(200):
                store.add_candidate("sin(x)" + " " * 2000, "random", generation=0)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "run" / DB_FILE)
    assert "disk is full" in caught.value.strerror
    store.close()
    assert [r.id for r in RunStore.open(tmp_path / "run").candidates()] == [kept]


def test_a_run_whose_races_lack_per_task_scores_is_read_as_it_is_and_gains_them_when_written(tmp_path):
    """Races stored before their per-task scores were: read with none, and a writer adds the table that holds them.
    The races table itself keeps the columns every earlier evoact of this format reads with ``SELECT *``."""
    path = tmp_path / "run"
    store = RunStore.create(path, {"config": {}})
    cid = store.add_candidate("x*tanh(x)", "random")
    store.add_race(RaceResult(cid, 7, "ok", 0.9))
    columns = [row[1] for row in store._conn.execute("PRAGMA table_info(races)")]
    assert columns == ["candidate", "seed", "status", "fitness", "seconds", "error", "source", "finished_at"]
    store._conn.execute("DROP TABLE race_scores")
    store.close()
    assert RunStore.open(path).races(cid)[0].scores == {}
    upgraded = RunStore.reopen(path)
    upgraded.add_race(RaceResult(cid, 8, "ok", 0.8, scores={"mnist1d-mlp": TaskScore(val_acc=0.8)}))
    assert [r.scores.get("mnist1d-mlp") for r in upgraded.races(cid)] == [None, TaskScore(val_acc=0.8)]
    upgraded.add_race(RaceResult(cid, 8, "failed", error="diverged"))  # trained again: its old scores go
    assert upgraded.races(cid)[1].scores == {}
    upgraded.add_race(RaceResult(cid, 8, "ok", 0.8, scores={"mnist1d-mlp": TaskScore(val_acc=0.8)}))
    upgraded._conn.execute("UPDATE race_scores SET scores='[1]' WHERE seed=8")
    with pytest.raises(RunStoreError, match="race of candidate #1 seed 8: scores must be a mapping"):
        upgraded.races(cid)


def test_raced_scores_stored_before_their_constants_column_are_read_and_the_column_is_added_when_written(tmp_path):
    """The first form of ``race_scores`` had no ``learned`` column: read as it is, and given it by a writer."""
    path = tmp_path / "run"
    store = RunStore.create(path, {"config": {}})
    cid = store.add_candidate("x*tanh(x)", "random")
    store.add_race(RaceResult(cid, 7, "ok", 0.9, scores={"mnist1d-mlp": TaskScore(val_acc=0.9)}))
    store._conn.execute("ALTER TABLE race_scores DROP COLUMN learned")
    store.close()
    assert RunStore.open(path).races(cid)[0].scores == {"mnist1d-mlp": TaskScore(val_acc=0.9)}
    upgraded = RunStore.reopen(path)
    upgraded.add_race(RaceResult(cid, 8, "ok", 0.8, source="cache", learned={"beta": (1.2,)}))
    assert [r.learned for r in upgraded.races(cid)] == [{}, {"beta": (1.2,)}]


@pytest.mark.parametrize("version", [2, 3, 4])
def test_a_run_of_an_earlier_format_is_brought_to_this_one_and_written(tmp_path, small_run, version):
    """Runs of formats 2 to 4 (before racing, before test losses, before confirmations) were read, but no resume or
    confirm could write them: their upgrade ran two statements in one ``execute``, which SQLite refuses."""
    import shutil

    path = tmp_path / "run"
    shutil.copytree(small_run, path)
    with sqlite3.connect(path / DB_FILE) as db:  # as the earlier evoact wrote it
        db.execute("DROP TABLE races")
        db.execute("DROP TABLE race_scores")
        for column in ("raced_fitness", "raced_std", "raced_seeds", "raced_failed"):
            db.execute(f"ALTER TABLE candidates DROP COLUMN {column}")
        if version == 3:
            db.execute("ALTER TABLE confirmations DROP COLUMN test_loss")
            db.execute("ALTER TABLE confirmations DROP COLUMN revision")
        if version == 2:
            db.execute("DROP TABLE confirmations")
            db.execute("ALTER TABLE candidates DROP COLUMN scores")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    before = [(r.id, r.formula, r.outcome.fitness) for r in RunStore.open(path).candidates()]
    store = RunStore.reopen(path)
    try:
        assert store.meta()["schema_version"] == SCHEMA_VERSION
        store.add_race(RaceResult(2, 7, "ok", 0.5, 1.0, scores={"mnist1d-cnn": TaskScore(val_acc=0.5)}))
        store.add_confirmation(ConfirmationTraining("x", "#2", "mnist1d-cnn", 7, 1, "ok", test_loss=0.3))
        assert [(r.candidate, r.seed) for r in store.races()] == [(2, 7)]
        assert store.confirmation("x", "mnist1d-cnn", 7, 1).test_loss == 0.3
        assert [(r.id, r.formula, r.outcome.fitness) for r in store.candidates()] == before
    finally:
        store.close()


def test_the_stored_ranking_is_the_order_of_each_row_s_rank_key(tmp_path):
    """The store orders in SQL, racing and the progress line in Python: one key, ``Candidate.rank_key``, says it."""
    from evoact.hooks import BestSoFar

    store = RunStore.create(tmp_path / "run", {"config": {}})
    raced = {1: (0.7, 0), 2: (0.9, 1), 3: (None, 0), 4: (0.8, 0), 5: (None, 0), 6: (0.95, 2)}  # mean, failed seeds
    for cid, (mean, failed) in raced.items():
        store.add_candidate(f"x*{cid}", "random")
        store.record_result(cid, {"status": "ok", "fitness": 0.8 if cid != 5 else 0.75})
        if mean is not None or failed:
            store.set_raced(cid, mean, None, 3, failed)
    ranked = store.ranked()
    assert [r.id for r in ranked] == [3, 4, 5, 1, 6, 2] == [r.id for r in sorted(ranked, key=lambda r: r.rank_key)]
    best = BestSoFar()
    for row in reversed(ranked):
        best.update(row)
    assert best.best == (0.8, "x*3")  # the tie at 0.8 goes to the earlier id; the failed raced ones never count
    store.close()


def test_a_reopen_that_fails_lets_the_next_one_in(tmp_path):
    """A run whose upgrade fails (here a version-4 run without its confirmations table) is refused with its file
    named, and the failed reopen lets its lock go: a second one says the same, not "being written by another"."""
    path = tmp_path / "run"
    RunStore.create(path, {"config": {"seed": 1}}).close()
    with sqlite3.connect(path / DB_FILE) as db:
        db.execute("DROP TABLE confirmations")
        db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    for _ in range(2):
        with pytest.raises(RunStoreError, match=r"candidates\.db: cannot be brought to this evoact's version \("):
            RunStore.reopen(path)


def test_a_confirmation_holding_a_killed_run_does_not_make_it_running_and_is_named(tmp_path):
    """A run killed mid-search says "running" in its meta; while `confirm` held its lock, readers took the search for
    alive (`evoact runs` said running and counted its time on), and a resume was told its search was running."""
    from evoact.run import read_run
    from evoact.run_files import CONFIRM

    path = tmp_path / "run"
    RunStore.create(path, {"config": {"seed": 1}}).close()  # killed: its last word was "running"
    confirming = RunStore.reopen(path, CONFIRM)
    try:
        assert read_run(path).state == "interrupted"
        with pytest.raises(RunStoreError, match=r"run is being written by another evoact process \(evoact confirm\);"):
            RunStore.reopen(path)
    finally:
        confirming.close()
    searching = RunStore.reopen(path)
    try:
        assert read_run(path).state == "running"
        with pytest.raises(RunStoreError, match=r"another evoact process \(evoact search\); wait"):
            RunStore.reopen(path, CONFIRM)
    finally:
        searching.close()
    assert read_run(path).state == "interrupted"


def test_a_lock_file_that_is_a_hard_link_to_a_runs_own_file_is_refused_not_written(tmp_path):
    """The lock file says who holds it, so it is written: a run directory from elsewhere whose lock file is a hard link
    to its config (or its database) would have had that file overwritten by a resume."""
    path = tmp_path / "run"
    RunStore.create(path, {"config": {"seed": 1}}).close()
    config = (path / "config.json").read_text()
    (path / ".writer.lock").unlink()
    os.link(path / "config.json", path / ".writer.lock")
    with pytest.raises(RunStoreError, match=r"\.writer\.lock: not a lock file evoact wrote \(a link to another file"):
        RunStore.reopen(path)
    assert (path / "config.json").read_text() == config


def test_a_damaged_candidates_table_is_named_by_its_database(small_run, tmp_path):
    """A page of the table overwritten (a disk fault, a bad copy) read as SQLite's bare 'database disk image is
    malformed', naming no file."""
    import random

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    with sqlite3.connect(run / DB_FILE) as conn:
        (page,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'candidates'").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(run / DB_FILE, "r+b") as f:
        f.seek((page - 1) * size + 8)
        f.write(random.Random(0).randbytes(size - 8))
    store = RunStore.open(run)
    with pytest.raises(RunStoreError, match=rf"^{re.escape(str(run / DB_FILE))}: not a readable run database \("):
        store.candidates()


def test_a_run_that_cannot_be_made_leaves_no_folder_and_no_open_file(tmp_path):
    """Each failed start (here a setting JSON cannot hold) kept its lock file's descriptor open: a notebook that
    retried leaked one per try."""

    def open_here() -> list[str]:  # this process's open files under tmp_path (others come and go: Ray's, threads')
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # listdir's own descriptor is closed by now
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return [n for n in names if n.startswith(str(tmp_path))]

    for _ in range(3):
        with pytest.raises(TypeError):
            RunStore.create(tmp_path / "run", {"space": object()})
    assert open_here() == [] and list(tmp_path.iterdir()) == []
    RunStore.create(tmp_path / "run", {"space": "core"}).close()
