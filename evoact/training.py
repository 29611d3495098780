"""Train a model on a task's data with one fixed protocol and measure validation and test accuracy."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from evoact.tasks.base import Dataset


class TrainingError(RuntimeError):
    """Training broke down (non-finite loss or outputs): the candidate fails with this reason."""


@dataclass(frozen=True)
class TrainConfig:
    """The training protocol shared by every candidate and baseline of a run."""

    epochs: int = 25
    batch_size: int = 100
    lr: float = 1e-2
    seed: int = 0
    activation_mode: str = "auto"  # compiler.MODES or auto: fused only when the training repays the compile


@dataclass(frozen=True)
class TrainResult:
    """Accuracies after training (test is None when stopped at the hurdle) and the wall time it took."""

    val_acc: float
    test_acc: float | None
    train_loss: float | None
    seconds: float
    probe_acc: float | None = None
    stopped: bool = False


def train(model: nn.Module, data: Dataset, config: TrainConfig, probe_epoch: int | None = None,
          hurdle: float | None = None, device: torch.device | str = "cpu") -> TrainResult:
    """Adam on cross-entropy for ``config.epochs`` epochs, with a seeded batch order, on ``device``.

    After ``probe_epoch`` epochs the validation accuracy is measured (``probe_acc``); below ``hurdle`` training
    stops there. Measuring does not disturb training, so a survivor ends exactly as an uninterrupted run.
    """
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    order = torch.Generator().manual_seed(config.seed)
    n = len(data.x_train)
    start = time.perf_counter()
    model.train()
    loss_sum, probe_acc = 0.0, None
    for epoch in range(config.epochs):
        perm = torch.randperm(n, generator=order)
        loss_sum, batches = 0.0, 0
        for i in range(0, n, config.batch_size):
            idx = perm[i : i + config.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(data.x_train[idx].to(device)), data.y_train[idx].to(device))
            if not torch.isfinite(loss):
                raise TrainingError(f"non-finite loss in epoch {epoch + 1}")
            loss.backward()
            opt.step()
            loss_sum, batches = loss_sum + loss.item(), batches + 1
        loss_sum /= batches
        if epoch + 1 == probe_epoch:
            probe_acc = accuracy(model, data.x_val, data.y_val)
            if hurdle is not None and probe_acc < hurdle:
                return TrainResult(probe_acc, None, loss_sum, time.perf_counter() - start, probe_acc, stopped=True)
    seconds = time.perf_counter() - start
    return TrainResult(accuracy(model, data.x_val, data.y_val),
                       accuracy(model, data.x_test, data.y_test), loss_sum, seconds, probe_acc)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of correct predictions, in eval mode and in batches (on the model's device); non-finite outputs fail."""
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size].to(device))
        if not torch.isfinite(logits).all():
            model.train()
            raise TrainingError("non-finite network outputs at evaluation")
        correct += int((logits.argmax(1).cpu() == y[i : i + batch_size]).sum())
    model.train()
    return correct / len(x)
