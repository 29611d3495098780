"""A character-level language model: a small causal transformer on text from a fixed synthetic language.

The language is generated from a seed, so it is the same everywhere and nothing is downloaded: 40 invented
words over 12 letters, each followed by one of three likely next words, with nested parentheses and full stops.
Predicting the next character needs the spelling of words and which word came before, several characters back,
which is what attention is for.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask

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


class _Block(nn.Module):
    def __init__(self, make_activation: ActivationFactory, width: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(width), nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), make_activation(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attention(y, y, y, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class _Transformer(nn.Module):
    """Pre-LayerNorm causal transformer: the activation sits in each block's MLP, as in GPT."""

    def __init__(
        self, make_activation: ActivationFactory, vocabulary: int, width: int = 32, heads: int = 4, layers: int = 2
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, width)
        self.position = nn.Parameter(torch.randn(CONTEXT, width) * 0.1)
        self.blocks = nn.ModuleList([_Block(make_activation, width, heads) for _ in range(layers)])
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocabulary)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[1]
        mask = torch.triu(torch.full((steps, steps), float("-inf"), device=x.device), 1)
        h = self.embed(x) + self.position[:steps]
        for block in self.blocks:
            h = block(h, mask)
        return self.head(self.norm(h))


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

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _Transformer(make_activation, len(alphabet()))
