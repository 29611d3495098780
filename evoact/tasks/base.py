"""What a task is: a dataset with train/validation/test splits and a model built around an activation."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

ActivationFactory = Callable[[], nn.Module]


@dataclass(frozen=True)
class Dataset:
    """Tensors of one task's splits: validation drives selection, test is kept for reports."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


class Task(ABC):
    """A classification problem on which a candidate activation is trained and scored."""

    name: str
    description: str

    @abstractmethod
    def load(self) -> Dataset:
        """The task's data, generated or read from the local cache (never downloaded)."""

    @abstractmethod
    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        """A fresh model whose every nonlinearity is ``make_activation()``."""


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$EVOACT_CACHE`` or ``~/.cache/evoact``."""
    path = Path(os.environ.get("EVOACT_CACHE") or Path.home() / ".cache" / "evoact")
    path.mkdir(parents=True, exist_ok=True)
    return path
