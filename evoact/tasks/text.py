"""A character-level language model: a small causal transformer on text from a fixed synthetic language.

The language is generated from a seed, so it is the same everywhere and nothing is downloaded: 40 invented
words over 12 letters, each followed by one of three likely next words, with nested parentheses and full stops.
Predicting the next character needs the spelling of words and which word came before, several characters back,
which is what attention is for.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch
from torch import nn

from evoact.tasks import transformer as transformer_module
from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, source_digest
from evoact.tasks.transformer import Transformer

CONTEXT = 48
_SEED = 0


def synthetic_text(characters: int = 150_000, seed: int = _SEED) -> str:
    """Text of the synthetic language: words, spaces, nested ``( )`` and ``. ``."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijkl")
    words = sorted({"".join(rng.choice(letters, rng.integers(2, 7))) for _ in range(60)})[:40]
    following = [rng.choice(len(words), 3, replace=False) for _ in words]
    parts, word, depth, size = [], 0, 0, 0
    while size < characters:
        parts.append(words[word])
        r = rng.random()
        gap = " (" if r < 0.08 and depth < 3 else ")" if r < 0.16 and depth > 0 else ". " if r < 0.22 else " "
        depth += {" (": 1, ")": -1}.get(gap, 0)
        parts.append(gap)
        size += len(words[word]) + len(gap)
        word = following[word][rng.choice(3, p=[0.6, 0.3, 0.1])]
    return "".join(parts)[:characters]


@functools.lru_cache(maxsize=1)
def alphabet() -> str:
    """The characters of the synthetic language, in the order their ids follow."""
    return "".join(sorted(set(synthetic_text())))


@functools.lru_cache(maxsize=1)
def load_text() -> Dataset:
    """Windows of ``CONTEXT`` characters and the same shifted by one: 2,400 train / 300 val / 300 test."""
    ids = torch.tensor([alphabet().index(c) for c in synthetic_text()])
    n = (len(ids) - 1) // CONTEXT
    x, y = ids[: n * CONTEXT].reshape(n, CONTEXT), ids[1 : n * CONTEXT + 1].reshape(n, CONTEXT)
    parts = (slice(0, 2400), slice(2400, 2700), slice(2700, 3000))
    return Dataset(*(t for part in parts for t in (x[part], y[part])))


class TextTransformer(DatasetTask):
    """Next-character prediction with attention, LayerNorm and residual connections: a tiny GPT."""

    name = "text-transformer"
    description = (
        "causal transformer (2 blocks, width 32) predicting the next character of a synthetic language "
        f"({CONTEXT}-character windows; loss in nats)"
    )
    measures = "a transformer's MLP: language modelling"
    metric = "loss"
    epochs, batch_size, lr = 2, 32, 3e-3

    def load(self) -> Dataset:
        return load_text()

    def revision(self) -> str:
        """The code's digest, with the network's module."""
        return hashlib.sha256(f"{super().revision()}{source_digest(transformer_module)}".encode()).hexdigest()[:16]

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        vocabulary = len(alphabet())
        return Transformer(
            make_activation, nn.Embedding(vocabulary, 32), CONTEXT, vocabulary, 32, 2, False, causal=True
        )
