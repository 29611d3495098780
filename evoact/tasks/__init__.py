"""The task registry: real datasets and models on which candidate activations are trained, and user tasks."""

from __future__ import annotations

import difflib
from pathlib import Path

from evoact.tasks.base import Dataset, DatasetTask, Task
from evoact.tasks.cifar10 import Cifar10ResNet20
from evoact.tasks.cifar10_fast import Cifar10Fast
from evoact.tasks.clinical import CancerWideMlp, DiabetesMlp
from evoact.tasks.digits import DigitsCnn, DigitsDeepMlp, DigitsResMlp
from evoact.tasks.feynman import FeynmanMlp
from evoact.tasks.generated import ClustersResMlp, HastieNarrowDeepMlp
from evoact.tasks.glu import (
    GluDocsTransformer,
    GluMnist1d,
    GluSourceTransformer,
    GluSympyDocs,
    GluTextTransformer,
    GluTextWideTransformer,
    GluVit,
)
from evoact.tasks.mnist1d import Mnist1dCnn, Mnist1dDeepMlp, Mnist1dMlp, Mnist1dResNet
from evoact.tasks.mnist1d_groupnorm import Mnist1dGroupNormCnn
from evoact.tasks.periodic import PeriodicMlp
from evoact.tasks.photo import PhotoCoordinateMlp
from evoact.tasks.source_code import SourceCharMlp
from evoact.tasks.tabular import FriedmanMlp, TabularWideMlp
from evoact.tasks.text import TextTransformer
from evoact.tasks.user import UserTask, canonical_user_task, is_user_task, task_function_hint, task_functions

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
        Cifar10Fast,
        DiabetesMlp,
        CancerWideMlp,
        ClustersResMlp,
        HastieNarrowDeepMlp,
        Mnist1dGroupNormCnn,
        PhotoCoordinateMlp,
        SourceCharMlp,
        GluTextTransformer,
        GluVit,
        GluSourceTransformer,
        GluTextWideTransformer,
        GluDocsTransformer,
        GluMnist1d,
        GluSympyDocs,
    )
}

_VALIDATION = (
    "periodic-mlp",
    "digits-deep-mlp",
    "tabular-wide-mlp",
    "digits-resmlp",
    "friedman-mlp",
    "mnist1d-cnn",
    "digits-cnn",
)

#: Named groups of tasks, each cheapest first. ``general`` is the default fitness: a regression of noisy physics
#: measurements, a deep plain MLP, a normalised ResNet and a transformer language model. Chosen on the validation
#: group (bench/results/fitness_choice.md): of the settings tried, its raced winners held up best there (worst task
#: 0.91-0.93 of the best of GELU/SiLU/Mish, periodic-mlp aside, against 0.60-0.87 without the regression, at the same
#: mean); before, bench/results/fitness_transfer.md had ruled out periodic-mlp (the fitness chased functions that did
#: not transfer). ``validation`` (once named ``heldout``, still an alias) is what ``evoact confirm`` checks a general
#: search's winners on, and what fitness rules, suites and settings are chosen by. ``test``: networks and training
#: protocols unlike the search's (real and generated data, SGD and AdamW, GroupNorm, LayerNorm or no norm, other
#: initialisations, classification, regression and language modelling).
#:
#: THE TEST GROUP IS TOUCHED ONLY TO REPORT RESULTS. Nothing (a fitness rule, a suite, a setting, a task's own
#: training, a function to recommend) may be chosen by looking at how activations do on it; choose on validation.
SUITES: dict[str, tuple[str, ...]] = {
    "general": ("feynman-mlp", "mnist1d-deep-mlp", "mnist1d-resnet", "text-transformer"),
    "validation": _VALIDATION,
    "heldout": _VALIDATION,  # the validation suite's old name: old runs and commands name it
    "test": (
        "diabetes-mlp",
        "cancer-wide-mlp",
        "clusters-resmlp",
        "hastie-narrow-deep-mlp",
        "mnist1d-groupnorm-cnn",
        "photo-coordinate-mlp",
        "source-char-mlp",
    ),
    # GLU tasks: the function is the gate of every feed-forward layer (tasks/glu.py); their own three groups.
    "glu": ("glu-text", "glu-vit", "glu-source"),
    "glu-validation": ("glu-text-wide", "glu-docs"),
    # Made for the test group before any function was trained on them, as the pointwise test group: only reported.
    "glu-test": ("glu-mnist1d", "glu-sympy-docs"),
}

#: Suite names that are another suite's old name (listings show the suite once).
SUITE_ALIASES: dict[str, str] = {"heldout": "validation"}

#: The three disjoint groups of built-in tasks, as in machine learning: the fitness trains on ``search``,
#: choices are made on ``validation``, and ``test`` only reports (see SUITES).
GROUPS = ("search", "validation", "test")
#: Each family of tasks has its own groups: what the function is in the task's networks (``pointwise``: every
#: nonlinearity; ``glu``: the gate of each GLU feed-forward layer). A run's family is its tasks'.
FAMILIES: dict[str, dict[str, str | None]] = {
    "pointwise": {"search": "general", "validation": "validation", "test": "test"},
    "glu": {"search": "glu", "validation": "glu-validation", "test": "glu-test"},
}

#: Every family's test suite: what a search refuses.
TEST_SUITES = tuple(suite for groups in FAMILIES.values() if (suite := groups["test"]))


def task_family(names: tuple[str, ...] | list[str]) -> str:
    """``glu`` when every one of ``names`` is a built-in GLU task, else ``pointwise`` (user tasks included)."""
    glu = [n for n in names if n in TASKS and TASKS[n].family == "glu"]
    return "glu" if names and len(glu) == len(names) else "pointwise"


def task_group(name: str) -> str | None:
    """The group (``search``, ``validation`` or ``test``) a built-in task belongs to in its family, or None."""
    return next(
        (group for suites in FAMILIES.values() for group, suite in suites.items() if suite and name in SUITES[suite]),
        None,
    )


def group_tasks(group: str, family: str = "pointwise") -> tuple[str, ...]:
    """The tasks of one of ``GROUPS`` in a family, cheapest first (none where the family has no such group)."""
    if group not in GROUPS:
        raise ValueError(f"unknown task group {group!r}; groups: {', '.join(GROUPS)}")
    suite = FAMILIES[family][group]
    return SUITES[suite] if suite else ()


def get_task(name: str, data_dir: str | None = None) -> Task:
    """A built-in task (reading ``data_dir`` where it needs files) or a user's, with a clear error for unknown names."""
    if is_user_task(name):
        return UserTask(name)
    if name not in TASKS:
        if name.endswith(".py"):
            found = task_functions(Path(name))
            listed = f"; it defines {', '.join(found)} with a make_activation argument" if found else ""
            raise ValueError(
                f"task {name!r}: name the function in it too, FILE.py:FUNCTION ({name}:{(found or ['my_task'])[0]})"
                + listed
            )
        close = difflib.get_close_matches(name, TASKS, n=1)
        reported = sorted(n for n in TASKS if task_group(n) == "test")
        raise ValueError(
            f"unknown task {name!r}; "
            + (f"did you mean {close[0]!r}? " if close else "")
            + f"known tasks: {', '.join(sorted(set(TASKS) - set(reported)))}, or MODULE:FUNCTION for your own; the"
            f" test group's ({', '.join(reported)}) only report results (evoact confirm RUN --group test)"
        )
    return TASKS[name](data_dir)


def require_trusted(names: tuple[str, ...] | list[str], trusted: bool, verb: str) -> None:
    """Refuse to run user tasks named by a run directory (which may come from anyone) unless the caller trusts them."""
    user = [n for n in names if is_user_task(n)]
    if user and not trusted:
        raise ValueError(
            f"this run trains with user code ({', '.join(user)}); {verb} runs it only with"
            " --trust-task (in Python: trust_user_tasks=True)"
        )


def canonical_task_name(name: str) -> str:
    """The name a run records: built-in names as they are, user task files as absolute paths."""
    return canonical_user_task(name) if is_user_task(name) else name


__all__ = [
    "FAMILIES",
    "GROUPS",
    "SUITES",
    "SUITE_ALIASES",
    "TASKS",
    "TEST_SUITES",
    "Dataset",
    "DatasetTask",
    "Task",
    "UserTask",
    "canonical_task_name",
    "get_task",
    "group_tasks",
    "require_trusted",
    "task_family",
    "task_function_hint",
    "task_group",
]
