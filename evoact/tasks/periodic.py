"""Regression that needs extrapolation: a periodic signal learned on one range and predicted beyond it (Snake)."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask


def signal(t: torch.Tensor) -> torch.Tensor:
    """Two incommensurate sines: periodic in neither alone, so memorising one period does not extrapolate."""
    return torch.sin(t) + 0.4 * torch.sin(2.3 * t)


@functools.lru_cache(maxsize=1)
def load_periodic() -> Dataset:
    """Train on t in [-2pi, 2pi] (800 points); validate on (2pi, 3pi], test on (3pi, 4pi] (200 points each)."""
    train = torch.linspace(-2 * math.pi, 2 * math.pi, 800)
    val = torch.linspace(2 * math.pi, 3 * math.pi, 201)[1:]
    test = torch.linspace(3 * math.pi, 4 * math.pi, 201)[1:]
    return Dataset(*(t for part in (train, val, test) for t in (part[:, None], signal(part))))


class PeriodicMlp(DatasetTask):
    """What an MLP predicts past its training range is its activation's shape: ReLU nets extrapolate lines."""

    name = "periodic-mlp"
    description = "MLP 1-64-64-1 fitting sin(t) + 0.4 sin(2.3t) on [-2pi, 2pi], scored beyond it (mean squared error)"
    measures = "extrapolation of a periodic signal beyond the training range"
    metric, loss = "loss", "mse"
    epochs, batch_size, lr = 40, 32, 3e-3

    def load(self) -> Dataset:
        return load_periodic()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(1, 64), make_activation(), nn.Linear(64, 64), make_activation(), nn.Linear(64, 1)
        )
