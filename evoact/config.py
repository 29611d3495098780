"""Search configuration: budget presets and the one dataclass that a run directory records."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import torch

from evoact import evaluation, scoring
from evoact.baselines import BASELINES, DEFAULT_BASELINES, GLU_BASELINES
from evoact.compiler import choose_mode
from evoact.evolution import ALGORITHMS, EvolutionConfig
from evoact.genome import parse_shard
from evoact.scoring import AGGREGATES, SCORES
from evoact.screening import stability
from evoact.screening.cache import protocol_key
from evoact.screening.config import ScreeningConfig
from evoact.tasks import (
    FAMILIES,
    SUITES,
    canonical_task_name,
    get_task,
    task_family,
    task_function_hint,
    task_group,
)
from evoact.tasks.base import source_digest
from evoact.training import TrainConfig

#: Budget presets. ``generations`` counts the initial population as generation 0; ``epoch_scale`` multiplies each
#: task's own training length (a fraction of an epoch is allowed); ``race_top`` and ``race_seeds``: racing the elite,
#: every candidate that enters the top ``race_top`` trains on ``race_seeds`` seeds in all (0: no racing).
BUDGETS: dict[str, dict[str, Any]] = {
    "tiny": dict(population=6, offspring=4, generations=2, epoch_scale=0.1, race_top=0, race_seeds=3),
    "quick": dict(population=16, offspring=16, generations=6, epoch_scale=1.0, race_top=5, race_seeds=3),
    "standard": dict(population=32, offspring=16, generations=12, epoch_scale=2.0, race_top=5, race_seeds=3),
    "thorough": dict(population=64, offspring=32, generations=30, epoch_scale=4.0, race_top=10, race_seeds=5),
}
#: The budget of a search that names none.
DEFAULT_BUDGET = "quick"
#: The default score and aggregate of a search over several tasks (measured: bench/results/fitness_transfer.md).
DEFAULT_SCORE, DEFAULT_AGGREGATE = "accuracy", "mean"


#: How a candidate's scores on several tasks select it: a weighted mean of baseline-normalised scores, or NSGA-II.
SELECTIONS = ("mean", "pareto")
#: How evaluations are scheduled: whole generations (a seed fixes the run), asynchronous steady state (every worker
#: always busy), or ``auto``: asynchronous when there are more workers than a generation's children.
MODES = ("auto", "generational", "async")
#: Largest seed: every RNG evoact seeds (Python's, NumPy's, torch's) takes it.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Bound:
    """The type and finite range a number may take, and what it is called in messages."""

    kind: type
    low: float
    high: float
    low_open: bool = False  # the low end itself is excluded (positive numbers)
    why: str = ""  # why the low end is where it is, said when a value is below it

    def check(self, name: str, value: Any) -> None:
        """A one-line ``ValueError`` naming ``name`` unless ``value`` is of the kind and in range."""
        ok_type = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (self.kind is float or isinstance(value, int))
        )
        if not ok_type or not (isinstance(value, int) or math.isfinite(value)):
            raise ValueError(f"{name} must be a finite {'integer' if self.kind is int else 'number'}, got {value!r}")
        if value < self.low or (self.low_open and value == self.low):
            raise ValueError(
                f"{name} must be {'positive' if self.low_open and self.low == 0 else f'at least {_text(self.low)}'}"
                f"{f' ({self.why})' if self.why else ''}, got {value!r}"
            )
        if value > self.high:
            raise ValueError(f"{name} must be at most {_text(self.high)}, got {value!r}")


def _text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else f"{number:g}"


#: How many of the hall of fame a confirmation trains, and on how many fresh seeds, unless told.
CONFIRM_TOP, CONFIRM_SEEDS = 3, 5

#: The smallest ``epoch_scale`` a new run takes (runs stored with less still open: ``BOUNDS`` reads them).
MIN_EPOCH_SCALE = 0.01

#: The one table of bounds: every number a config, a command-line option, a resumed config.json or a checkpoint can
#: set, by field name (nested configs' fields by their own names).
BOUNDS: dict[str, Bound] = {
    "seed": Bound(int, 0, MAX_SEED),
    "generations": Bound(int, 1, 10_000),
    "workers": Bound(int, 1, 100_000),
    "timeout": Bound(float, 0, 7 * 24 * 3600, low_open=True),
    "gpus_per_job": Bound(float, 0, 64),
    "population": Bound(int, 1, 100_000),
    "offspring": Bound(int, 1, 100_000),
    "tournament": Bound(int, 1, 100_000),
    "crossover_prob": Bound(float, 0, 1),
    "mutation_prob": Bound(float, 0, 1),
    "epochs": Bound(int, 1, 100_000),
    "batch_size": Bound(int, 1, 1_000_000),
    "lr": Bound(float, 0, 10, low_open=True),
    "epoch_scale": Bound(float, 0, 1000, low_open=True),
    "max_nonfinite": Bound(float, 0, 1),
    "flat_tolerance": Bound(float, 0, 1),
    "min_rank_correlation": Bound(float, 0, 1),
    "max_tail_reversal": Bound(float, 0, 1e6),
    "fingerprint_bits": Bound(int, 1, 52),
    "evaluations_per_hash": Bound(int, 1, 1000),
    "stability_depth": Bound(int, 1, 64),
    "stability_width": Bound(int, 1, 4096),
    "stability_steps": Bound(int, 0, 100),
    "vanish_rms": Bound(float, 0, 1e300),
    "explode_rms": Bound(float, 0, 1e300),
    "max_grad_norm": Bound(float, 0, 1e300),
    "hurdle_fraction": Bound(float, 0, 1, low_open=True),
    "hurdle_ratio": Bound(float, 0, 1),
    "surrogate": Bound(float, 0, 1),
    "surrogate_pool": Bound(int, 1, 64),
    "task_weight": Bound(float, 0, 1e6),
    "max_time": Bound(float, 0, 1e9, low_open=True),  # a session's seconds
    "target_fitness": Bound(float, -1e12, 1e12),
    "patience": Bound(int, 1, 1_000_000),  # generations, or candidates proposed in async mode
    "confirm_top": Bound(int, 1, 1000),
    "confirm_seeds": Bound(int, 2, 1000, why="a paired test needs pairs"),
    "param": Bound(float, -1e6, 1e6),
    "show_top": Bound(int, 1, 1_000_000),
    "race_top": Bound(int, 0, 10_000),
    "race_seeds": Bound(int, 1, 100),
    "compare_top": Bound(int, 1, 100),
    "port": Bound(int, 0, 65_535),
    "report_top": Bound(int, 1, 100),  # a report's hall of fame, and the dashboard's pages
    "refresh": Bound(float, 0.2, 3600),
}
MAX_TASKS = 32
MAX_TEXT = 4096  # a space path, task name, address or data directory


def check(name: str, value: Any) -> Any:
    """``value`` if it is within ``BOUNDS[name]``, else a one-line ``ValueError`` naming it."""
    BOUNDS[name].check(name, value)
    return value


def _check_fields(obj: Any) -> None:
    for f in fields(obj):
        if f.name in BOUNDS and not (getattr(obj, f.name) is None and "None" in str(f.type)):
            check(f.name, getattr(obj, f.name))


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search; stored verbatim in the run directory and checked on every way in.

    ``seed`` fixes evolution and training: it is held here once, and the training protocol takes it from here.
    """

    budget: str = DEFAULT_BUDGET
    space: str = "default"
    tasks: tuple[str, ...] = SUITES["general"]
    seed: int = 0
    generations: int = BUDGETS[DEFAULT_BUDGET]["generations"]
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    workers: int = 2
    timeout: float = 600.0
    address: str | None = None
    algorithm: str = "evolution"
    mode: str = "auto"
    selection: str = "mean"
    score: str = DEFAULT_SCORE
    aggregate: str = DEFAULT_AGGREGATE
    task_weights: tuple[float, ...] = ()
    complexity_objective: bool = False
    data_dir: str | None = None
    gpus_per_job: float = 0.0
    race_top: int = BUDGETS[DEFAULT_BUDGET]["race_top"]
    race_seeds: int = BUDGETS[DEFAULT_BUDGET]["race_seeds"]
    guesses: tuple[str, ...] = ()
    warm_start: str | None = None
    warm_trees: tuple[str, ...] = ()
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    screening: ScreeningConfig = field(default_factory=ScreeningConfig)

    def __post_init__(self) -> None:
        for name in _LISTS:
            object.__setattr__(self, name, listed(name, getattr(self, name)))
        if isinstance(self.training, TrainConfig):
            object.__setattr__(self, "training", replace(self.training, seed=self.seed))
        self._validate()

    def _validate(self) -> None:
        """Every field's type and range (``BOUNDS``) and the rules between fields, each as a one-line error."""
        for part, kind in (
            (self.evolution, EvolutionConfig),
            (self.training, TrainConfig),
            (self.screening, ScreeningConfig),
        ):
            if not isinstance(part, kind):
                raise ValueError(f"{kind.__name__} expected, got {type(part).__name__}")
        for obj in (self, self.evolution, self.training, self.screening):
            _check_fields(obj)
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown budget {self.budget!r}; use one of {', '.join(BUDGETS)}")
        for name in ("space", "address", "data_dir", "warm_start"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise ValueError(f"{name} must be text of at most {MAX_TEXT} characters")
        if (
            not self.tasks
            or len(self.tasks) > MAX_TASKS
            or len(set(self.tasks)) != len(self.tasks)
            or not all(isinstance(t, str) and 0 < len(t) <= MAX_TEXT for t in self.tasks)
        ):
            raise ValueError(
                f"tasks must be one or more distinct task names (at most {MAX_TASKS}), got {list(self.tasks)}"
            )
        if reported := [t for t in self.tasks if task_group(t) == "test"]:
            suites = FAMILIES[task_family(reported)]
            raise ValueError(
                f"{', '.join(reported)}: the test group only reports results (evoact confirm RUN --group test) and is"
                f" never searched on; search on the {suites['search']} or {suites['validation']} suite's tasks, or"
                " your own"
            )
        for guess in self.guesses:
            if not isinstance(guess, str) or not guess.strip() or len(guess) > MAX_TEXT:
                shown = repr(guess[:40] + "...") if isinstance(guess, str) and len(guess) > 40 else repr(guess)
                raise ValueError(f"--guess {shown}: a formula or a tree of the space, of 1 to {MAX_TEXT} characters")
        if not all(isinstance(t, str) and 0 < len(t) <= MAX_TEXT for t in self.warm_trees):
            raise ValueError(f"warm-start trees must be tree strings of at most {MAX_TEXT} characters")
        if (first := len(self.guesses) + len(self.warm_trees)) > self.evolution.population:
            raise ValueError(
                f"{len(self.guesses)} guess(es)"
                + (f" and {len(self.warm_trees)} warm-start tree(s)" if self.warm_trees else "")
                + f" make {first}, more than the population ({self.evolution.population}) they start"
            )
        if self.warm_trees and not self.warm_start:
            raise ValueError("warm-start trees need the run they came from (warm_start)")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if not self.baselines or unknown:
            raise ValueError(f"baselines must be some of {', '.join(BASELINES)}, got {list(self.baselines)}")
        for name, value, known in (
            ("algorithm", self.algorithm, ALGORITHMS),
            ("mode", self.mode, MODES),
            ("selection", self.selection, SELECTIONS),
            ("score", self.score, SCORES),
            ("aggregate", self.aggregate, AGGREGATES),
        ):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(known)}")
        parse_shard(self.evolution.shard)
        if self.evolution.shard != "1/1" and self.algorithm != "enumeration":
            raise ValueError(
                f"--shard {self.evolution.shard} splits an enumeration of the space: it needs --algorithm enumeration"
            )
        choose_mode(self.training.activation_mode, 0)  # raises for an unknown mode
        if self.task_weights:
            try:
                for weight in self.task_weights:
                    check("task_weight", weight)
                fits = len(self.task_weights) == len(self.tasks) and sum(self.task_weights) > 0
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"task weights {list(self.task_weights)}: give one finite non-negative weight per task"
                    f" ({len(self.tasks)}), not all zero"
                )
            if self.aggregate != "mean" and len(self.tasks) > 1:
                raise ValueError(
                    f"task weights weigh a mean; --aggregate {self.aggregate} would ignore them (add --aggregate mean)"
                )
        if self.complexity_objective and self.selection != "pareto":
            raise ValueError("the complexity objective needs --selection pareto")
        if self.screening.selecting:
            clash = (
                "--surrogate (the gate; choose one)"
                if self.screening.surrogate > 0
                else "--selection pareto (no one fitness to rank by)"
                if self.selection == "pareto"
                else "--no-screening"
                if not self.screening.active
                else "asynchronous mode, which has no generations (use --mode generational)"
                if self.steady
                else None
            )
            if clash:
                raise ValueError(f"--surrogate-pool ranks each generation's proposals: it does not go with {clash}")
        for name in ("active", "use_cache"):
            if not isinstance(getattr(self.screening, name), bool):
                raise ValueError(f"{name} must be true or false")
        if not isinstance(self.complexity_objective, bool):
            raise ValueError("complexity_objective must be true or false")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the seed once, at the top)."""
        data = {
            **asdict(self),
            "baselines": list(self.baselines),
            "tasks": list(self.tasks),
            "task_weights": list(self.task_weights),
            "guesses": list(self.guesses),
            "warm_trees": list(self.warm_trees),
        }
        del data["training"]["seed"]
        return data

    @property
    def steady(self) -> bool:
        """Whether the search runs asynchronously (steady state) rather than generation by generation."""
        return self.mode == "async" or (self.mode == "auto" and self.workers > self.evolution.offspring)

    @property
    def evaluations(self) -> int:
        """How many candidates past stage 1 the search evaluates: the first population, then each generation's offspring
        (an asynchronous search evaluates as many)."""
        return self.evolution.population + self.evolution.offspring * (self.generations - 1)

    @property
    def racing(self) -> bool:
        """Whether candidates entering the top ``race_top`` train on more seeds."""
        return self.race_top > 0 and self.race_seeds > 1

    @property
    def task(self) -> str:
        """The first task: the one the quality hurdle is measured on and that names the run."""
        return self.tasks[0]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """The config ``to_dict`` wrote (a stored run's); a one-line error for anything else."""
        nested = {"evolution": EvolutionConfig, "training": TrainConfig, "screening": ScreeningConfig}
        try:
            # what runs before these settings did: neither the sign check nor the tail check
            before = {"screening": {"min_rank_correlation": 0.0, "max_tail_reversal": 0.0}}
            parts = {
                name: kind(**{**before.get(name, {}), **{k: v for k, v in data[name].items() if k != "seed"}})
                for name, kind in nested.items()
            }
            rest = {
                "score": "accuracy",
                "aggregate": "mean",
                "mode": "generational",  # what runs before these settings did
                "race_top": 0,
                **{k: v for k, v in data.items() if k not in nested and k != "task"},
            }
            if "tasks" not in rest and "task" not in data:
                raise ValueError("not a search config this evoact understands: it names no tasks")
            tasks = listed("tasks", rest.get("tasks") or ([data["task"]] if "task" in data else []))  # earlier: one
            return cls(
                **{
                    **rest,
                    **parts,
                    "tasks": tasks,
                    "task_weights": tuple(rest.get("task_weights", ())),
                    "baselines": tuple(rest.get("baselines", DEFAULT_BASELINES)),
                }
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a search config this evoact understands ({type(exc).__name__}: {exc})") from None


def default_baselines(tasks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The baselines a run on ``tasks`` trains unless told: on GLU tasks the gates ReGLU, GEGLU, SwiGLU, a sine gate
    and expanded-range SiLU; else ReLU, GELU, SiLU and tanh."""
    return GLU_BASELINES if task_family(tasks) == "glu" else DEFAULT_BASELINES


_LISTS = ("tasks", "baselines", "task_weights", "guesses", "warm_trees")  # the search settings that are lists


def listed(name: str, value: Any) -> tuple:
    """A list setting as a tuple; a one-line error for text, which ``tuple`` would split into characters."""
    if isinstance(value, str):
        raise ValueError(f"{name} must be a list, got the text {value[:80]!r} (write [{value[:80]!r}])")
    try:
        return value if isinstance(value, tuple) else tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a list, got {type(value).__name__}") from None


def space_argument(space: str) -> str:
    """A search space as a config keeps it: a shipped space by its name, a file by its absolute path (so the command
    that runs the search again works from anywhere)."""
    if Path(space).suffix == ".toml" or Path(space).is_file():
        return str(Path(space).expanduser().resolve())
    return space


#: The screening settings that ``--no-screening`` leaves unused (``surrogate_pool``'s clash is SearchConfig's own).
_SCREENING_ONLY = frozenset(f.name for f in fields(ScreeningConfig)) - {"active", "use_cache", "surrogate_pool"}


def unused_settings(chosen: Mapping[str, Any], given: set[str]) -> tuple[frozenset[str], str] | None:
    """The settings of ``given`` that the others ``chosen`` would leave unused, and why (what a new search refuses
    rather than ignores, and ``reproduce_command`` leaves out of a stored run's command), or None."""
    if {"epochs", "epoch_scale"} <= given:
        return frozenset({"epoch_scale"}), "unused with --epochs, which sets every task's length: give one of them"
    if chosen.get("active") is False and (unused := given & _SCREENING_ONLY):
        return frozenset(unused), "screening setting(s), unused with --no-screening"
    if chosen.get("selection") == "pareto" and (unused := given & {"evaluations_per_hash", "surrogate"}):
        return frozenset(unused), "unused with --selection pareto (it keeps no fitness cache, and no one fitness ranks)"
    if chosen.get("algorithm", "evolution") != "evolution" and "replacement" in given:
        return frozenset({"replacement"}), f"unused with --algorithm {chosen['algorithm']} (only evolution replaces)"
    return None


def make_config(budget: str = DEFAULT_BUDGET, **settings: Any) -> SearchConfig:
    """A config from a budget preset with settings on top (None keeps the preset).

    A setting names a field of the search, evolution, training or screening config (``epochs``, ``population``,
    ``hurdle_ratio``...).
    """
    if not isinstance(budget, str) or budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; use one of {', '.join(BUDGETS)}")
    for name in ("space", "data_dir", "address", "warm_start"):  # paths and addresses: text, checked before use
        if settings.get(name) is not None and not isinstance(settings[name], (str, os.PathLike)):
            raise ValueError(f"{name} must be text, got {type(settings[name]).__name__}")
    chosen: dict[str, Any] = {
        "workers": os.cpu_count() or 1,
        **BUDGETS[budget],
        **{k: v for k, v in settings.items() if v is not None},
    }
    if "tasks" in chosen:
        tasks = listed("tasks", chosen["tasks"])
        if wrong := next((t for t in tasks if not isinstance(t, str)), None):
            raise ValueError(f"tasks must be task names (text), got {wrong!r}{task_function_hint(wrong)}")
        chosen["tasks"] = tuple(canonical_task_name(t) for t in tasks)
    chosen.setdefault("baselines", default_baselines(chosen.get("tasks", SUITES["general"])))
    if isinstance(chosen["baselines"], (list, tuple)) and (
        twice := next((b for i, b in enumerate(chosen["baselines"]) if b in chosen["baselines"][:i]), None)
    ):  # a new run's: one a stored config lists twice still reads
        raise ValueError(f"baselines name {twice!r} twice; each trains once")
    if chosen.get("data_dir"):
        chosen["data_dir"] = str(Path(chosen["data_dir"]).expanduser().resolve())  # resume and workers find it anywhere
    if chosen.get("space"):
        chosen["space"] = space_argument(str(chosen["space"]))
    if chosen.get("warm_start"):
        chosen["warm_start"] = str(chosen["warm_start"])
    groups: dict[type, set[str]] = {
        cls: {f.name for f in fields(cls)} - {"seed"}
        for cls in (SearchConfig, EvolutionConfig, TrainConfig, ScreeningConfig)
    }
    known = set().union(*groups.values()) - {"evolution", "training", "screening"} | {"seed"}  # parts, not settings
    unknown = set(chosen) - known
    if unknown:
        hints = [f"{u} (did you mean {m[0]}?)" if (m := get_close_matches(u, known, 1)) else u for u in sorted(unknown)]
        raise ValueError(f"unknown setting(s): {', '.join(hints)}")
    gates = [t for t in chosen.get("tasks", ()) if task_family([t]) == "glu"]
    if gates and len(gates) != len(chosen["tasks"]):  # here, not in SearchConfig: runs stored so still open
        raise ValueError(
            f"{', '.join(gates)}: a GLU task searches a gate (multiplied by V x), the other tasks an activation, with"
            " other baselines and held-out groups; search them apart (--suite glu, or the pointwise tasks)"
        )
    if isinstance(chosen.get("timeout"), (int, float)) and chosen["timeout"] < 1:  # here: runs stored so open
        raise ValueError(f"timeout must be at least 1 (seconds a training may take), got {chosen['timeout']!r}")
    if (
        isinstance(chosen.get("epoch_scale"), (int, float)) and 0 < chosen["epoch_scale"] < MIN_EPOCH_SCALE
    ):  # as timeout's
        raise ValueError(
            f"epoch_scale must be at least {MIN_EPOCH_SCALE:g} (it multiplies each task's epochs: at"
            f" {MIN_EPOCH_SCALE:g} the default suite's tasks train 2 to 10 steps, below it fewer, too few to tell"
            f" activations apart), got {chosen['epoch_scale']!r}"
        )
    if chosen.get("race_top") and chosen.get("race_seeds") == 1:  # here, not in BOUNDS: runs stored so still open
        raise ValueError("race_seeds 1 races nothing (every candidate trains on 1 seed): give 2 or more, or race_top 0")
    given = {k for k, v in settings.items() if v is not None and not (k == "surrogate" and not v)}
    if found := unused_settings(chosen, given):  # as race_seeds': runs stored so still open
        names, why = found
        raise ValueError(f"{', '.join('--' + n.replace('_', '-') for n in sorted(names))}: {why}")

    def pick(cls: type) -> dict[str, Any]:
        return {k: v for k, v in chosen.items() if k in groups[cls]}

    try:
        parts: dict[str, Any] = dict(
            evolution=EvolutionConfig(**pick(EvolutionConfig)),
            training=TrainConfig(**pick(TrainConfig)),
            screening=ScreeningConfig(**pick(ScreeningConfig)),
        )
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return SearchConfig(budget=budget, seed=chosen.get("seed", 0), **pick(SearchConfig), **parts)


#: The settings of where and how fast a run's code runs, not of what it computes: a resume takes them edited in its
#: config.json (a bigger machine's workers), with a note; an edit of any other setting is refused.
RUNTIME_SETTINGS = frozenset({"workers", "timeout", "gpus_per_job", "address", "data_dir"})


def restated(
    config: SearchConfig, address: str | None = None, data_dir: str | None = None
) -> tuple[SearchConfig, list[str]]:
    """A stored run's config, with where code runs and where data is read taken from the user, never from the run.

    A run directory is data that users copy and share: its Ray address and data directory are used only when the
    user gives them again (``--address`` or ``$RAY_ADDRESS``, ``--data-dir``). Returns the config to run with and
    a note for each stored location left unused.
    """
    notes = []
    if config.address and not (address or os.environ.get("RAY_ADDRESS")):
        notes.append(
            f"the run was made on the Ray cluster at {config.address}; a run's stored address is never contacted on"
            " its own (pass --address or set RAY_ADDRESS to use a cluster): running on a private local Ray"
        )
    if config.data_dir and not data_dir:
        notes.append(
            f"the run read its data from {config.data_dir}; a run's stored data directory is never used on its own"
            " (pass --data-dir to read data from a folder)"
        )
    if data_dir:
        data_dir = str(Path(data_dir).expanduser().resolve())
    return replace(config, address=address or None, data_dir=data_dir or None), notes


#: The cascade's settings that decide a worker's rejection (stability, quality hurdle): a cached rejection is reused
#: only under the same ones.
_VERDICT_SETTINGS = (
    "stability_depth",
    "stability_width",
    "stability_steps",
    "vanish_rms",
    "explode_rms",
    "max_grad_norm",
    "hurdle_fraction",
    "hurdle_ratio",
)


def fitness_protocol(
    config: SearchConfig, seeded: bool = True, verdicts: bool = False, untrained: tuple[str, ...] = ()
) -> str:
    """The fitness cache's key for ``config``: outcomes are shared only under the same tasks (at the same code
    revision and on the same kind of device), baselines, weighting, scoring and training protocol. ``seeded=False``:
    the key of its family, the same protocol under any training seed. ``verdicts``: the key of its rejections, which
    also depend on the cascade's stability and hurdle settings (a full training's outcome does not). ``untrained``:
    the baselines that did not train in a run, whose hurdles and references (and so its relative fitness) are the
    others': it shares outcomes only with runs where the same ones did not train."""
    multi = {
        "tasks": list(config.tasks),
        "weights": list(config.task_weights),
        "baselines": list(config.baselines),
        "data_dir": config.data_dir,
    } | (
        {}
        if (config.score, config.aggregate) == ("accuracy", "mean")
        else {"score": config.score, "aggregate": config.aggregate}
    )
    # one task: its fitness is its own measure, but the hurdle and the relative scores kept beside it are the
    # baselines', so they are in its key too (a run with other baselines shares nothing with it)
    single = {"task": config.task, "data_dir": config.data_dir, "score": config.score, "baselines": multi["baselines"]}
    tasks = {name: get_task(name, config.data_dir) for name in config.tasks}
    revisions = {name: task.revision() for name, task in tasks.items()}
    # a task trained on a GPU (in bfloat16 where it says so) measures apart from the CPU's: only then is it keyed
    # (the driver's view of the device: workers of a cluster with other hardware than the driver are not told apart)
    devices = {name: kind for name, task in tasks.items() if (kind := task.device().type) != "cpu"}
    gate = {"glu_gate": True} if task_family(config.tasks) == "glu" else {}  # screened as gates: rejections apart
    # the code around the tasks' that decides an outcome too (how a job runs and is scored, and its stability check),
    # and torch's version: an upgrade of either never reuses what the earlier one measured
    code = {"evaluation": source_digest(evaluation, scoring), "torch": torch.__version__}
    verdicts_of = (
        {k: getattr(config.screening, k) for k in _VERDICT_SETTINGS} | gate | {"code": source_digest(stability)}
    )
    return protocol_key(
        single if len(config.tasks) == 1 else multi,
        asdict(config.training)
        | {"revisions": revisions, "code": code}
        | ({"devices": devices} if devices else {})
        | ({} if seeded else {"seed": None})
        | ({"untrained_baselines": sorted(untrained)} if untrained else {})
        | ({"verdicts": verdicts_of} if verdicts else {}),
    )
