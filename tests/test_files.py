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


def test_a_written_file_holds_the_data_with_a_plain_files_mode(tmp_path):
    write_file(tmp_path / "a.html", "<p>ünïcode</p>")
    write_file(tmp_path / "b.png", b"\x89PNG")
    assert (tmp_path / "a.html").read_text(encoding="utf-8") == "<p>ünïcode</p>"
    assert (tmp_path / "b.png").read_bytes() == b"\x89PNG"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.html").stat().st_mode & 0o777 == 0o666 & ~mask
