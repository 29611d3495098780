"""A 1-D CNN with GroupNorm on a second MNIST-1D draw (another seed and size than the search's), trained by SGD."""

from __future__ import annotations

import functools

import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask
from evoact.tasks.mnist1d import read_mnist1d

SAMPLES = 6000
_SEED = 7


@functools.lru_cache(maxsize=1)
def load_mnist1d_variant() -> Dataset:
    """MNIST-1D drawn with seed 7 and 6,000 sequences: 4,000 train / 800 validation / 1,200 test."""
    return read_mnist1d(_SEED, SAMPLES)


class _GroupNormCnn(nn.Module):
    """Four convolutions, each followed by GroupNorm and the activation; global average pooling; Kaiming init."""

    def __init__(self, make_activation: ActivationFactory, channels: int = 32, groups: int = 8) -> None:
        super().__init__()
        shapes = [(1, 5, 1), (channels, 3, 2), (channels, 3, 1), (channels, 3, 2)]  # (inputs, kernel, stride)
        self.layers = nn.Sequential(
            *(
                module
                for inputs, kernel, stride in shapes
                for module in (
                    nn.Conv1d(inputs, channels, kernel, stride, kernel // 2, bias=False),
                    nn.GroupNorm(groups, channels),
                    make_activation(),
                )
            )
        )
        self.head = nn.Linear(channels, 10)
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x.unsqueeze(1)).mean(-1))


class Mnist1dGroupNormCnn(DatasetTask):
    """Group normalisation instead of batch normalisation, SGD with Nesterov momentum instead of Adam."""

    name = "mnist1d-groupnorm-cnn"
    description = (
        "1-D CNN (4 conv layers of 32 channels, GroupNorm, Kaiming init), SGD with Nesterov momentum and cosine decay, "
        "on a second MNIST-1D draw (4,000 / 800 / 1,200)"
    )
    measures = "a convolutional network with group normalisation under SGD"
    epochs, batch_size, lr = 20, 128, 5e-2
    optimizer, momentum, nesterov, weight_decay, cosine = "sgd", 0.9, True, 5e-4, True

    def load(self) -> Dataset:
        return load_mnist1d_variant()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _GroupNormCnn(make_activation)
