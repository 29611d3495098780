"""Scientific regression: physics formulas from the AI Feynman set, measured as data is, learned together by one MLP.

As in SRSD (Matsubara et al. 2022), the formulas' inputs come with dummy inputs that do not matter and the
targets with measurement noise: a network must find the signal, not only interpolate it (nothing downloaded).
"""

from __future__ import annotations

import functools

import numpy as np
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, split

_SEED = 0
_ROWS = 3000
_DUMMIES = 10
_NOISE = 0.1  # of each target's standard deviation


def formulas(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Six formulas of Udrescu & Tegmark (2020), variables drawn as their data set draws them: inputs side by side."""
    u = lambda low, high, k: rng.uniform(low, high, (n, k))  # noqa: E731
    theta, sigma = u(1, 3, 1)[:, 0], u(1, 3, 1)[:, 0]  # I.6.20: a Gaussian density
    q1, q2, r = u(1, 5, 3).T  # I.12.2: Coulomb's law
    x1, x2, t1, t2 = u(1, 5, 4).T  # I.29.16: the law of cosines
    moles, temp, volume = u(1, 5, 3).T  # I.39.22: the ideal gas
    m1, m2, r1, r2 = u(1, 5, 4).T  # I.18.4: the centre of mass
    x, t, v, c = u(1, 5, 1)[:, 0], u(1, 5, 1)[:, 0], u(1, 2, 1)[:, 0], u(3, 10, 1)[:, 0]  # I.15.3x: Lorentz
    inputs = np.stack([theta, sigma, q1, q2, r, x1, x2, t1, t2, moles, temp, volume, m1, m2, r1, r2, x, t, v, c], 1)
    outputs = np.stack(
        [
            np.exp(-((theta / sigma) ** 2) / 2) / (np.sqrt(2 * np.pi) * sigma),
            q1 * q2 / (4 * np.pi * r**2),
            np.sqrt(x1**2 + x2**2 - 2 * x1 * x2 * np.cos(t1 - t2)),
            moles * temp / volume,
            (m1 * r1 + m2 * r2) / (m1 + m2),
            (x - v * t) / np.sqrt(1 - v**2 / c**2),
        ],
        1,
    )
    return inputs, outputs


def measured(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The formulas as measured: 10 dummy inputs drawn like the real ones, targets with 10% Gaussian noise."""
    x, y = formulas(rng, n)
    dummies = rng.uniform(1, 5, (n, _DUMMIES))
    return np.concatenate([x, dummies], 1), y + _NOISE * y.std(0) * rng.standard_normal(y.shape)


@functools.lru_cache(maxsize=1)
def load_feynman() -> Dataset:
    """3,000 rows (2,000 / 500 / 500) of 30 inputs and 6 targets, each standardised on the training split."""
    return split(*measured(np.random.default_rng(_SEED), _ROWS), 2000, 500, regression=True)


class FeynmanMlp(DatasetTask):
    """Smooth multi-output regression of the kind scientific surrogate models do: products, ratios, roots,
    exponentials."""

    name = "feynman-mlp"
    description = (
        "MLP, 3 hidden layers of 64, regressing 6 AI Feynman physics formulas at once from 30 inputs, 10 of"
        " them dummies, targets with 10% noise (2,000 / 500 / 500; mean squared error)"
    )
    measures = "regression of noisy measurements of smooth physics formulas (interpolation, several outputs)"
    metric, loss = "loss", "mse"
    epochs, batch_size, lr = 30, 64, 3e-3

    def load(self) -> Dataset:
        return load_feynman()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(20 + _DUMMIES, 64),
            make_activation(),
            nn.Linear(64, 64),
            make_activation(),
            nn.Linear(64, 64),
            make_activation(),
            nn.Linear(64, 6),
        )
