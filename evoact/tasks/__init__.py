"""The task registry: real datasets and models on which candidate activations are trained, and user tasks."""

from __future__ import annotations

from evoact.tasks.base import Dataset, DatasetTask, Task
from evoact.tasks.cifar10 import Cifar10ResNet20
from evoact.tasks.digits import DigitsCnn, DigitsDeepMlp, DigitsResMlp
from evoact.tasks.feynman import FeynmanMlp
from evoact.tasks.mnist1d import Mnist1dCnn, Mnist1dDeepMlp, Mnist1dMlp, Mnist1dResNet
from evoact.tasks.periodic import PeriodicMlp
from evoact.tasks.tabular import FriedmanMlp, TabularWideMlp
from evoact.tasks.text import TextTransformer
from evoact.tasks.user import UserTask, canonical_user_task, is_user_task

#: Built-in task name -> class; a user task is named MODULE:FUNCTION or FILE.py:FUNCTION instead.
TASKS: dict[str, type[DatasetTask]] = {
    t.name: t
    for t in (
        PeriodicMlp,
        Mnist1dDeepMlp,
        Mnist1dResNet,
        TextTransformer,
        DigitsDeepMlp,
        TabularWideMlp,
        DigitsResMlp,
        FriedmanMlp,
        FeynmanMlp,
        Mnist1dCnn,
        Mnist1dMlp,
        DigitsCnn,
        Cifar10ResNet20,
    )
}

#: Named groups of tasks, each cheapest first. ``general`` is the default fitness: a deep plain MLP, a normalised
#: ResNet and a transformer language model (bench/results/fitness_transfer.md and the held-out confirmations in
#: bench/results: of the sets and rules tried, its winners held up best; adding periodic-mlp made the fitness chase
#: functions that did not transfer, and adding feynman-mlp with the worst-task aggregate fixed Friedman regression
#: but lost elsewhere). ``heldout`` is what ``evoact confirm`` checks a general search's winners on.
SUITES: dict[str, tuple[str, ...]] = {
    "general": ("mnist1d-deep-mlp", "mnist1d-resnet", "text-transformer"),
    "heldout": (
        "periodic-mlp",
        "digits-deep-mlp",
        "tabular-wide-mlp",
        "digits-resmlp",
        "friedman-mlp",
        "mnist1d-cnn",
        "digits-cnn",
    ),
}


def get_task(name: str, data_dir: str | None = None) -> Task:
    """A built-in task (reading ``data_dir`` where it needs files) or a user's, with a clear error for unknown names."""
    if is_user_task(name):
        return UserTask(name)
    if name not in TASKS:
        raise ValueError(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}, or MODULE:FUNCTION for your own"
        )
    return TASKS[name](data_dir)


def require_trusted(names: tuple[str, ...] | list[str], trusted: bool, verb: str) -> None:
    """Refuse to run user tasks named by a run directory (which may come from anyone) unless the caller trusts them."""
    user = [n for n in names if is_user_task(n)]
    if user and not trusted:
        raise ValueError(f"this run trains with user code ({', '.join(user)}); {verb} runs it only with --trust-task")


def canonical_task_name(name: str) -> str:
    """The name a run records: built-in names as they are, user task files as absolute paths."""
    return canonical_user_task(name) if is_user_task(name) else name


__all__ = ["Dataset", "DatasetTask", "SUITES", "TASKS", "Task", "canonical_task_name", "get_task", "require_trusted"]
