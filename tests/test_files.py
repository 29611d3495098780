import os

import pytest

from evoact.export import export_torch_module
from evoact.files import write_file


def test_a_write_interrupted_before_it_is_complete_leaves_the_earlier_file_whole(tmp_path, monkeypatch):
    """As an export --force or a report written again: Ctrl-C (or a crash) mid-write keeps the earlier file as it
    was, and leaves no temporary file behind."""
    path = tmp_path / "act.py"
    path.write_text("the earlier export\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_file(path, "x" * 1_000_000)
    assert path.read_text() == "the earlier export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["act.py"]
    with pytest.raises(KeyboardInterrupt):  # the exporters and the report write so
        export_torch_module(path, "x*tanh(x)")
    assert path.read_text() == "the earlier export\n"


def test_a_written_file_is_as_open_would_write_it(tmp_path):
    """The data, a new file's mode as the umask gives, an old file's mode kept, a long name that open() takes taken,
    and errors naming the file asked for (not the temporary one)."""
    write_file(tmp_path / "a.html", "<p>ünïcode</p>")
    write_file(tmp_path / "b.png", b"\x89PNG")
    assert (tmp_path / "a.html").read_text(encoding="utf-8") == "<p>ünïcode</p>"
    assert (tmp_path / "b.png").read_bytes() == b"\x89PNG"
    with open(tmp_path / "plain", "w"):
        pass
    assert (tmp_path / "a.html").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    os.chmod(tmp_path / "a.html", 0o600)
    write_file(tmp_path / "a.html", "again")
    assert (tmp_path / "a.html").stat().st_mode & 0o777 == 0o600
    long = tmp_path / ("n" * 250)
    write_file(long, "taken")
    assert long.read_text() == "taken"
    with pytest.raises(FileNotFoundError) as missing:
        write_file(tmp_path / "none" / "x.py", "x")
    assert missing.value.filename == str(tmp_path / "none" / "x.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.html", "b.png", "plain", "n" * 250])
