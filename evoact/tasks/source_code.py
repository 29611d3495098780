"""A character-level language model of real text: Python source of the running interpreter's standard library.

Nothing is downloaded: the text is read from the installed standard library (``sysconfig``), whole modules in a
fixed list, so training, validation and test text come from different files. Its exact text follows the Python
version, as the data of a task on real text does.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import sysconfig
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask

CONTEXT = 16
#: Printable ASCII and the newline; anything else (tabs, non-ASCII letters) is one unknown character.
ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))
UNKNOWN = len(ALPHABET)
#: Standard-library modules (pure Python in every supported version), each wholly in one split.
MODULES = {
    "train": (
        "argparse",
        "bisect",
        "contextlib",
        "dataclasses",
        "difflib",
        "fnmatch",
        "functools",
        "glob",
        "operator",
        "pprint",
        "random",
        "shlex",
        "shutil",
        "statistics",
        "tokenize",
        "traceback",
    ),
    "val": ("calendar", "heapq", "queue", "string"),
    "test": ("copy", "csv", "fractions", "sched", "textwrap"),
}
SIZES = {"train": 240_000, "val": 20_000, "test": 20_000}  # windows drawn from each split's text
_SEED = 0


def stdlib_path() -> Path:
    """Where the running interpreter's standard library lies."""
    return Path(sysconfig.get_paths()["stdlib"])


def missing_modules() -> list[str]:
    """The listed modules whose source file is not installed (some distributions ship only bytecode)."""
    root = stdlib_path()
    return [m for names in MODULES.values() for m in names if not (root / f"{m}.py").is_file()]


def require_source() -> None:
    """Raise a one-line error naming the first listed module whose source is not installed."""
    if missing := missing_modules():
        raise ValueError(f"the standard library's source is not installed at {stdlib_path()}: no {missing[0]}.py")


def split_texts() -> dict[str, str]:
    """Each split's text (train, val, test): its modules' source, joined."""
    require_source()
    return {
        split: "\n\n".join((stdlib_path() / f"{m}.py").read_text(encoding="utf-8") for m in names)
        for split, names in MODULES.items()
    }


def text_revision(code_revision: str) -> str:
    """A task's code revision with the text's digest: another Python's standard library is other data."""
    digest = hashlib.sha256(code_revision.encode())
    for path in (stdlib_path() / f"{m}.py" for names in MODULES.values() for m in names):
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    return digest.hexdigest()[:16]


def encode(text: str) -> np.ndarray:
    """Character ids: a character's place in ``ALPHABET``, or ``UNKNOWN``."""
    table = np.full(128, UNKNOWN, dtype=np.int64)
    table[[ord(c) for c in ALPHABET]] = np.arange(len(ALPHABET))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.where(codes < 128, table[np.minimum(codes, 127)], UNKNOWN)


def _windows(ids: np.ndarray, count: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    starts = rng.choice(len(ids) - CONTEXT, size=count, replace=False)
    x = ids[starts[:, None] + np.arange(CONTEXT)]
    return torch.tensor(x), torch.tensor(ids[starts + CONTEXT])


@functools.lru_cache(maxsize=1)
def load_source() -> Dataset:
    """Windows of ``CONTEXT`` characters and the character after each: 240,000 train / 20,000 val / 20,000 test,
    drawn with a fixed seed from each split's modules."""
    rng = np.random.default_rng(_SEED)
    parts: list[torch.Tensor] = []
    for split_name, text in split_texts().items():
        parts += _windows(encode(text), SIZES[split_name], rng)
    return Dataset(*parts)


class _CharMlp(nn.Module):
    """Bengio et al.'s neural language model: the context's character embeddings side by side, then an MLP."""

    def __init__(self, make_activation: ActivationFactory, embedding: int = 16, width: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(UNKNOWN + 1, embedding)
        self.mlp = nn.Sequential(
            nn.Linear(CONTEXT * embedding, width),
            make_activation(),
            nn.Linear(width, width),
            make_activation(),
            nn.Linear(width, UNKNOWN + 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.embed(x).flatten(1))


class SourceCharMlp(DatasetTask):
    """Next-character prediction on real program text by an MLP over a fixed context, trained by AdamW."""

    name = "source-char-mlp"
    description = (
        f"character MLP language model ({CONTEXT} characters -> 2 hidden layers of 256), AdamW with cosine decay, "
        f"on Python {sys.version_info.major}.{sys.version_info.minor} standard-library source, held-out modules "
        "(240,000 / 20,000 / 20,000 windows; loss in nats per character)"
    )
    measures = "language modelling of real text by an MLP without attention or normalisation"
    metric = "loss"
    epochs, batch_size, lr = 1, 128, 2e-3
    optimizer, weight_decay, cosine = "adamw", 0.01, True

    def check(self) -> None:
        require_source()

    def revision(self) -> str:
        """The code's digest and the text's."""
        return text_revision(super().revision())

    def load(self) -> Dataset:
        return load_source()

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _CharMlp(make_activation)
