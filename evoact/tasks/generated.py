"""Classification sets scikit-learn generates from a fixed seed (nothing downloaded), with networks and training
unlike the search's: a narrow deep MLP with orthogonal initialisation, and a pre-LayerNorm residual MLP under AdamW.
"""

from __future__ import annotations

import functools

import numpy as np
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, split
from evoact.tasks.digits import ResidualLayerNormBlock

_SEED = 1


@functools.lru_cache(maxsize=1)
def load_hastie() -> Dataset:
    """Hastie et al.'s binary problem (``make_hastie_10_2``): 10 Gaussian features, class = whether the sum of their
    squares passes the chi-squared median; 8,000 rows, 5,000 / 1,500 / 1,500."""
    from sklearn.datasets import make_hastie_10_2

    x, y = make_hastie_10_2(n_samples=8000, random_state=_SEED)
    return split(x, (y > 0).astype(np.int64), 5000, 1500, regression=False)


@functools.lru_cache(maxsize=1)
def load_clusters() -> Dataset:
    """8 classes of 3 Gaussian clusters each in 40 features (16 informative, 8 redundant, 4 repeated, 3% label noise);
    12,000 rows, 8,000 / 2,000 / 2,000."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=12000,
        n_features=40,
        n_informative=16,
        n_redundant=8,
        n_repeated=4,
        n_classes=8,
        n_clusters_per_class=3,
        class_sep=1.0,
        flip_y=0.03,
        random_state=_SEED,
    )
    return split(x, y, 8000, 2000, regression=False)


def narrow_deep_mlp(
    make_activation: ActivationFactory, inputs: int, outputs: int, depth: int, width: int
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, no normalisation, orthogonal weights and zero biases."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), make_activation()]
    model = nn.Sequential(*layers, nn.Linear(width, outputs))
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.orthogonal_(module.weight)
            nn.init.zeros_(module.bias)
    return model


class HastieNarrowDeepMlp(DatasetTask):
    """A narrow, deep plain MLP with orthogonal initialisation must learn a spherical decision boundary."""

    name = "hastie-narrow-deep-mlp"
    description = (
        "plain MLP, 12 hidden layers of 24, orthogonal init, no normalisation, on Hastie's 10-D sphere problem "
        "(5,000 / 1,500 / 1,500)"
    )
    measures = "signal propagation in a narrow deep network with orthogonal initialisation"
    epochs, batch_size, lr = 20, 64, 1e-3

    def load(self) -> Dataset:
        return load_hastie()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return narrow_deep_mlp(make_activation, 10, 2, depth=12, width=24)


class ClustersResMlp(DatasetTask):
    """Pre-LayerNorm residual blocks trained by AdamW with weight decay, the way transformers' MLPs are trained."""

    name = "clusters-resmlp"
    description = (
        "residual MLP (3 pre-LayerNorm blocks, 128 wide), AdamW with weight decay and cosine decay, on 8 classes "
        "of clusters in 40 features (8,000 / 2,000 / 2,000)"
    )
    measures = "a pre-norm residual network under AdamW with weight decay"
    epochs, batch_size, lr = 10, 128, 2e-3
    optimizer, weight_decay, cosine = "adamw", 0.1, True

    def load(self) -> Dataset:
        return load_clusters()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        blocks = [ResidualLayerNormBlock(make_activation, 128) for _ in range(3)]
        return nn.Sequential(nn.Linear(40, 128), *blocks, nn.LayerNorm(128), nn.Linear(128, 8))
