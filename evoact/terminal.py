"""Text from files and users, made safe to print: control characters shown, never sent, and Rich markup escaped;
measures printed readably at any scale; output whose reader has gone (``evoact search | head``) dropped instead of
stopping the command."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Any, TextIO

from rich.markup import escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(text: object) -> str:
    """``text`` with every control character (escape sequences, bidi overrides, ...) written out as ``\\xNN``."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", str(text)
    )


def shown(text: object) -> str:
    """``plain(text)`` with Rich markup escaped: for strings printed with markup on."""
    return escape(plain(text))


def measure(value: float | None, signed: bool = False) -> str:
    """A fitness, score or difference as printed: four decimals, or three significant digits where four decimals
    would show next to nothing (a regression's loss of 2.2e-06 read as 0.0000 in every table); "-" for none."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if value != 0 and abs(value) < 1e-3:
        return f"{value:{sign}.3g}"
    return f"{value:{sign}.4f}"


def shorten(text: str, width: int) -> str:
    """``text`` made printable (``plain``) on one line (a task's error of several lines broke the progress line) and
    cut to ``width`` characters, an ellipsis marking the cut."""
    text = " ".join(plain(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class _PipeGuard:
    """A text stream that drops what is written once its reader has gone (a closed pipe), instead of raising: the
    command goes on, a search keeps training and saving, and only its printing stops."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.gone = True
        # what the stream still buffers, flushed at exit, goes nowhere instead of raising again (a stream with no
        # file descriptor has nothing below it to point elsewhere)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def survive_closed_pipes() -> None:
    """Make standard output and error drop their writes once their reader closes, rather than raise
    ``BrokenPipeError`` out of the next print: a search piped to ``head`` ended interrupted there."""
    if sys.stdout is not None and not isinstance(sys.stdout, _PipeGuard):
        sys.stdout = _PipeGuard(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, _PipeGuard):
        sys.stderr = _PipeGuard(sys.stderr)
