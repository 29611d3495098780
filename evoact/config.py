"""Search configuration: budget presets and the one dataclass that a run directory records."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from evoact.baselines import DEFAULT_BASELINES
from evoact.evolution import EvolutionConfig
from evoact.training import TrainConfig

#: Budget presets. ``generations`` counts the initial population as generation 0.
BUDGETS: dict[str, dict[str, Any]] = {
    "tiny": dict(population=6, offspring=4, generations=2, epochs=2),
    "quick": dict(population=16, offspring=16, generations=5, epochs=25),
    "standard": dict(population=32, offspring=16, generations=12, epochs=50),
    "thorough": dict(population=64, offspring=32, generations=30, epochs=100),
}


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search; stored verbatim in the run directory."""

    budget: str = "quick"
    space: str = "default"
    task: str = "mnist1d-cnn"
    seed: int = 0
    population: int = 16
    offspring: int = 16
    generations: int = 5
    tournament: int = 4
    crossover_prob: float = 0.5
    mutation_prob: float = 0.8
    replacement: str = "aging"
    epochs: int = 25
    batch_size: int = 100
    lr: float = 1e-2
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    workers: int = 2
    timeout: float = 600.0
    address: str | None = None

    def evolution(self) -> EvolutionConfig:
        """The part of the config the search algorithm reads."""
        return EvolutionConfig(self.population, self.offspring, self.tournament, self.crossover_prob,
                               self.mutation_prob, self.replacement, self.seed)

    def training(self) -> TrainConfig:
        """The training protocol shared by every evaluation of the run."""
        return TrainConfig(self.epochs, self.batch_size, self.lr, self.seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "baselines": list(self.baselines)}


def make_config(budget: str = "quick", **overrides: Any) -> SearchConfig:
    """A config from a budget preset, with explicit settings (None means 'keep the preset') on top."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; use one of {', '.join(BUDGETS)}")
    known = {f.name for f in fields(SearchConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    base = replace(SearchConfig(budget=budget, workers=os.cpu_count() or 1), **BUDGETS[budget])
    config = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    for name in ("population", "offspring", "generations", "epochs", "batch_size", "workers", "tournament"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.timeout <= 0:
        raise ValueError(f"timeout must be positive, got {config.timeout}")
    return config
