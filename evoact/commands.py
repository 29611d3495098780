"""The commands a message or a page tells a user to run on a run directory (show, resume, confirm), quoted so that each
pastes into a shell."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from evoact.tasks.user import is_user_task


def show_command(run_dir: str | Path) -> str:
    """The ``evoact show`` command for a run."""
    return f"evoact show {shlex.quote(str(run_dir))}"


def resume_command(run_dir: str | Path, tasks: Sequence[str] = ()) -> str:
    """The ``evoact resume`` command for a run, with ``--trust-task`` where it trains a user's code among ``tasks``
    (resume refuses such a run without it)."""
    own = any(is_user_task(t) for t in tasks)
    return f"evoact resume {shlex.quote(str(run_dir))}" + (" --trust-task" if own else "")


def confirm_command(run_dir: str | Path, tasks: Sequence[str]) -> str:
    """The ``evoact confirm`` command for a run: on fresh seeds of its own tasks, with ``--trust-task``, where it
    trained a user's code (confirm refuses such a run without it, and the built-in groups are not that network)."""
    own = any(is_user_task(t) for t in tasks)
    return f"evoact confirm {shlex.quote(str(run_dir))}" + (" --group search --trust-task" if own else "")
