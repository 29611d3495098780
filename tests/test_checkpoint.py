import hashlib
import json
import subprocess
import sys

import pytest

from evoact.checkpoint import CHECKPOINT_DIR, KEEP, CheckpointError, read_checkpoint, write_checkpoint
from evoact.config import make_config
from evoact.evolution import Evolution
from evoact.genome import Genome, load_search_space


def test_the_newest_checkpoint_is_read_back_and_old_ones_pruned(tmp_path):
    for generation in range(5):
        write_checkpoint(tmp_path, generation, {"generation": generation + 1, "rng": [3, [1, 2], None]})
    names = sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir())
    assert names == [f"gen-{g:05d}.json" for g in range(5 - KEEP, 5)]
    checkpoint = read_checkpoint(tmp_path)
    assert (
        checkpoint.generation == 4
        and checkpoint.state == {"generation": 5, "rng": [3, [1, 2], None]}
        and not checkpoint.skipped
    )
    assert read_checkpoint(tmp_path / "elsewhere") is None


def test_a_damaged_checkpoint_is_skipped_for_the_previous_good_one(tmp_path):
    for generation in range(3):
        write_checkpoint(tmp_path, generation, {"generation": generation + 1})
    folder = tmp_path / CHECKPOINT_DIR
    text = (folder / "gen-00002.json").read_text()
    (folder / "gen-00002.json").write_text(text[: len(text) // 2])  # truncated
    edited = json.loads((folder / "gen-00001.json").read_text())
    edited["state"]["generation"] = 99
    (folder / "gen-00001.json").write_text(json.dumps(edited))  # valid JSON, wrong checksum
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint.generation == 0 and checkpoint.state == {"generation": 1}
    assert [s.split(":")[0] for s in checkpoint.skipped] == ["gen-00002.json", "gen-00001.json"]
    assert "unreadable" in checkpoint.skipped[0] and "checksum mismatch" in checkpoint.skipped[1]
    (folder / "gen-00000.json").write_bytes(b"\x00\xff")
    nothing_left = read_checkpoint(tmp_path)
    assert nothing_left.generation == -1 and len(nothing_left.skipped) == 3


def test_a_process_killed_while_writing_leaves_the_previous_checkpoint_intact(tmp_path):
    write_checkpoint(tmp_path, 0, {"generation": 1})
    big = (
        "import sys; from evoact.checkpoint import write_checkpoint;"
        " write_checkpoint(__import__('pathlib').Path(sys.argv[1]), 1, {'seen': ['x' * 64] * 3_000_000})"
    )
    proc = subprocess.Popen([sys.executable, "-c", big, str(tmp_path)])
    folder = tmp_path / CHECKPOINT_DIR
    while not list(folder.glob(".evoact-*.tmp")) and proc.poll() is None:
        pass
    proc.kill()
    proc.wait()
    checkpoint = read_checkpoint(tmp_path)
    assert list(folder.glob(".evoact-*.tmp")), "the writer finished before it could be killed; the test proves nothing"
    assert checkpoint.generation == 0 and checkpoint.state == {"generation": 1}
    write_checkpoint(tmp_path, 1, {"generation": 2})  # the next writer clears what the killed one left
    assert not list(folder.glob(".evoact-*.tmp"))


def test_writing_an_earlier_generation_replaces_a_damaged_future(tmp_path):
    for generation in (5, 6, 7):
        write_checkpoint(tmp_path, generation, {"generation": generation + 1})
        (tmp_path / CHECKPOINT_DIR / f"gen-{generation:05d}.json").write_text("{")
    assert read_checkpoint(tmp_path).generation == -1  # all damaged: the resumed run starts over
    write_checkpoint(tmp_path, 0, {"generation": 1})
    assert sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir()) == ["gen-00000.json"]
    assert read_checkpoint(tmp_path).generation == 0


def _signed(folder, generation, state):
    """A checkpoint file as an attacker would write it: intact, correctly checksummed, with any content."""
    digest = hashlib.sha256(json.dumps(state, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    (folder / f"gen-{generation:05d}.json").write_text(
        json.dumps({"format": 1, "generation": generation, "sha256": digest, "state": state})
    )


def test_a_checkpoint_whose_content_does_not_fit_the_run_is_skipped_with_its_reason(tmp_path):
    config = make_config("tiny", seed=1)
    algorithm = Evolution(Genome(load_search_space("default")), config.evolution, 1)
    algorithm.ask(config.evolution.population)
    good = algorithm.state()
    write_checkpoint(tmp_path, 0, good)
    folder = tmp_path / CHECKPOINT_DIR
    hostile = {
        1: {**good, "generation": 10**9},
        2: {**good, "population": [{"id": 1, "tree": "x", "fitness": 0.5}] * (config.evolution.population + 1)},
        3: {**good, "population": [{"id": -4, "tree": "x", "fitness": 0.5}]},
        4: {**good, "population": [{"id": 1, "tree": "__import__('os')", "fitness": 0.5}]},
        5: {**good, "population": [{"id": 1, "tree": "x", "fitness": float("nan")}]},
        6: {**good, "rng": [3, [1, 2], None]},
        7: {**good, "seeded": 10**6},
        8: [1, 2, 3],
    }
    for generation, state in hostile.items():
        _signed(folder, generation, state)
    checkpoint = read_checkpoint(tmp_path, lambda generation, state: algorithm.state_problem(state, config.generations))
    assert checkpoint.generation == 0 and checkpoint.state == good
    reasons = dict(s.split(": ", 1) for s in checkpoint.skipped)
    assert len(reasons) == len(hostile) and all(reasons.values())
    assert "generation 1000000000 is not within 0..2" in reasons["gen-00001.json"]
    assert "at most 6 members" in reasons["gen-00002.json"] and "random-number state" in reasons["gen-00006.json"]
    assert "unexpected character" in reasons["gen-00004.json"] or "unknown" in reasons["gen-00004.json"]


def test_checkpoint_links_are_never_followed_read_or_pruned(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "gen-00000.json").write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT_DIR).symlink_to(outside)
    with pytest.raises(CheckpointError, match="not a plain folder"):
        write_checkpoint(run, 5, {"generation": 6})
    with pytest.raises(CheckpointError, match="not a plain folder"):
        read_checkpoint(run)
    (run / CHECKPOINT_DIR).unlink()
    folder = run / CHECKPOINT_DIR
    folder.mkdir()
    (folder / "gen-00000.json").symlink_to(outside / "gen-00000.json")
    for generation in range(1, 6):
        write_checkpoint(run, generation, {"generation": generation + 1})
    assert (outside / "gen-00000.json").read_text() == "precious"  # pruning removed only the run's own files
    checkpoint = read_checkpoint(run)
    assert checkpoint.generation == 5 and checkpoint.skipped == (
        "gen-00000.json: not a regular file (a symbolic link?); ignored",
    )


def test_a_link_planted_as_a_temporary_file_is_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    run = tmp_path / "run"
    (run / CHECKPOINT_DIR).mkdir(parents=True)
    (run / CHECKPOINT_DIR / "gen-00003.json.tmp").symlink_to(victim)  # the name earlier versions wrote through
    write_checkpoint(run, 3, {"generation": 4})
    assert victim.read_text() == "precious"
    assert read_checkpoint(run).state == {"generation": 4}
