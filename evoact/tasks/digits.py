"""scikit-learn's bundled 8x8 digits (1,797 images, no download) with a small 2-D CNN."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask

VAL_SIZE, TEST_SIZE = 300, 360
_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def load_digits() -> Dataset:
    """The digits in a fixed shuffled split: 1,137 train / 300 validation / 360 test, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(bunch.target))
    x = torch.tensor(bunch.images[order] / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(bunch.target[order], dtype=torch.long)
    test, val = slice(0, TEST_SIZE), slice(TEST_SIZE, TEST_SIZE + VAL_SIZE)
    train = slice(TEST_SIZE + VAL_SIZE, None)
    return Dataset(x[train], y[train], x[val], y[val], x[test], y[test])


class _Cnn(nn.Module):
    def __init__(self, make_activation: ActivationFactory) -> None:
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(1, 16, 3, padding=1), make_activation()
        self.conv2, self.act2 = nn.Conv2d(16, 32, 3, padding=1), make_activation()
        self.pool = nn.MaxPool2d(2)
        self.fc, self.act3 = nn.Linear(32 * 4 * 4, 64), make_activation()
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act2(self.conv2(self.act1(self.conv1(x)))))
        return self.head(self.act3(self.fc(x.flatten(1))))


class DigitsCnn(DatasetTask):
    """Two 3x3 conv layers and a hidden dense layer on the 8x8 digits: a second, image-shaped task for CPUs."""

    name = "digits-cnn"
    description = "2-D CNN (16-32 channels, 64 hidden) on scikit-learn's 8x8 digits (1,137 train / 300 val / 360 test)"
    measures = "a small 2-D convolutional network on images"

    def load(self) -> Dataset:
        return load_digits()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _Cnn(make_activation)


class ResidualLayerNormBlock(nn.Module):
    """A pre-LayerNorm residual MLP block: x + fc2(act(fc1(norm(x)))), twice as wide inside."""

    def __init__(self, make_activation: ActivationFactory, width: int) -> None:
        super().__init__()
        self.norm, self.fc1, self.act, self.fc2 = (
            nn.LayerNorm(width),
            nn.Linear(width, 2 * width),
            make_activation(),
            nn.Linear(2 * width, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class DigitsDeepMlp(DatasetTask):
    """Ten hidden layers and no normalisation on the digits' 64 pixels."""

    name = "digits-deep-mlp"
    description = (
        "plain MLP, 10 hidden layers of 64, no normalisation, on scikit-learn's 8x8 digits (1,137 / 300 / 360)"
    )
    measures = "signal propagation in a deep network without normalisation"
    epochs, batch_size, lr = 30, 64, 1e-3

    def load(self) -> Dataset:
        return load_flat_digits()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        from evoact.tasks.mnist1d import deep_mlp

        return deep_mlp(make_activation, 64, 10, depth=10)


class DigitsResMlp(DatasetTask):
    """Pre-LayerNorm residual MLP blocks, the shape of a transformer's feed-forward part."""

    name = "digits-resmlp"
    description = "residual MLP (4 pre-LayerNorm blocks, 64 wide) on scikit-learn's 8x8 digits (1,137 / 300 / 360)"
    measures = "a residual network with layer normalisation"
    epochs, batch_size, lr = 20, 64, 1e-3

    def load(self) -> Dataset:
        return load_flat_digits()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        blocks = [ResidualLayerNormBlock(make_activation, 64) for _ in range(4)]
        return nn.Sequential(nn.Linear(64, 64), *blocks, nn.LayerNorm(64), nn.Linear(64, 10))


@functools.lru_cache(maxsize=1)
def load_flat_digits() -> Dataset:
    """The digits split as ``load_digits``, each image as 64 pixels."""
    d = load_digits()
    return Dataset(d.x_train.flatten(1), d.y_train, d.x_val.flatten(1), d.y_val, d.x_test.flatten(1), d.y_test)
