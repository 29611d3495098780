"""Text from files and users, made safe to print; output whose reader has gone."""

import os
import subprocess
import sys

from evoact.terminal import measure, plain, shorten, survive_closed_pipes


def test_a_cut_line_stays_one_line_and_shows_control_characters():
    """A user task's error of several lines broke the progress line it was cut into (the adversary's find)."""
    error = 'Traceback (most recent call last):\n  File "t.py", line 3\n    raise ValueError("no")\nValueError: no'
    assert (
        shorten(error, 200)
        == 'Traceback (most recent call last): File "t.py", line 3 raise ValueError("no") ValueError: no'
    )
    assert shorten("a\n\nb", 3) == "a b" and shorten("abcdef", 4) == "abc…"
    assert plain("\x1b[31mred") == "\\x1b[31mred" and shorten("\x1b[2J", 10) == "\\x1b[2J"


def test_standard_streams_drop_writes_once_their_reader_has_gone_and_pass_them_on_before(monkeypatch):
    """`evoact search 2>&1 | head` ended the search `interrupted` at the first progress line after head exited."""
    read, write = os.pipe()
    stream = open(write, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "stderr", stream)
    survive_closed_pipes()
    print("kept")
    assert os.read(read, 100) == b"kept\n" and sys.stdout.isatty() is False  # the rest is the stream's own
    os.close(read)
    for _ in range(3):
        print("dropped" * 1000, flush=True)
        print("dropped", file=sys.stderr, flush=True)
    stream.close()


def test_a_command_whose_output_pipe_closes_exits_cleanly(tmp_path):
    """click ended such a command with status 1, as if it had failed."""
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run(
        [sys.executable, "-m", "evoact.cli", "tasks"], stdout=write, stderr=subprocess.PIPE, text=True
    )
    os.close(write)
    assert proc.returncode == 0 and proc.stderr == ""


def test_a_measure_keeps_its_digits_at_any_scale():
    """A regression's losses of about 2e-06 printed as 0.0000 in `show`, `runs`, the verdict and confirm's tables."""
    assert [measure(v) for v in (0.95554, 0.0012, 0.0, -2.234e-06, None)] == [
        "0.9555",
        "0.0012",
        "0.0000",
        "-2.23e-06",
        "-",
    ]
    assert measure(3e-07, signed=True) == "+3e-07" and measure(0.25, signed=True) == "+0.2500"
