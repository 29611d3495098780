"""A coordinate network: an MLP maps a pixel's position to its colour in a real photograph bundled with
scikit-learn (nothing downloaded), and predicts the colours of pixels it never saw (an implicit neural
representation, as in NeRF or SIREN: there the activation decides how much fine detail a network can hold).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask

HEIGHT, WIDTH = 64, 96
TRAIN, VAL = 3686, 1229  # of 6,144 pixels: 60% / 20% / 20%
IMAGE = "china.jpg"
_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def load_photo() -> Dataset:
    """scikit-learn's ``china.jpg`` (427x640) shrunk to 64x96 by area averaging: (row, column) in [-1, 1] -> RGB,
    each channel standardised on the training pixels; pixels shuffled into 3,686 / 1,229 / 1,229."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    image = Image.fromarray(load_sample_image(IMAGE)).resize((WIDTH, HEIGHT), Image.Resampling.BOX)
    rgb = np.asarray(image, dtype=np.float64).reshape(-1, 3) / 255.0
    rows, cols = np.meshgrid(np.linspace(-1, 1, HEIGHT), np.linspace(-1, 1, WIDTH), indexing="ij")
    xy = np.stack([rows.ravel(), cols.ravel()], 1)
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(xy))
    xy, rgb = xy[order], rgb[order]
    rgb = (rgb - rgb[:TRAIN].mean(0)) / rgb[:TRAIN].std(0)
    x, y = torch.tensor(xy, dtype=torch.float32), torch.tensor(rgb, dtype=torch.float32)
    parts = (slice(0, TRAIN), slice(TRAIN, TRAIN + VAL), slice(TRAIN + VAL, None))
    return Dataset(*(t for part in parts for t in (x[part], y[part])))


class PhotoCoordinateMlp(DatasetTask):
    """Fitting an image from coordinates needs high frequencies, which smooth or piecewise-linear units hold poorly."""

    name = "photo-coordinate-mlp"
    description = (
        "coordinate MLP (2 -> 3 hidden layers of 128 -> RGB), Adam with cosine decay, fitting a 64x96 photograph, "
        "scored on held-out pixels (3,686 / 1,229 / 1,229; mean squared error)"
    )
    measures = "fine detail in a coordinate network (an implicit neural representation of a real image)"
    metric, loss = "loss", "mse"
    epochs, batch_size, lr, cosine = 60, 64, 2e-3, True

    def load(self) -> Dataset:
        return load_photo()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return nn.Sequential(
            nn.Linear(2, 128),
            make_activation(),
            nn.Linear(128, 128),
            make_activation(),
            nn.Linear(128, 128),
            make_activation(),
            nn.Linear(128, 3),
        )
