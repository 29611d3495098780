"""CIFAR-10 with ResNet-20, for users with a GPU and the dataset on disk in torchvision's layout (never downloaded)."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset, DatasetTask

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
VAL_SIZE = 5000
_NUMPY_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
    (f"numpy.{core}.{module}", name)
    for core in ("core", "_core")
    for module, name in (("multiarray", "_reconstruct"), ("numeric", "_frombuffer"))
}


class _BatchUnpickler(pickle.Unpickler):
    """CIFAR's batches are pickles: read them allowing only NumPy arrays, so a crafted file cannot run code."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="latin1").load()
        images = np.asarray(batch[b"data"] if b"data" in batch else batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"] if b"labels" in batch else batch["labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
    if images.ndim != 2 or images.shape[1] != 3072 or len(labels) != len(images):
        raise ValueError(f"{path}: expected N x 3072 images and N labels, got {images.shape} and {labels.shape}")
    return images.reshape(-1, 3, 32, 32), labels


def batches_folder(data_dir: str | None, task: str = "cifar10-resnet20") -> Path:
    """The ``cifar-10-batches-py`` folder under ``data_dir`` (or ``data_dir`` itself); a one-line error, naming the
    ``task`` that asked, if absent."""
    if not data_dir:
        raise ValueError(
            f"{task} reads CIFAR-10 from disk: pass --data-dir DIR, where DIR holds"
            f" {FOLDER}/ (torchvision's layout); evoact never downloads it"
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ValueError(f"--data-dir {data_dir}: no such folder ({task} reads {FOLDER}/ under it)")
    folder = root if root.name == FOLDER else root / FOLDER
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder}: not CIFAR-10 in torchvision's layout (missing {', '.join(missing)})")
    return folder


@functools.lru_cache(maxsize=2)
def load_cifar10(data_dir: str) -> Dataset:
    """The 50,000/10,000 split with the last 5,000 training images held out for validation, normalised per channel."""
    folder = batches_folder(data_dir)
    parts = [_read_batch(folder / name) for name in TRAIN_FILES]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xt, yt = _read_batch(folder / TEST_FILE)
    val = min(VAL_SIZE, len(x) // 10)
    x_train = torch.tensor(x[:-val], dtype=torch.float32) / 255
    mean, std = x_train.mean(dim=(0, 2, 3), keepdim=True), x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
    scale = lambda a: (torch.tensor(a, dtype=torch.float32) / 255 - mean) / std  # noqa: E731
    return Dataset(
        (x_train - mean) / std,
        torch.tensor(y[:-val]),
        scale(x[-val:]),
        torch.tensor(y[-val:]),
        scale(xt),
        torch.tensor(yt),
    )


class _Block(nn.Module):
    def __init__(self, make_activation: ActivationFactory, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.act1, self.act2 = make_activation(), make_activation()
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


class _ResNet20(nn.Module):
    """He et al. (2016)'s CIFAR ResNet with n=3: 3 stages of 3 basic blocks (16, 32, 64 channels)."""

    def __init__(self, make_activation: ActivationFactory) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), make_activation())
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(_Block(make_activation, cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class Cifar10Task(DatasetTask):
    """A task on CIFAR-10 from ``--data-dir`` (never downloaded); trains on the GPU when there is one."""

    def check(self) -> None:
        batches_folder(self.data_dir, self.name)

    def load(self) -> Dataset:
        return load_cifar10(str(batches_folder(self.data_dir, self.name)))

    def device(self) -> torch.device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Cifar10ResNet20(Cifar10Task):
    """ResNet-20 on CIFAR-10."""

    name = "cifar10-resnet20"
    description = "ResNet-20 on CIFAR-10 (45,000 train / 5,000 val / 10,000 test) from --data-dir; GPU recommended"
    measures = "a residual image network with batch normalisation, at the Swish search's scale"

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return _ResNet20(make_activation)
