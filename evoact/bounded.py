"""Bounded symbolic work: SymPy steps that can run for minutes run in a helper process under a time limit.

A signal-based alarm works only in the main thread, so the same formula got symbolic answers in one caller and
numeric ones in another. The helper is a plain Python process that imports SymPy and the step's module
(``evoact.symbolic``); it is started on first use, given one step at a time over a pipe, and killed (then started
afresh) when a step runs out of time.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_WORKER = r"""
import pickle, struct, sys
import sympy  # noqa: F401  (what the steps are)
read, write = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = read.read(8)
    if len(head) < 8:
        break
    fn, args = pickle.loads(read.read(struct.unpack("<Q", head)[0]))
    try:
        answer = ("ok", fn(*args))
    except Exception as exc:
        answer = ("error", f"{type(exc).__name__}: {exc}")
    try:
        data = pickle.dumps(answer)
    except Exception as exc:
        data = pickle.dumps(("error", f"unpicklable result ({type(exc).__name__})"))
    write.write(struct.pack("<Q", len(data)) + data)
    write.flush()
"""


class TooSlow(Exception):
    """A bounded step ran out of time; the helper that ran it was stopped."""


class StepFailed(Exception):
    """A bounded step raised; the message is the helper's."""


class _Helper:
    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self.process is None or self.process.poll() is not None:
            package_root = str(Path(__file__).resolve().parent.parent)  # the steps' module is found where this one is
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
            }
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        return self.process

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def call(self, fn: Callable[..., Any], args: tuple, seconds: float) -> Any:
        with self.lock:
            deadline = time.monotonic() + seconds
            process = self._start()
            assert process.stdin is not None  # started with stdin=PIPE
            data = pickle.dumps((fn, args))
            try:
                process.stdin.write(struct.pack("<Q", len(data)) + data)
                process.stdin.flush()
                head = self._read(process, 8, deadline)
                status, value = pickle.loads(self._read(process, struct.unpack("<Q", head)[0], deadline))
            except (TooSlow, OSError, EOFError, pickle.UnpicklingError, struct.error):
                self._stop()
                raise TooSlow(f"{getattr(fn, '__name__', fn)} took longer than {seconds:g} s") from None
            if status == "error":
                raise StepFailed(value)
            return value

    @staticmethod
    def _read(process: subprocess.Popen, size: int, deadline: float) -> bytes:
        assert process.stdout is not None  # started with stdout=PIPE
        out, fd = b"", process.stdout.fileno()
        while len(out) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TooSlow
            chunk = os.read(fd, size - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out


_HELPER = _Helper()


def bounded(fn: Callable[..., Any], *args: Any, seconds: float) -> Any:
    """``fn(*args)`` run in the helper process, or ``TooSlow`` after ``seconds`` (in any thread of any caller).

    ``fn`` must be importable by the helper without torch (SymPy's, or ``evoact.symbolic``'s), its arguments and result
    picklable.
    """
    return _HELPER.call(fn, args, seconds)
