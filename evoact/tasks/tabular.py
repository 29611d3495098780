"""Tabular tasks on data scikit-learn generates from a fixed seed (nothing downloaded): classification and
regression."""

from __future__ import annotations

import functools

from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, split

_SEED = 0


@functools.lru_cache(maxsize=1)
def load_tabular() -> Dataset:
    """4,000 rows of 20 features in 4 classes (``make_classification``: 12 informative, 4 redundant, 2% label noise)."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=4000,
        n_features=20,
        n_informative=12,
        n_redundant=4,
        n_classes=4,
        n_clusters_per_class=2,
        class_sep=0.8,
        flip_y=0.02,
        random_state=_SEED,
    )
    return split(x, y, 2800, 600, regression=False)


@functools.lru_cache(maxsize=1)
def load_friedman() -> Dataset:
    """Friedman's regression problem #1 (``make_friedman1``): 10 features, 5 of them used, noise 0.5; 3,000 rows."""
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=3000, n_features=10, noise=0.5, random_state=_SEED)
    return split(x, y, 2000, 500, regression=True)


class TabularWideMlp(DatasetTask):
    """A wide, shallow MLP on tabular data: the network users train on spreadsheets."""

    name = "tabular-wide-mlp"
    description = (
        "MLP, 2 hidden layers of 512, on a tabular classification set (2,800 / 600 / 600; 20 features, 4 classes)"
    )
    measures = "a wide shallow MLP on tabular data"
    epochs, batch_size, lr = 8, 64, 1e-3

    def load(self) -> Dataset:
        return load_tabular()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(20, 512), make_activation(), nn.Linear(512, 512), make_activation(), nn.Linear(512, 4)
        )


class FriedmanMlp(DatasetTask):
    """Smooth nonlinear regression inside the range seen in training."""

    name = "friedman-mlp"
    description = "MLP, 3 hidden layers of 64, regressing Friedman #1 (2,000 / 500 / 500; mean squared error)"
    measures = "regression of a smooth function (interpolation)"
    metric, loss = "loss", "mse"
    epochs, batch_size, lr = 30, 64, 3e-3

    def load(self) -> Dataset:
        return load_friedman()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(10, 64),
            make_activation(),
            nn.Linear(64, 64),
            make_activation(),
            nn.Linear(64, 64),
            make_activation(),
            nn.Linear(64, 1),
        )
