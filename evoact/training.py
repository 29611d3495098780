"""Train a model on a task's data with one protocol and measure it on the validation and test splits.

Classification is trained on cross-entropy and measured by accuracy and loss (a model may predict at every
position of a sequence); regression is trained and measured by the mean squared error. A task chooses its
optimizer from ``OPTIMIZERS`` (Adam unless it says otherwise).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: How a task's model is trained and measured.
LOSSES = ("cross_entropy", "mse")

OptimizerFactory = Callable[[Iterable[nn.Parameter], "Schedule"], torch.optim.Optimizer]

#: The optimizers a task may train with, by name: each makes one from the parameters and the schedule's numbers.
#: ``adam`` (the default; the schedule's weight decay is Adam's L2 term, 0 unless set), ``adamw`` (decoupled weight
#: decay, on every parameter), ``sgd`` (with the schedule's momentum, Nesterov's if it says so, and weight decay).
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adam": lambda params, s: torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay),
    "adamw": lambda params, s: torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay),
    "sgd": lambda params, s: torch.optim.SGD(
        params, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov, weight_decay=s.weight_decay
    ),
}


@dataclass(frozen=True)
class Dataset:
    """Tensors of one task's splits: validation drives selection, test is kept for reports and confirmation."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


class TrainingError(RuntimeError):
    """Training broke down (non-finite loss or outputs): the candidate fails with this reason."""


class TaskError(TrainingError):
    """The task broke its contract (what it returns, whether its model uses the candidate), whatever the function: no
    function can train on it, so a search stops at the first baseline that meets it."""


@dataclass(frozen=True)
class TrainConfig:
    """The training protocol shared by every candidate and baseline of a run: what the tasks do not fix themselves.

    ``epochs``, ``batch_size``, ``lr``: the same for every task, or None for each task's own; a task's own epochs
    are multiplied by ``epoch_scale`` (the budget's), which may leave a fraction of an epoch.
    """

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    activation_mode: str = "auto"  # compiler.MODES or auto: fused only when the training repays the compile
    epoch_scale: float = 1.0


@dataclass(frozen=True)
class Schedule:
    """One training's length, step size and optimizer: epochs (a fraction of one allowed), batch size, learning rate,
    seed, and the optimizer (a name in ``OPTIMIZERS``) with its momentum (SGD's), Nesterov's form and weight decay;
    ``cosine``: the learning rate falls from ``lr`` to 0 along a half cosine over the steps (else it stays ``lr``)."""

    epochs: float
    batch_size: int
    lr: float
    seed: int
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    cosine: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        if self.optimizer != "sgd" and (self.momentum or self.nesterov):
            raise ValueError(f"momentum and nesterov are SGD's; {self.optimizer} has its own")
        if self.nesterov and self.momentum <= 0:
            raise ValueError("Nesterov's momentum needs a momentum above 0")

    def make_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """This schedule's optimizer over ``params``."""
        return OPTIMIZERS[self.optimizer](params, self)

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate for the step after ``step`` of ``total``: ``lr``, or its cosine decay."""
        return 0.5 * self.lr * (1 + math.cos(math.pi * step / total)) if self.cosine else self.lr

    def steps(self, n: int) -> int:
        """Optimizer steps over ``n`` training examples."""
        return max(1, round(self.epochs * math.ceil(n / self.batch_size)))

    def probe_step(self, n: int, fraction: float) -> int:
        """The step after which the quality hurdle is measured: whole epochs when there are some, else a fraction."""
        per_epoch = math.ceil(n / self.batch_size)
        if self.epochs >= 1:
            return min(self.steps(n), max(1, round(self.epochs * fraction)) * per_epoch)
        return max(1, round(self.steps(n) * fraction))


@dataclass(frozen=True)
class Hurdle:
    """Stop a training whose validation measure is worse than ``limit`` at the probe: accuracy below, or loss above."""

    metric: str
    limit: float

    def fails(self, acc: float | None, loss: float) -> bool:
        """Whether the probe's measures miss the hurdle."""
        return (acc is not None and acc < self.limit) if self.metric == "accuracy" else loss > self.limit


@dataclass(frozen=True)
class TrainResult:
    """Measures after training (test is None when stopped at the hurdle; accuracies None for regression) and time."""

    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    seconds: float
    probe_acc: float | None = None
    stopped: bool = False
    val_loss: float | None = None
    test_loss: float | None = None
    probe_loss: float | None = None
    curve: tuple[float, ...] = ()  # the validation loss after each epoch


#: A validation measure: accuracy (None for regression) and mean loss.
Measures = tuple[float | None, float]


#: How many steps the training loop runs between reading the loss back from the device: each read waits for the
#: device (on a GPU, every step's read would leave it idle between launches), so non-finite losses are caught late by
#: at most this many steps, which changes nothing a result reports.
READBACK_STEPS = 16


def train(
    model: nn.Module,
    data: Dataset,
    schedule: Schedule,
    loss: str = "cross_entropy",
    probe_step: int | None = None,
    hurdle: Hurdle | None = None,
    device: torch.device | str = "cpu",
    readback: int = READBACK_STEPS,
    bf16: bool = False,
) -> TrainResult:
    """The schedule's optimizer (Adam by default) on ``loss`` for its steps, with a seeded batch order, on ``device``.

    After ``probe_step`` steps the validation split is measured (``probe_acc``, ``probe_loss``); short of ``hurdle``
    training stops there. After each epoch it is measured too, for the learning curve. Measuring does not disturb
    training, so a survivor ends exactly as an uninterrupted run. The training split is moved to ``device`` once,
    and the loss is read back every ``readback`` steps (and at the probe and each epoch's end), not every step.
    ``bf16``: on CUDA, the forward runs under bfloat16 autocast with images channels-last (elsewhere it is ignored).
    """
    if loss not in LOSSES:  # anything else would train as cross-entropy without a word
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    device = torch.device(device)
    mixed = bf16 and device.type == "cuda"
    model.to(device)
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    if mixed and x_train.dim() == 4:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch takes it; its stubs do not
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    opt = schedule.make_optimizer(model.parameters())
    order = torch.Generator().manual_seed(schedule.seed)
    n = len(data.x_train)
    total, step, epoch = schedule.steps(n), 0, 0
    start = time.perf_counter()
    model.train()
    loss_sum, batches, probe, curve = 0.0, 0, None, []
    while step < total:
        perm = torch.randperm(n, generator=order).to(device)
        epoch += 1
        running, batches = torch.zeros((), dtype=torch.float64, device=device), 0  # as exact as a Python sum
        for i in range(0, n, schedule.batch_size):
            idx = perm[i : i + schedule.batch_size]
            opt.zero_grad(set_to_none=True)
            if schedule.cosine:
                for group in opt.param_groups:
                    group["lr"] = schedule.lr_at(step, total)
            with torch.autocast(device.type, torch.bfloat16, enabled=mixed):
                output = model(x_train[idx])
            value = _loss(output.float() if mixed else output, y_train[idx], loss)
            value.backward()
            opt.step()
            running, batches, step = running + value.detach().double(), batches + 1, step + 1
            if step % readback == 0 or step in (probe_step, total) or i + schedule.batch_size >= n:
                loss_sum = read_back(running, epoch)
            if step == probe_step:
                probe = measure(model, data.x_val, data.y_val, loss)
                if hurdle is not None and hurdle.fails(*probe):
                    return stopped_at(probe, loss_sum / batches, time.perf_counter() - start)
            if step == total:
                break
        if step < total:  # the last epoch's measure is the final one, below
            curve.append(measure(model, data.x_val, data.y_val, loss)[1])
    seconds = time.perf_counter() - start
    return finished(lambda x, y: measure(model, x, y, loss), data, loss_sum / max(batches, 1), seconds, probe, curve)


def stopped_at(probe: Measures, train_loss: float, seconds: float) -> TrainResult:
    """A training stopped at its probe (short of the hurdle): its probe's measures are its validation ones."""
    return TrainResult(probe[0], None, train_loss, seconds, probe[0], True, val_loss=probe[1], probe_loss=probe[1])


def finished(
    scores: Callable[[torch.Tensor, torch.Tensor], Measures],
    data: Dataset,
    train_loss: float,
    seconds: float,
    probe: Measures | None,
    curve: list[float],
) -> TrainResult:
    """A whole training's result: validation and test measured by ``scores``; the curve ends with validation's loss."""
    (val_acc, val_loss), (test_acc, test_loss) = scores(data.x_val, data.y_val), scores(data.x_test, data.y_test)
    return TrainResult(
        val_acc,
        test_acc,
        train_loss,
        seconds,
        probe and probe[0],
        val_loss=val_loss,
        test_loss=test_loss,
        probe_loss=probe and probe[1],
        curve=(*curve, val_loss),
    )


def read_back(running: torch.Tensor, epoch: int) -> float:
    """The epoch's summed loss so far, read from the device (one wait); a non-finite one fails the training."""
    value = running.item()
    if not math.isfinite(value):
        raise TrainingError(f"non-finite loss in epoch {epoch}")
    return value


def _loss(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "mse":
        return F.mse_loss(output.reshape(target.shape), target)
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))


@torch.no_grad()
def measure(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy", batch_size: int = 1000
) -> tuple[float | None, float]:
    """Accuracy (None for regression) and mean loss, in eval mode and in batches; non-finite outputs fail."""
    device = next(model.parameters()).device
    model.eval()
    correct, total = 0, 0.0
    for i in range(0, len(x), batch_size):
        output = model(x[i : i + batch_size].to(device))
        if not torch.isfinite(output).all():
            model.train()
            raise TrainingError("non-finite network outputs at evaluation")
        target = y[i : i + batch_size].to(device)
        total += float(_loss(output, target, loss)) * target.numel()
        if loss == "cross_entropy":
            correct += int((output.argmax(-1) == target.reshape(output.shape[:-1])).sum())
    model.train()
    if not math.isfinite(total):  # finite outputs far from the targets: float32's squared error overflows
        raise TrainingError("non-finite loss at evaluation")
    count = y.numel()
    return (correct / count if loss == "cross_entropy" else None), total / count


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of correct predictions (classification)."""
    acc, _ = measure(model, x, y, "cross_entropy", batch_size)
    assert acc is not None  # cross-entropy is always measured with accuracy
    return acc
