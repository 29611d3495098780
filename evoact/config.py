"""Search configuration: budget presets and the one dataclass that a run directory records."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from evoact.baselines import DEFAULT_BASELINES
from evoact.compiler import choose_mode
from evoact.evolution import ALGORITHMS, EvolutionConfig
from evoact.screening.config import ScreeningConfig
from evoact.tasks import canonical_task_name
from evoact.training import TrainConfig

#: Budget presets. ``generations`` counts the initial population as generation 0.
BUDGETS: dict[str, dict[str, Any]] = {
    "tiny": dict(population=6, offspring=4, generations=2, epochs=2),
    "quick": dict(population=16, offspring=16, generations=6, epochs=25),
    "standard": dict(population=32, offspring=16, generations=12, epochs=50),
    "thorough": dict(population=64, offspring=32, generations=30, epochs=100),
}


#: How a candidate's scores on several tasks select it: a weighted mean of baseline-normalised scores, or NSGA-II.
SELECTIONS = ("mean", "pareto")


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search; stored verbatim in the run directory."""

    budget: str = "quick"
    space: str = "default"
    tasks: tuple[str, ...] = ("mnist1d-cnn",)
    seed: int = 0
    generations: int = 6
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    workers: int = 2
    timeout: float = 600.0
    address: str | None = None
    algorithm: str = "evolution"
    selection: str = "mean"
    task_weights: tuple[float, ...] = ()
    complexity_objective: bool = False
    data_dir: str | None = None
    gpus_per_job: float = 0.0
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    screening: ScreeningConfig = field(default_factory=ScreeningConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "baselines": list(self.baselines), "tasks": list(self.tasks), "task_weights": list(self.task_weights)}

    @property
    def task(self) -> str:
        """The first task: the one the quality hurdle is measured on and that names the run."""
        return self.tasks[0]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchConfig":
        """The config ``to_dict`` wrote (a stored run's); a one-line error for anything else."""
        nested = {"evolution": EvolutionConfig, "training": TrainConfig, "screening": ScreeningConfig}
        try:
            parts = {name: kind(**data[name]) for name, kind in nested.items()}
            rest = {k: v for k, v in data.items() if k not in nested and k != "task"}
            tasks = tuple(rest.get("tasks") or [data["task"]])  # runs before multi-task fitness named one task
            return cls(**{**rest, **parts, "tasks": tasks, "task_weights": tuple(rest.get("task_weights", ())),
                          "baselines": tuple(rest.get("baselines", DEFAULT_BASELINES))})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a search config this evoact understands ({type(exc).__name__}: {exc})") from None


def make_config(budget: str = "quick", **settings: Any) -> SearchConfig:
    """A config from a budget preset with settings on top (None keeps the preset).

    A setting names a field of the search, evolution, training or screening config (``epochs``, ``population``,
    ``hurdle_ratio``...).
    """
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; use one of {', '.join(BUDGETS)}")
    chosen = {"workers": os.cpu_count() or 1, **BUDGETS[budget], **{k: v for k, v in settings.items() if v is not None}}
    for name in ("tasks", "task_weights", "baselines"):
        if name in chosen:
            chosen[name] = tuple(chosen[name])
    if "tasks" in chosen:
        chosen["tasks"] = tuple(canonical_task_name(t) for t in chosen["tasks"])
    if chosen.get("data_dir"):
        chosen["data_dir"] = str(Path(chosen["data_dir"]).expanduser().resolve())  # resume and workers find it anywhere
    groups = {cls: {f.name for f in fields(cls)} - {"seed"} for cls in (SearchConfig, EvolutionConfig, TrainConfig, ScreeningConfig)}
    unknown = set(chosen) - set().union(*groups.values()) - {"seed"}
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    pick = lambda cls: {k: v for k, v in chosen.items() if k in groups[cls]}
    seed = chosen.get("seed", 0)
    config = SearchConfig(
        budget=budget, seed=seed, **pick(SearchConfig),
        evolution=EvolutionConfig(**pick(EvolutionConfig)), training=replace(TrainConfig(**pick(TrainConfig)), seed=seed),
        screening=ScreeningConfig(**pick(ScreeningConfig)),
    )
    for name in ("population", "offspring", "generations", "epochs", "batch_size", "workers", "tournament", "evaluations_per_hash"):
        value = chosen.get(name, 1)
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    choose_mode(config.training.activation_mode, 0)  # raises for an unknown mode
    if config.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {config.algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    if config.selection not in SELECTIONS:
        raise ValueError(f"unknown selection {config.selection!r}; use one of {', '.join(SELECTIONS)}")
    if not config.tasks or len(set(config.tasks)) != len(config.tasks):
        raise ValueError(f"tasks must be one or more distinct task names, got {list(config.tasks)}")
    if config.task_weights and (len(config.task_weights) != len(config.tasks) or min(config.task_weights) < 0
                                or sum(config.task_weights) <= 0 or not all(map(math.isfinite, config.task_weights))):
        raise ValueError(f"task weights {list(config.task_weights)}: give one finite non-negative weight per task"
                         f" ({len(config.tasks)}), not all zero")
    if config.complexity_objective and config.selection != "pareto":
        raise ValueError("the complexity objective needs --selection pareto")
    if not 0 <= config.gpus_per_job <= 64:
        raise ValueError(f"gpus_per_job must be between 0 and 64, got {config.gpus_per_job}")
    if config.timeout <= 0:
        raise ValueError(f"timeout must be positive, got {config.timeout}")
    return config


def restated(config: SearchConfig, address: str | None = None, data_dir: str | None = None) -> tuple[SearchConfig, list[str]]:
    """A stored run's config, with where code runs and where data is read taken from the user, never from the run.

    A run directory is data that users copy and share: its Ray address and data directory are used only when the
    user gives them again (``--address`` or ``$RAY_ADDRESS``, ``--data-dir``). Returns the config to run with and
    a note for each stored location left unused.
    """
    notes = []
    if config.address and not (address or os.environ.get("RAY_ADDRESS")):
        notes.append(f"the run was made on the Ray cluster at {config.address}; a run's stored address is never contacted on"
                     " its own (pass --address or set RAY_ADDRESS to use a cluster): running on a private local Ray")
    if config.data_dir and not data_dir:
        notes.append(f"the run read its data from {config.data_dir}; a run's stored data directory is never used on its own"
                     " (pass --data-dir to read data from a folder)")
    if data_dir:
        data_dir = str(Path(data_dir).expanduser().resolve())
    return replace(config, address=address or None, data_dir=data_dir or None), notes
