"""What a task is: something that trains a model built around an activation and scores it on held-out data."""

from __future__ import annotations

import hashlib
import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from evoact import native
from evoact.compiler import derivative, lowering, module
from evoact.training import Dataset, Hurdle, Schedule, TrainConfig, TrainResult, train

#: What turns a formula into the module every task trains (the compiler and torch's own ops): part of each revision.
COMPILER = (lowering, derivative, module, native)

#: Makes each nonlinearity of a task's model: a fresh module, ``inplace=`` taken as torch's activations take it.
ActivationFactory = Callable[..., nn.Module]

__all__ = ["ActivationFactory", "Dataset", "DatasetTask", "Task", "cache_dir", "source_digest", "split"]


def split(x: np.ndarray, y: np.ndarray, train: int, val: int, regression: bool) -> Dataset:
    """Standardised on the training split (each input, each regression target); validation and test follow it."""
    x = (x - x[:train].mean(0)) / x[:train].std(0)
    if regression:
        y = (y - y[:train].mean(0)) / y[:train].std(0)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32 if regression else torch.long)
    parts = (slice(0, train), slice(train, train + val), slice(train + val, None))
    return Dataset(*(t for part in parts for t in (xt[part], yt[part])))


class Task(ABC):
    """A problem on which a candidate activation is trained and scored on held-out data.

    ``metric``: what selection reads, ``accuracy`` (higher is better) or ``loss`` (lower is better; regression and
    language modelling). ``measures``: what about an activation the task tests, in words. ``family``: what the
    function is in the network (``pointwise`` or ``glu``, ``tasks.FAMILIES``).
    """

    name: str
    description: str
    measures: str = ""
    metric: str = "accuracy"  # one of scoring.METRICS
    family: str = "pointwise"  # what the function is in the network: every nonlinearity, or a GLU's gate ("glu")

    def check(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Raise what is wrong with the task's inputs (a missing data folder) cheaply, before a run is announced."""

    def prepare(self) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Make the data ready once, in the driver, before any worker needs it (generate, cache, check paths)."""

    def steps(self, config: TrainConfig) -> int:
        """Optimizer steps one training takes (0 if unknown): decides whether compiling the activation pays."""
        return 0

    def probe_step(self, config: TrainConfig, fraction: float) -> int | None:
        """The step after which the quality hurdle is measured (None: this task is not probed)."""
        return None

    def device(self) -> torch.device:
        """Where the model trains: the CPU unless a task is worth a GPU."""
        return torch.device("cpu")

    def plain(self) -> Task:
        """This task's network with plain feed-forward layers ``U act(W x)`` at equal parameters, the function their
        activation: what a GLU is compared with. Only GLU tasks have one."""
        raise ValueError(f"task {self.name} has no GLU layers, so it has no plain-FFN form")

    def revision(self) -> str:
        """A digest of the code that decides this task's outcomes (``code_modules``): the fitness cache shares outcomes
        only within one revision, so changed code never reuses stale fitness."""
        return source_digest(*self.code_modules())

    def code_modules(self) -> list[Any]:
        """The modules whose code decides this task's outcomes: its own, those of its parent classes and of what it
        imports from other task modules (a network block), the task base, the training loop and the compiler."""
        mine = inspect.getmodule(type(self))
        parents = [inspect.getmodule(c) for c in type(self).__mro__ if issubclass(c, Task)]
        used = [inspect.getmodule(value) for value in vars(mine).values()] if mine is not None else []
        helpers = [m for m in used if m is not None and m.__name__.startswith("evoact.tasks.")]
        ordered = [mine, inspect.getmodule(Task), *parents, *sorted(helpers, key=lambda m: m.__name__)]
        return [*dict.fromkeys(m for m in ordered if m is not None), inspect.getmodule(train), *COMPILER]

    def revisions(self) -> frozenset[str]:
        """Every revision a stored result of this same code may carry (``revision``'s, and older evoacts' forms)."""
        return frozenset({self.revision()})

    @abstractmethod
    def run(
        self,
        make_activation: ActivationFactory,
        config: TrainConfig,
        probe_step: int | None = None,
        hurdle: Hurdle | None = None,
    ) -> TrainResult:
        """Train a fresh model whose every nonlinearity is ``make_activation()`` and measure it."""


class DatasetTask(Task):
    """A task made of a dataset and a model, trained with evoact's one protocol (``training.train``).

    ``epochs``, ``batch_size`` and ``lr`` are its own training (at the ``quick`` budget); ``loss`` is
    ``cross_entropy`` (classification, also at every position of a sequence) or ``mse`` (regression).
    ``optimizer`` names one of ``training.OPTIMIZERS`` (Adam unless a task says otherwise), with ``momentum`` and
    ``nesterov`` (SGD's) and ``weight_decay``; ``cosine`` decays the learning rate to 0 over the training. A different
    weight initialisation is the task's ``build_model``'s. ``bf16``: on CUDA, train under bfloat16 autocast with
    images channels-last (``training.train``'s), set where a GPU measured it to pay.
    """

    epochs: float = 25
    batch_size: int = 100
    lr: float = 1e-2
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    cosine: bool = False
    bf16: bool = False

    def __init__(self, data_dir: str | None = None) -> None:
        self.data_dir = data_dir

    @abstractmethod
    def load(self) -> Dataset:
        """The task's data, generated or read from disk (never downloaded)."""

    @abstractmethod
    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        """A fresh model whose every nonlinearity is ``make_activation()``."""

    def prepare(self) -> None:
        self.load()

    def schedule(self, config: TrainConfig) -> Schedule:
        """This task's training under the run's protocol: the run's numbers where it sets them, else the task's own."""
        epochs = config.epochs if config.epochs is not None else self.epochs * config.epoch_scale
        return Schedule(
            epochs,
            config.batch_size or self.batch_size,
            config.lr or self.lr,
            config.seed,
            self.optimizer,
            self.momentum,
            self.weight_decay,
            self.nesterov,
            self.cosine,
        )

    def steps(self, config: TrainConfig) -> int:
        return self.schedule(config).steps(len(self.load().x_train))

    def probe_step(self, config: TrainConfig, fraction: float) -> int | None:
        return self.schedule(config).probe_step(len(self.load().x_train), fraction)

    def run(
        self,
        make_activation: ActivationFactory,
        config: TrainConfig,
        probe_step: int | None = None,
        hurdle: Hurdle | None = None,
    ) -> TrainResult:
        data = self.load()
        torch.manual_seed(config.seed)
        return train(
            self.build_model(make_activation),
            data,
            self.schedule(config),
            self.loss,
            probe_step,
            hurdle,
            self.device(),
            bf16=self.bf16,
        )


def source_digest(*objects: object) -> str:
    """A short digest of the source files that define ``objects`` (modules, classes, functions; another object: its
    class)."""
    digest = hashlib.sha256()
    for obj in objects:
        defined: Any = obj if inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj) else type(obj)
        source = inspect.getsourcefile(defined)
        # no source file (a bytecode-only install): its name, the same in every process (a repr may hold an address)
        named = f"{getattr(defined, '__module__', '')}.{getattr(defined, '__qualname__', '')}"
        digest.update(Path(source).read_bytes() if source and Path(source).is_file() else named.encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$EVOACT_CACHE`` or ``~/.cache/evoact``."""
    path = Path(os.environ.get("EVOACT_CACHE") or Path.home() / ".cache" / "evoact")
    path.mkdir(parents=True, exist_ok=True)
    return path
