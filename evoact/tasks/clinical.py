"""Real clinical measurements bundled with scikit-learn (nothing downloaded): breast-cancer diagnosis and diabetes.

Both are small, so their splits are as large as the data allows and their trainings are long enough that a
function's measure is stable across seeds. Both train with SGD and momentum, unlike the search's tasks.
"""

from __future__ import annotations

import functools

import numpy as np
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, split

_SPLIT_SEED = 0


def _shuffled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(y))
    return x[order], y[order]


@functools.lru_cache(maxsize=1)
def load_breast_cancer() -> Dataset:
    """Wisconsin breast-cancer diagnosis: 569 tumours, 30 measured features, 2 classes; 341 / 114 / 114 rows."""
    from sklearn.datasets import load_breast_cancer as sklearn_cancer

    bunch = sklearn_cancer()
    x, y = _shuffled(bunch.data.astype(np.float64), bunch.target)
    return split(x, y, 341, 114, regression=False)


@functools.lru_cache(maxsize=1)
def load_diabetes() -> Dataset:
    """Diabetes progression after one year from 10 baseline measurements: 442 patients; 266 / 88 / 88 rows."""
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    bunch = sklearn_diabetes(scaled=False)
    x, y = _shuffled(bunch.data.astype(np.float64), bunch.target.astype(np.float64)[:, None])
    return split(x, y, 266, 88, regression=True)


class CancerWideMlp(DatasetTask):
    """One wide hidden layer on real tabular data, trained by SGD with momentum."""

    name = "cancer-wide-mlp"
    description = (
        "MLP, 1 hidden layer of 1,024, SGD with momentum and cosine decay, on breast-cancer diagnosis "
        "(341 / 114 / 114; cross-entropy: accuracy saturates near 0.97)"
    )
    measures = "a wide one-layer network on real tabular data under SGD"
    metric = "loss"
    epochs, batch_size, lr = 30, 32, 1e-2
    optimizer, momentum, cosine = "sgd", 0.9, True

    def load(self) -> Dataset:
        return load_breast_cancer()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(nn.Linear(30, 1024), make_activation(), nn.Linear(1024, 2))


class DiabetesMlp(DatasetTask):
    """Regression of a noisy real target from few rows, small batches and SGD with weight decay."""

    name = "diabetes-mlp"
    description = (
        "MLP, 2 hidden layers of 64, SGD with momentum, weight decay and cosine decay, batch 16, regressing diabetes "
        "progression (266 / 88 / 88; mean squared error)"
    )
    measures = "regression of a noisy real target from few examples under SGD"
    metric, loss = "loss", "mse"
    epochs, batch_size, lr = 20, 16, 5e-3
    optimizer, momentum, weight_decay, cosine = "sgd", 0.9, 1e-3, True

    def load(self) -> Dataset:
        return load_diabetes()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(10, 64), make_activation(), nn.Linear(64, 64), make_activation(), nn.Linear(64, 1)
        )
