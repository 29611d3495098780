"""How a signal stops a command: the first Ctrl-C or SIGTERM stops the work (a ``KeyboardInterrupt``, after saying
so), a second acts at once, and cleanup that must run whole holds a first signal back until it is done."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

_held = [0]  # depth of ``held`` blocks open now
_pending: list[int] = []  # a first signal that arrived while held


@contextmanager
def stopping(then: str | Callable[[], str | None] = "") -> Iterator[list[int]]:
    """While it is open, Ctrl-C and SIGTERM (what ``timeout`` and batch schedulers send) stop the work as a
    ``KeyboardInterrupt`` after saying so (on stderr: stdout may be ``--json``), and a second signal of either kind
    stops at once; yields the signals received, so the caller can exit with 130 or 143. A signal the process was
    started ignoring (a background job's Ctrl-C) stays ignored. ``then``: the command that goes on afterwards (a
    resume), said with the first signal, since a second one leaves no time to say it; or a function that says it
    then, None where nothing is saved yet to go on from."""
    received: list[int] = []
    kinds = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]

    def first_signal(signum: int, frame: object) -> None:
        received.append(signum)
        for kind in kinds:
            signal.signal(kind, signal.SIG_DFL)
        said = "terminated (SIGTERM)" if signum == signal.SIGTERM else "Ctrl-C again to stop at once"
        lead = "\n" if sys.stderr.isatty() else ""  # below the live progress bar's line, not at its end
        command = then() if callable(then) else then
        later = f"; go on later with {command}" if command else ""
        kept = "nothing is finished yet, so nothing is kept" if command is None else "what is finished is saved"
        click.echo(f"{lead}stopping; {said} ({kept}{'' if command is None else ' either way'}{later})", err=True)
        if _held[0]:
            _pending.append(signum)
            return
        raise KeyboardInterrupt

    previous = {kind: signal.signal(kind, first_signal) for kind in kinds}
    try:
        yield received
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)


def exit_stopped(received: list[int]) -> NoReturn:
    """Exit as a stopped command does: 143 after SIGTERM, else 130 (Ctrl-C)."""
    sys.exit(143 if signal.SIGTERM in received else 130)


@contextmanager
def held(failing: bool = False) -> Iterator[None]:
    """Cleanup that must run whole (a session's last records, the loggers' end, Ray's shutdown): under ``stopping``,
    a first signal meanwhile stops the work once it is done, unless the cleanup runs for an error on its way out
    (``failing``: the error is what the caller sees); a second still acts at once. Without ``stopping`` (the Python
    API) signals act as Python's own handlers say."""
    _held[0] += 1
    try:
        yield
    finally:
        _held[0] -= 1
        if not _held[0] and _pending:
            _pending.clear()
            if not failing:
                raise KeyboardInterrupt
