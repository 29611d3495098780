"""Typed records: a candidate and the outcome of evaluating it, frozen; plain data only at the worker boundary.

Workers receive plain jobs and return plain outcomes (``Outcome.plain``/``Outcome.from_plain``); the store, the
problem, the driver and the readers pass these records, and ``row()`` gives a record's JSON form for ``--json``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

#: The origins of the trees a user gave a run (``--guess``, ``--warm-start``): the surrogate never skips them.
USER_ORIGINS = ("guess", "warm start")


#: What a task's selection can read: accuracy (higher is better) or loss (lower is better).
METRICS = ("accuracy", "loss")


class Status(StrEnum):
    """Where a candidate stands: waiting, trained, failed, rejected by the cascade, or a duplicate of another."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class Stage(StrEnum):
    """Where a candidate left the cascade: rejected at a stage, or reused from the cache."""

    STATIC = "static"
    CACHE = "cache"
    STABILITY = "stability"
    QUALITY = "quality"
    SURROGATE = "surrogate"


STATUSES = tuple(s.value for s in Status)


class RunState(StrEnum):
    """Where a run stands: ``running`` (its writer is alive), ``finished``, ``stopped`` by a stop rule, or
    ``interrupted`` (Ctrl-C, a crash, a lost writer); stopped and interrupted runs resume."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"


class RecordError(ValueError):
    """Plain data that does not make a record: a field unknown, missing, of the wrong type or out of range."""


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, _Record):
        return value.row()
    return value


class _Record:
    """Shared by the records: the plain form and row-style reads."""

    def plain(self) -> dict[str, Any]:
        """JSON-ready data: tuples as lists, nested records as dicts; fields at their default are left out."""
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            default = f.default_factory() if callable(f.default_factory) else f.default
            if value != default:
                out[f.name] = _plain(value)
        return out

    def row(self) -> dict[str, Any]:
        """Every field in its JSON form, defaults included: what ``show --json`` prints."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _numbers(data: Any) -> tuple[float, ...]:
    if not isinstance(data, (list, tuple)) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data
    ):
        raise RecordError("a curve must be a list of numbers")
    return tuple(float(v) for v in data)


def _number(data: Any) -> float:
    if not finite_number(data):
        raise RecordError(f"a finite number expected, got {data!r}")
    return float(data)


#: Learned values per constant a record holds: one per activation layer of every task.
MAX_LAYERS = 10_000


def _learned(data: Any) -> dict[str, tuple[float, ...]]:
    if not isinstance(data, Mapping) or not all(
        isinstance(k, str)
        and isinstance(v, (list, tuple))
        and len(v) <= MAX_LAYERS
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        for k, v in data.items()
    ):  # numbers as JSON writes them: text ("1.0") or true is a damaged row, never read as a number
        raise RecordError(f"learned must map constant names to lists of at most {MAX_LAYERS} numbers")
    try:
        out = {k: tuple(float(x) for x in v) for k, v in data.items()}
    except OverflowError:  # an integer past float's range
        raise RecordError("learned must map constant names to lists of numbers") from None
    if not all(math.isfinite(x) for v in out.values() for x in v):
        raise RecordError("learned values must be finite numbers")
    return out


@dataclass(frozen=True)
class TaskScore(_Record):
    """What training a candidate on one task measured (accuracies None for regression and language modelling)."""

    val_acc: float | None = None
    test_acc: float | None = None
    train_seconds: float | None = None
    probe_acc: float | None = None
    learned: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    val_loss: float | None = None
    test_loss: float | None = None
    probe_loss: float | None = None
    stopped: bool = False  # rejected at this task's quality hurdle: val_* are the probe's
    curve: tuple[float, ...] = ()  # the validation loss after each epoch: the learning curve

    def measure(self, metric: str) -> float | None:
        """The test measure ``metric`` names: accuracy, or loss."""
        return self.test_acc if metric == "accuracy" else self.test_loss

    def validation(self, metric: str) -> float | None:
        """The validation measure ``metric`` names: accuracy, or loss."""
        return self.val_acc if metric == "accuracy" else self.val_loss

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> TaskScore:
        """The score a worker sent; a ``RecordError`` for anything else."""
        return cls(**_checked(cls, data, {"learned": _learned, "curve": _numbers}))


def joined_layers(parts: Iterable[Mapping[str, Sequence[float]]]) -> dict[str, tuple[float, ...]]:
    """Each learnable constant's values from every part (a task's layers, a training's), in order."""
    out: dict[str, tuple[float, ...]] = {}
    for learned in parts:
        for name, values in learned.items():
            out[name] = out.get(name, ()) + tuple(values)
    return out


def _task_scores(data: Any) -> dict[str, TaskScore]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise RecordError("scores must be a mapping of task to score")
    return {str(k): TaskScore.from_plain(v) for k, v in data.items()}


@dataclass(frozen=True)
class Outcome(_Record):
    """What evaluating a candidate gave: a status, its measurements or the reason it failed or was rejected.

    ``transient``: a failure of the machinery (a worker died, a timeout), not of the function; never cached.
    ``task_fault``: a failure of the task itself (``TaskError``), whatever the function; never cached.
    ``exhausted``: a transient failure the function may have caused, which a second time counts as its own: it ran past
    the timeout once a worker had started it, or ran out of memory. None of these three is stored.
    """

    status: Status = Status.PENDING
    fitness: float | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    train_seconds: float | None = None
    seconds: float | None = None
    probe_acc: float | None = None
    learned: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    error: str | None = None
    stage: Stage | None = None
    duplicate_of: int | None = None
    equivalent_to: str | None = None
    scores: Mapping[str, TaskScore] = field(default_factory=dict)
    transient: bool = False
    task_fault: bool = False
    exhausted: bool = False
    finished_at: float | None = None

    @property
    def every_layer(self) -> dict[str, tuple[float, ...]]:
        """Each learnable constant's trained values over every task's layers, in task order, where an export and
        ``Run.constants`` start from (``learned`` is the first task's; a row without per-task scores has only it)."""
        return joined_layers(score.learned for score in self.scores.values()) or dict(self.learned)

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> Outcome:
        """The outcome a worker (or a stored row) sent; a ``RecordError`` for anything else."""
        return cls(**_checked(cls, data, {"learned": _learned, "scores": _task_scores}))

    def __post_init__(self) -> None:
        """Statuses and stages given as text (from workers, stored rows, callers) become their enums."""
        try:
            object.__setattr__(self, "status", Status(self.status))
            if self.stage is not None:
                object.__setattr__(self, "stage", Stage(self.stage))
        except ValueError:
            raise RecordError(f"unknown status {self.status!r} or stage {self.stage!r}") from None

    def with_(self, **changes: Any) -> Outcome:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class ConfirmationTraining(_Record):
    """One ``evoact confirm`` training as stored: a function (its formula, and the name it was confirmed under) on a
    task with a fresh seed at a length, what it measured or why it failed, and ``revision``, the task's code that made
    it (None where it was stored before revisions were)."""

    formula: str
    name: str
    task: str
    seed: int
    epochs: float
    status: Status
    val_acc: float | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    learned: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    error: str | None = None
    finished_at: float | None = None
    revision: str | None = None

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> ConfirmationTraining:
        """A stored row (``learned`` decoded); a ``RecordError`` for anything else."""
        return cls(**_checked(cls, data, {"learned": _learned, "epochs": _number}))

    def __post_init__(self) -> None:
        """A row from a file is not trusted: names are text, the seed a whole number, the status a known one."""
        texts = (self.formula, self.name, self.task)
        if not all(isinstance(t, str) for t in texts) or not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise RecordError(f"a confirmation training needs text names and a whole seed, got {texts} {self.seed!r}")
        for text in (self.error, self.revision):
            if text is not None and not isinstance(text, str):
                raise RecordError(f"a confirmation training's error and revision are text, got {text!r}")
        try:
            object.__setattr__(self, "status", Status(self.status))
        except ValueError:
            raise RecordError(f"unknown status {self.status!r}") from None

    def measure(self, metric: str) -> float | None:
        """The test measure ``metric`` names: accuracy, or loss."""
        return self.test_acc if metric == "accuracy" else self.test_loss


@dataclass(frozen=True)
class Candidate(_Record):
    """A proposed candidate: what it is, where it came from, and its outcome (``pending`` until it has one)."""

    id: int
    formula: str
    origin: str
    genome: str | None = None
    label: str | None = None
    generation: int | None = None
    parents: tuple[int, ...] = ()
    nodes: int | None = None
    fingerprint: str | None = None
    created_at: float | None = None
    raced_fitness: float | None = None  # the mean over ``raced_seeds`` seeds once raced
    raced_std: float | None = None
    raced_seeds: int = 1
    raced_failed: int = 0  # raced seeds whose training failed: the candidate ranks below every one without
    outcome: Outcome = field(default_factory=Outcome)

    def __post_init__(self) -> None:
        """The raced fields, generation, size and parents, read from a run directory (not trusted), are finite numbers,
        counts and ids."""
        for name in ("raced_fitness", "raced_std"):
            value = getattr(self, name)
            if value is not None and not finite_number(value):
                raise RecordError(f"candidate #{self.id}: {name} must be a finite number, got {value!r}")
        for name in ("raced_seeds", "raced_failed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RecordError(f"candidate #{self.id}: {name} must be a count, got {value!r}")
        for name in ("generation", "nodes"):  # SQLite keeps whatever a crafted file puts in a column
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise RecordError(f"candidate #{self.id}: {name} must be a count, got {str(value)[:40]!r}")
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in self.parents):
            raise RecordError(f"candidate #{self.id}: parents must be candidate ids")

    def row(self) -> dict[str, Any]:
        """The candidate and its outcome as one flat JSON row (without the outcome's fields that are never stored)."""
        flat = {k: v for k, v in super().row().items() if k != "outcome"}
        return {
            **flat,
            **{k: v for k, v in self.outcome.row().items() if k not in ("transient", "task_fault", "exhausted")},
        }

    @property
    def unfit(self) -> str | None:
        """``candidate #7 rejected at stability (why)`` for a candidate that was rejected or failed (it has no fitness,
        and an export of it says so), else None."""
        if self.status not in (Status.REJECTED, Status.FAILED):
            return None
        stage = f" at {self.outcome.stage}" if self.outcome.stage else ""
        return f"candidate #{self.id} {self.status}{stage} ({self.outcome.error or 'no reason recorded'})"

    @property
    def rank_fitness(self) -> float | None:
        """What the ranking orders by: the mean over the raced seeds once raced, else the one training's fitness."""
        return self.raced_fitness if self.raced_fitness is not None else self.outcome.fitness

    @property
    def rank_key(self) -> tuple[bool, float, int]:
        """The ranking's order, best first when sorted (``RunStore.ranked`` orders its rows alike): one that failed a
        raced seed after every one that did not, then the higher ``rank_fitness``, then the earlier id."""
        fitness = self.rank_fitness
        return self.raced_failed > 0, -fitness if fitness is not None else math.inf, self.id

    @property
    def status(self) -> Status:
        """The outcome's status."""
        return self.outcome.status


@dataclass(frozen=True)
class RaceResult(_Record):
    """One extra training of a candidate on another seed, for racing the elite: its fitness under that seed.

    ``source``: where a reused result came from (the fitness cache's run and candidate), None when trained here.
    """

    candidate: int
    seed: int
    status: Status
    fitness: float | None = None
    seconds: float | None = None
    error: str | None = None
    source: str | None = None
    finished_at: float | None = None
    scores: Mapping[str, TaskScore] = field(default_factory=dict)  # per task; none for a result reused from the cache
    learned: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # a reused result's constants, where known

    def __post_init__(self) -> None:
        """The status given as text becomes its enum; a stored row (not trusted) must hold a finite fitness."""
        try:
            object.__setattr__(self, "status", Status(self.status))
        except ValueError:
            raise RecordError(f"candidate #{self.candidate} seed {self.seed}: unknown status {self.status!r}") from None
        if self.fitness is not None and not finite_number(self.fitness):
            raise RecordError(f"candidate #{self.candidate} seed {self.seed}: fitness must be a finite number")

    @property
    def every_layer(self) -> dict[str, tuple[float, ...]]:
        """Each learnable constant's trained values over every task's layers of this seed (a result reused from the
        cache: its constants as the cache held them)."""
        return joined_layers(score.learned for score in self.scores.values()) or dict(self.learned)

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> RaceResult:
        """A stored race row (not trusted) as a record; a ``RecordError`` for anything else."""
        return cls(**_checked(cls, data, {"scores": _task_scores, "learned": _learned}))


def baselines_failed(baselines: Sequence[Candidate]) -> str | None:
    """``every baseline failed (relu: why); fix the task or its data`` where none of ``baselines`` trained: no
    candidate can be scored (a task that cannot train), else None (also while some are still to train)."""
    if not baselines or any(r.status in (Status.OK, Status.PENDING) for r in baselines):
        return None
    first = next((r for r in baselines if r.outcome.error), baselines[0])
    return f"every baseline failed ({first.label}: {first.outcome.error}); fix the task or its data"


def finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (not a bool): what a stored measure must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """A record class's field names and their annotations (read once: records are parsed by the thousand)."""
    return {f.name: f.type for f in fields(cls)}


def _checked(cls: type, data: Mapping[str, Any], convert: dict[str, Any]) -> dict[str, Any]:
    """``data`` as keyword arguments of ``cls``: known fields only, numbers finite, nested parts converted."""
    if not isinstance(data, Mapping):
        raise RecordError(f"{cls.__name__} data must be a mapping, got {type(data).__name__}")
    known = _field_types(cls)
    unknown = set(data) - set(known)
    if unknown:
        raise RecordError(f"{cls.__name__} has no field(s) {', '.join(sorted(map(str, unknown)))}")
    out = {}
    for key, value in data.items():
        if key in convert:
            out[key] = convert[key](value)
        elif (
            value is not None
            and known[key] == "float | None"
            and not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))
        ):
            raise RecordError(f"{cls.__name__}.{key} must be a finite number, got {value!r}")
        else:
            out[key] = value
    return out


def mean_learned(learned: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """One value per learnable constant: the mean over the layers (or trainings) that learned it, to the 7 significant
    digits each value is stored with (an export writes ``1.151616``, not ``1.1516164999999998``)."""
    return {name: float(f"{sum(v) / len(v):.7g}") for name, v in learned.items() if v}
