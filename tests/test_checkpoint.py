import json
import subprocess
import sys

from evoact.checkpoint import CHECKPOINT_DIR, KEEP, read_checkpoint, write_checkpoint


def test_the_newest_checkpoint_is_read_back_and_old_ones_pruned(tmp_path):
    for generation in range(5):
        write_checkpoint(tmp_path, generation, {"generation": generation + 1, "rng": [3, [1, 2], None]})
    names = sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir())
    assert names == [f"gen-{g:05d}.json" for g in range(5 - KEEP, 5)]
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint.generation == 4 and checkpoint.state == {"generation": 5, "rng": [3, [1, 2], None]} and not checkpoint.skipped
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
    big = "import sys; from evoact.checkpoint import write_checkpoint; write_checkpoint(__import__('pathlib').Path(sys.argv[1]), 1, {'seen': ['x' * 64] * 3_000_000})"
    proc = subprocess.Popen([sys.executable, "-c", big, str(tmp_path)])
    tmp = tmp_path / CHECKPOINT_DIR / "gen-00001.json.tmp"
    while not tmp.exists() and proc.poll() is None:
        pass
    proc.kill()
    proc.wait()
    checkpoint = read_checkpoint(tmp_path)
    assert tmp.exists(), "the writer finished before it could be killed; the test proves nothing"
    assert checkpoint.generation == 0 and checkpoint.state == {"generation": 1}


def test_writing_an_earlier_generation_replaces_a_damaged_future(tmp_path):
    for generation in (5, 6, 7):
        write_checkpoint(tmp_path, generation, {"generation": generation + 1})
        (tmp_path / CHECKPOINT_DIR / f"gen-{generation:05d}.json").write_text("{")
    assert read_checkpoint(tmp_path).generation == -1  # all damaged: the resumed run starts over
    write_checkpoint(tmp_path, 0, {"generation": 1})
    assert sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir()) == ["gen-00000.json"]
    assert read_checkpoint(tmp_path).generation == 0
