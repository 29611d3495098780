"""GLU tasks: the candidate is the gate g of every feed-forward layer FFN(x) = U (g(W x) * V x) (Shazeer 2020).

The gated layer has the parameters of the plain FFN it replaces: its hidden width is 2/3 of the plain one's, as in
Shazeer 2020 and in Llama's SwiGLU. A GLU task's ``gated = False`` builds the same network with the plain FFN
``U act(W x)`` instead (what a GLU is compared with at equal parameters; ``bench/glu.py``). Networks: small
pre-LayerNorm transformers, causal on text (a synthetic language, Python's own source, Python's documentation; loss
in nats per character) and a vision transformer on scikit-learn's digits. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch
from torch import nn

from evoact.tasks import digits as digits_module
from evoact.tasks import source_code as source_code_module
from evoact.tasks import text as text_module
from evoact.tasks import transformer as transformer_module
from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, source_digest
from evoact.tasks.digits import load_digits
from evoact.tasks.source_code import ALPHABET, UNKNOWN, encode, require_source, split_texts, text_revision
from evoact.tasks.text import alphabet, load_text
from evoact.tasks.transformer import Transformer

#: Characters per window of the text tasks on real text (the model predicts every next character).
CONTEXT = 32
_SEED = 0


class _Patches(nn.Module):
    """An 8x8 image as 16 tokens of 2x2 pixels, each embedded linearly."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.project = nn.Linear(4, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.reshape(-1, 4, 2, 4, 2).permute(0, 1, 3, 2, 4).reshape(-1, 16, 4)
        return self.project(patches)


class _GluTask(DatasetTask):
    """What the GLU tasks share: the candidate is a gate; ``gated`` chooses the GLU or the plain FFN."""

    family = "glu"
    gated = True

    def revision(self) -> str:
        """The code's digest, with the network's module and the modules whose code makes these tasks' data."""
        data = source_digest(text_module, digits_module, source_code_module, transformer_module)
        return hashlib.sha256(f"{super().revision()}{data}".encode()).hexdigest()[:16]


class GluTextTransformer(_GluTask):
    """The synthetic language of ``text-transformer`` with GLU feed-forward layers."""

    name = "glu-text"
    description = (
        "causal transformer (2 blocks, width 32) whose FFNs are GLUs gated by the function, predicting the next"
        " character of the synthetic language of text-transformer (loss in nats per character)"
    )
    measures = "a GLU gate: language modelling"
    metric = "loss"
    epochs, batch_size, lr = 3, 32, 1e-2
    width, layers = 32, 2

    def load(self) -> Dataset:
        return load_text()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        vocabulary = len(alphabet())
        return Transformer(
            make_activation,
            nn.Embedding(vocabulary, self.width),
            load_text().x_train.shape[1],
            vocabulary,
            self.width,
            self.layers,
            self.gated,
            causal=True,
        )


class GluTextWideTransformer(GluTextTransformer):
    """Another model size on the same language: twice as wide, three blocks (a held-out GLU task)."""

    name = "glu-text-wide"
    description = (
        "causal transformer (3 blocks, width 64) with GLU feed-forward layers on the synthetic language: another"
        " model size (loss in nats per character)"
    )
    lr = 5e-3
    width, layers = 64, 3


def _windows(ids: np.ndarray, count: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    starts = rng.choice(len(ids) - CONTEXT - 1, size=count, replace=False)
    x = ids[starts[:, None] + np.arange(CONTEXT)]
    return torch.tensor(x), torch.tensor(ids[starts[:, None] + np.arange(1, CONTEXT + 1)])


#: Windows drawn from each split's text.
_SIZES = {"train": 4000, "val": 400, "test": 400}


def _text_dataset(texts: dict[str, str]) -> Dataset:
    """Windows of ``CONTEXT`` characters from the training, validation and test texts, each shifted by one as the
    targets, drawn with a fixed seed."""
    rng = np.random.default_rng(_SEED)
    parts: list[torch.Tensor] = []
    for split, count in _SIZES.items():
        parts += _windows(encode(texts[split]), count, rng)
    return Dataset(*parts)


@functools.lru_cache(maxsize=1)
def load_source_windows() -> Dataset:
    """Python standard-library source (the modules of ``source-char-mlp``, whole modules per split): 4,000 train /
    400 validation / 400 test windows."""
    return _text_dataset(split_texts())


def _topics() -> dict[str, str]:
    """Python's documentation topics (``pydoc_data``, shipped with the interpreter): English prose about the
    language."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise ValueError("this Python ships no pydoc_data (its documentation topics), which glu-docs reads") from None
    return dict(topics)


@functools.lru_cache(maxsize=1)
def load_docs_windows() -> Dataset:
    """Python's documentation topics, every fifth topic (by name) for validation and the next for test: 4,000 train /
    400 validation / 400 test windows."""
    topics = _topics()
    splits: dict[str, list[str]] = {split: [] for split in _SIZES}
    for i, name in enumerate(sorted(topics)):
        splits["val" if i % 5 == 0 else "test" if i % 5 == 1 else "train"].append(topics[name])
    return _text_dataset({split: "\n\n".join(parts) for split, parts in splits.items()})


class _CharGluTask(_GluTask):
    """A causal GLU transformer over characters of real text (printable ASCII and one unknown character)."""

    metric = "loss"
    epochs, batch_size, lr = 4, 32, 1e-2

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        vocabulary = UNKNOWN + 1
        return Transformer(
            make_activation, nn.Embedding(vocabulary, 32), CONTEXT, vocabulary, 32, 2, self.gated, causal=True
        )


class GluSourceTransformer(_CharGluTask):
    """Real program text: the interpreter's standard-library source, held-out modules for validation and test."""

    name = "glu-source"
    description = (
        f"causal transformer (2 blocks, width 32) with GLU feed-forward layers predicting each next character of"
        f" Python standard-library source ({CONTEXT}-character windows, {len(ALPHABET) + 1} symbols; loss in nats)"
    )
    measures = "a GLU gate: language modelling of real code"

    def check(self) -> None:
        require_source()

    def revision(self) -> str:
        """The code's digest and the text's."""
        return text_revision(super().revision())

    def load(self) -> Dataset:
        return load_source_windows()


class GluDocsTransformer(_CharGluTask):
    """Another corpus: English prose, Python's documentation topics (a held-out GLU task)."""

    name = "glu-docs"
    description = (
        f"causal transformer (2 blocks, width 32) with GLU feed-forward layers predicting each next character of"
        f" Python's documentation topics (pydoc_data; {CONTEXT}-character windows; loss in nats)"
    )
    measures = "a GLU gate: language modelling of English prose"

    def check(self) -> None:
        _topics()

    def revision(self) -> str:
        """The code's digest and the text's: another Python's documentation is other data."""
        digest = hashlib.sha256(super().revision().encode())
        for name, text in sorted(_topics().items()):
            digest.update(f"{name}\0{text}\0".encode())
        return digest.hexdigest()[:16]

    def load(self) -> Dataset:
        return load_docs_windows()


class GluVit(_GluTask):
    """A vision transformer with GLU feed-forward layers on scikit-learn's 8x8 digits (2x2-pixel patches)."""

    name = "glu-vit"
    description = (
        "vision transformer (16 patches of 2x2 pixels, 2 blocks, width 32, mean-pooled) with GLU feed-forward"
        " layers classifying scikit-learn's 8x8 digits"
    )
    measures = "a GLU gate: attention over image patches"
    epochs, batch_size, lr = 15, 64, 3e-3

    def load(self) -> Dataset:
        return load_digits()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return Transformer(make_activation, _Patches(32), 16, 10, 32, 2, self.gated, causal=False)
