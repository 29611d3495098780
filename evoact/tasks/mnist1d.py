"""MNIST-1D tasks: 1-D digit sequences generated offline by the ``mnist1d`` package."""

from __future__ import annotations

import functools
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, cache_dir

VAL_SIZE = 800
_SEED = 42


@functools.lru_cache(maxsize=1)
def load_mnist1d() -> Dataset:
    """MNIST-1D's 4,000/1,000 split, with the last 800 training sequences held out for validation."""
    return read_mnist1d(_SEED)


def read_mnist1d(seed: int, samples: int | None = None) -> Dataset:
    """MNIST-1D drawn with ``seed`` (``samples`` sequences, else the package's 5,000), generated once and cached on
    disk: its own test split, and the last 800 training sequences held out for validation."""
    name = f"mnist1d-seed{seed}.npz" if samples is None else f"mnist1d-seed{seed}-n{samples}.npz"
    path = cache_dir() / name
    if not path.exists():
        _generate(path, seed, samples)
    with np.load(path, allow_pickle=False) as d:
        x, y, xt, yt = (torch.tensor(d[k]) for k in ("x", "y", "x_test", "y_test"))
    x, xt = x.float(), xt.float()
    n = len(x) - VAL_SIZE
    return Dataset(x[:n], y[:n], x[n:], y[n:], xt, yt)


def _generate(path: Path, seed: int, samples: int | None) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        args = get_dataset_args()
        args.seed = seed
        if samples is not None:
            args.num_samples = samples
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **{k: data[k] for k in ("x", "y", "x_test", "y_test")})
    os.replace(tmp, path)


class _Cnn(nn.Module):
    def __init__(self, make_activation: ActivationFactory, channels: int = 25) -> None:
        super().__init__()
        self.conv = nn.ModuleList(
            [
                nn.Conv1d(1, channels, 5, 2, 1),
                nn.Conv1d(channels, channels, 3, 2, 1),
                nn.Conv1d(channels, channels, 3, 2, 1),
            ]
        )
        self.acts = nn.ModuleList([make_activation() for _ in self.conv])
        self.head = nn.Linear(channels * 5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)
        for conv, act in zip(self.conv, self.acts):
            x = act(conv(x))
        return self.head(x.flatten(1))


class _ResidualBlock(nn.Module):
    def __init__(self, make_activation: ActivationFactory, channels: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels)
        self.conv2, self.bn2 = nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels)
        self.act1, self.act2 = make_activation(), make_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))


class _ResNet(nn.Module):
    def __init__(self, make_activation: ActivationFactory, channels: int = 16, blocks: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(1, channels, 5, 2, 2, bias=False), nn.BatchNorm1d(channels), make_activation()
        )
        self.blocks = nn.Sequential(*[_ResidualBlock(make_activation, channels) for _ in range(blocks)])
        self.head = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x.unsqueeze(1))).mean(-1))


def deep_mlp(
    make_activation: ActivationFactory, inputs: int, outputs: int, depth: int, width: int = 64
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with no normalisation and PyTorch's default initialisation."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), make_activation()]
    return nn.Sequential(*layers, nn.Linear(width, outputs))


class Mnist1dCnn(DatasetTask):
    """A 3-layer 1-D CNN (25 channels) on MNIST-1D: separates activations within a few seconds."""

    name = "mnist1d-cnn"
    description = "3-layer 1-D CNN on MNIST-1D (3,200 train / 800 val / 1,000 test)"
    measures = "a small convolutional network without normalisation"

    def load(self) -> Dataset:
        return load_mnist1d()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _Cnn(make_activation)


class Mnist1dMlp(DatasetTask):
    """A 2-hidden-layer MLP (100 units) on MNIST-1D: fast, but plateaus near 0.6 accuracy."""

    name = "mnist1d-mlp"
    description = "MLP 40-100-100-10 on MNIST-1D (3,200 train / 800 val / 1,000 test)"
    measures = "a shallow MLP"

    def load(self) -> Dataset:
        return load_mnist1d()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(40, 100), make_activation(), nn.Linear(100, 100), make_activation(), nn.Linear(100, 10)
        )


class Mnist1dDeepMlp(DatasetTask):
    """Eight hidden layers and no normalisation: the signal must propagate through the activation alone."""

    name = "mnist1d-deep-mlp"
    description = "plain MLP, 8 hidden layers of 64, no normalisation, on MNIST-1D (3,200 / 800 / 1,000)"
    measures = "signal propagation in a deep network without normalisation"
    epochs, batch_size, lr = 10, 64, 1e-3

    def load(self) -> Dataset:
        return load_mnist1d()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return deep_mlp(make_activation, 40, 10, depth=8)


class Mnist1dResNet(DatasetTask):
    """A 1-D ResNet with BatchNorm: residual connections and normalisation, as in most modern networks."""

    name = "mnist1d-resnet"
    description = "1-D ResNet (stem + 3 residual blocks of 16 channels, BatchNorm) on MNIST-1D (3,200 / 800 / 1,000)"
    measures = "a residual network with batch normalisation"
    epochs, batch_size, lr = 8, 64, 3e-3

    def load(self) -> Dataset:
        return load_mnist1d()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _ResNet(make_activation)
