"""The task registry: real datasets and models on which candidate activations are trained."""

from __future__ import annotations

from evoact.tasks.base import Dataset, Task
from evoact.tasks.mnist1d import Mnist1dCnn, Mnist1dMlp

TASKS: dict[str, Task] = {t.name: t for t in (Mnist1dCnn(), Mnist1dMlp())}


def get_task(name: str) -> Task:
    """Look a task up by name, with a clear error listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


__all__ = ["Dataset", "TASKS", "Task", "get_task"]
