"""GLU tasks: the candidate is the gate g of every feed-forward layer FFN(x) = U (g(W x) * V x) (Shazeer 2020).

The gated layer has the parameters of the plain FFN it replaces: its hidden width is 2/3 of the plain one's, as in
Shazeer 2020 and in Llama's SwiGLU. A GLU task's ``plain()`` builds the same network with the plain FFN
``U act(W x)`` instead (what a GLU is compared with at equal parameters). Networks: small pre-LayerNorm
transformers, causal on text (a synthetic language, Python's own source, Python's documentation, SymPy's docstrings;
loss in nats per character), a vision transformer on scikit-learn's digits and a sequence transformer on MNIST-1D.
Nothing is downloaded.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoact.tasks import digits as digits_module
from evoact.tasks import mnist1d as mnist1d_module
from evoact.tasks import source_code as source_code_module
from evoact.tasks import text as text_module
from evoact.tasks import transformer as transformer_module
from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask, Task, source_digest
from evoact.tasks.digits import load_digits
from evoact.tasks.mnist1d import load_mnist1d
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

    def plain(self) -> Task:
        """The same network with plain FFNs ``U act(W x)`` at equal parameters."""
        twin = copy.copy(self)
        twin.gated = False
        return twin

    def revision(self) -> str:
        """The code's digest, with the network's module and the modules whose code makes these tasks' data."""
        data = source_digest(text_module, digits_module, mnist1d_module, source_code_module, transformer_module)
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


def _windows(ids: np.ndarray, count: int, rng: np.random.Generator, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    starts = rng.choice(len(ids) - context - 1, size=count, replace=False)
    x = ids[starts[:, None] + np.arange(context)]
    return torch.tensor(x), torch.tensor(ids[starts[:, None] + np.arange(1, context + 1)])


#: Windows drawn from each split's text.
_SIZES = {"train": 4000, "val": 400, "test": 400}


def _text_dataset(texts: dict[str, str], context: int = CONTEXT, sizes: dict[str, int] = _SIZES) -> Dataset:
    """Windows of ``context`` characters from the training, validation and test texts, each shifted by one as the
    targets, drawn with a fixed seed."""
    rng = np.random.default_rng(_SEED)
    parts: list[torch.Tensor] = []
    for split, count in sizes.items():
        parts += _windows(encode(texts[split]), count, rng, context)
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


# --- the GLU test group: other data, model sizes and training protocols; only reported, nothing chosen by it -------

#: SymPy subpackages whose docstrings make each split of ``glu-sympy-docs`` (whole subpackages, tests left out).
SYMPY_PACKAGES = {"train": ("core", "functions", "simplify"), "val": ("sets", "series"), "test": ("logic", "ntheory")}
#: Characters per window of ``glu-sympy-docs``: twice the other text tasks' context.
SYMPY_CONTEXT = 64


@functools.lru_cache(maxsize=1)
def sympy_docstrings() -> dict[str, str]:
    """Each split's text: the docstrings of its SymPy subpackages' modules, classes and functions (read with ``ast``
    from the installed SymPy's source, never imported), in file order."""
    import sympy

    root = Path(sympy.__file__).parent
    texts = {}
    for split, packages in SYMPY_PACKAGES.items():
        docs = []
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                if "tests" in path.relative_to(root).parts:
                    continue
                tree = ast.parse(path.read_text(encoding="utf-8"))
                nodes = (n for n in ast.walk(tree) if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef))
                docs += [doc for node in nodes if (doc := ast.get_docstring(node))]
        texts[split] = "\n\n".join(docs)
    return texts


@functools.lru_cache(maxsize=1)
def load_sympy_windows() -> Dataset:
    """SymPy's docstrings (English, mathematics and doctest code), split by subpackage: 6,000 train / 400 validation
    / 400 test windows of ``SYMPY_CONTEXT`` characters."""
    return _text_dataset(sympy_docstrings(), SYMPY_CONTEXT, {"train": 6000, "val": 400, "test": 400})


class GluSympyDocs(_GluTask):
    """Another corpus, model size and protocol: SymPy's docstrings, 3 blocks of width 48 over 64 characters, AdamW with
    weight decay and cosine decay (a test GLU task)."""

    name = "glu-sympy-docs"
    description = (
        f"causal transformer (3 blocks, width 48) with GLU feed-forward layers predicting each next character of"
        f" SymPy's docstrings ({SYMPY_CONTEXT}-character windows; AdamW, weight decay 0.1, cosine decay; loss in nats)"
    )
    measures = "a GLU gate: language modelling of mathematical documentation, under AdamW with weight decay"
    metric = "loss"
    epochs, batch_size, lr = 3, 32, 3e-3
    optimizer, weight_decay, cosine = "adamw", 0.1, True

    def revision(self) -> str:
        """The code's digest and the text's: another SymPy's docstrings are other data."""
        digest = hashlib.sha256(super().revision().encode())
        for split, text in sorted(sympy_docstrings().items()):
            digest.update(f"{split}\0{text}\0".encode())
        return digest.hexdigest()[:16]

    def load(self) -> Dataset:
        return load_sympy_windows()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        vocabulary = UNKNOWN + 1
        return Transformer(
            make_activation, nn.Embedding(vocabulary, 48), SYMPY_CONTEXT, vocabulary, 48, 3, self.gated, causal=True
        )


class _Segments(nn.Module):
    """A 40-sample MNIST-1D sequence as 10 tokens of 4 samples, each embedded linearly."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.project = nn.Linear(4, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x.reshape(len(x), 10, 4))


class GluMnist1d(_GluTask):
    """Another modality and protocol: a sequence transformer classifying MNIST-1D, AdamW with weight decay and cosine
    decay (a test GLU task)."""

    name = "glu-mnist1d"
    description = (
        "transformer (10 tokens of 4 samples, 2 blocks, width 32, mean-pooled) with GLU feed-forward layers"
        " classifying MNIST-1D's 1-D digit signals (AdamW, weight decay 0.05, cosine decay)"
    )
    measures = "a GLU gate: attention over a 1-D signal, under AdamW with weight decay"
    epochs, batch_size, lr = 20, 64, 3e-3
    optimizer, weight_decay, cosine = "adamw", 0.05, True

    def load(self) -> Dataset:
        return load_mnist1d()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return Transformer(make_activation, _Segments(32), 10, 10, 32, 2, self.gated, causal=False)
