"""Text from files and users, made safe to print: control characters shown, never sent, and Rich markup escaped."""

from __future__ import annotations

import re

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


def shorten(text: str, width: int) -> str:
    """``text`` made printable (``plain``) on one line (a task's error of several lines broke the progress line) and
    cut to ``width`` characters, an ellipsis marking the cut."""
    text = " ".join(plain(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
