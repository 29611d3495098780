"""What a task is: something that trains a model built around an activation and scores it on held-out data."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from evoact.training import TrainConfig, TrainResult, train

ActivationFactory = Callable[[], nn.Module]


@dataclass(frozen=True)
class Dataset:
    """Tensors of one task's splits: validation drives selection, test is kept for reports and confirmation."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


class Task(ABC):
    """A problem on which a candidate activation is trained and scored (validation and test accuracy)."""

    name: str
    description: str

    def prepare(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Make the data ready once, in the driver, before any worker needs it (generate, cache, check paths)."""

    def steps(self, config: TrainConfig) -> int:
        """Optimizer steps one training takes (0 if unknown): decides whether compiling the activation pays."""
        return 0

    @abstractmethod
    def run(self, make_activation: ActivationFactory, config: TrainConfig, probe_epoch: int | None = None,
            hurdle: float | None = None) -> TrainResult:
        """Train a fresh model whose every nonlinearity is ``make_activation()`` and measure it."""


class DatasetTask(Task):
    """A task made of a dataset and a model, trained with evoact's one protocol (``training.train``)."""

    def __init__(self, data_dir: str | None = None) -> None:
        self.data_dir = data_dir

    @abstractmethod
    def load(self) -> Dataset:
        """The task's data, generated or read from disk (never downloaded)."""

    @abstractmethod
    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        """A fresh model whose every nonlinearity is ``make_activation()``."""

    def device(self) -> torch.device:
        """Where the model trains: the CPU unless a task is worth a GPU."""
        return torch.device("cpu")

    def prepare(self) -> None:
        self.load()

    def steps(self, config: TrainConfig) -> int:
        return config.epochs * -(-len(self.load().x_train) // config.batch_size)

    def run(self, make_activation: ActivationFactory, config: TrainConfig, probe_epoch: int | None = None,
            hurdle: float | None = None) -> TrainResult:
        data = self.load()
        torch.manual_seed(config.seed)
        return train(self.build_model(make_activation), data, config, probe_epoch, hurdle, self.device())


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$EVOACT_CACHE`` or ``~/.cache/evoact``."""
    path = Path(os.environ.get("EVOACT_CACHE") or Path.home() / ".cache" / "evoact")
    path.mkdir(parents=True, exist_ok=True)
    return path
