"""CIFAR-10 at the speedrun's pace: a network and training written from the description of Jordan (2024), "94% on
CIFAR-10 in 3.29 seconds on a single GPU" (airbench94), with the candidate wherever that network uses GELU.

The network: a frozen 2x2 patch-whitening convolution (its filters are the training patches' principal directions,
scaled to unit variance, with their negatives), then three groups of [3x3 convolution, 2x2 max-pool, BatchNorm,
activation, 3x3 convolution, BatchNorm, activation] of widths 64, 256 and 256, a 3x3 max-pool and a linear head
scaled by 1/9. Convolutions start as partial identities; BatchNorm scales stay at 1 (only shifts learn).

The training: Nesterov SGD (momentum 0.85) on the label-smoothed (0.2) cross-entropy summed over the batch, with
learning rate and weight decay decoupled from the momentum and batch size, a triangular learning-rate schedule,
Lookahead every 5 steps, the whitening layer's bias learning for the first 3 epochs only, random 2-pixel
translations (reflected borders) and alternating horizontal flips (each image flipped in every other epoch), and
test-time flipping. Data and augmentation stay on the device, and the loss is read back every few steps.

CIFAR-10 comes from ``--data-dir`` in torchvision's layout (never downloaded). ``write_synthetic_cifar10`` writes
an image problem in the same layout that no linear model solves, for CPU tests and for timing without the data.
"""

from __future__ import annotations

import math
import pickle
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evoact.tasks.base import ActivationFactory, Dataset
from evoact.tasks.cifar10 import FOLDER, TEST_FILE, TRAIN_FILES, Cifar10Task
from evoact.training import (
    READBACK_STEPS,
    Hurdle,
    Schedule,
    TrainConfig,
    TrainingError,
    TrainResult,
    finished,
    read_back,
    stopped_at,
)

WIDTHS = (64, 256, 256)
MOMENTUM = 0.85
WEIGHT_DECAY = 0.0153  # per 1024 examples, decoupled as the learning rate is
BIAS_SCALE = 64.0  # BatchNorm shifts and the whitening bias learn this much faster
LABEL_SMOOTHING = 0.2
WHITEN_BIAS_EPOCHS = 3
LOOKAHEAD_EVERY = 5
TRANSLATE = 2


class _Group(nn.Module):
    def __init__(self, make_activation: ActivationFactory, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.norm1 = _conv(cin, cout), _norm(cout)
        self.conv2, self.norm2 = _conv(cout, cout), _norm(cout)
        self.act1, self.act2 = make_activation(), make_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return self.act2(self.norm2(self.conv2(x)))


def _conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():  # a partial identity: the first min(cin, cout) channels pass through at first
        nn.init.dirac_(conv.weight[: min(cin, cout)])
    return conv


def _norm(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, momentum=0.4, eps=1e-12)
    norm.weight.requires_grad_(False)
    return norm


class FastNet(nn.Module):
    """The speedrun's network around ``make_activation``; ``whiten`` sets its first layer from training images."""

    def __init__(self, make_activation: ActivationFactory, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = make_activation()
        self.groups = nn.Sequential(
            _Group(make_activation, 24, widths[0]),
            _Group(make_activation, widths[0], widths[1]),
            _Group(make_activation, widths[1], widths[2]),
        )
        self.head = nn.Linear(widths[2], 10, bias=False)

    @torch.no_grad()
    def whiten_from(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """The first layer's filters from 2x2 patches of ``images``: principal directions scaled to unit variance."""
        count, total, outer = 0, torch.zeros(12, dtype=torch.float64), torch.zeros(12, 12, dtype=torch.float64)
        for chunk in images.split(500):  # the covariance a chunk at a time: 5,000 images' patches are 0.5 GB at once
            patches = chunk.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 12).double().cpu()
            count, total, outer = count + len(patches), total + patches.sum(0), outer + patches.T @ patches
        mean = total / count
        values, vectors = torch.linalg.eigh(outer / count - torch.outer(mean, mean))
        filters = (vectors.T / torch.sqrt(values.clamp_min(0) + eps)[:, None]).reshape(12, 3, 2, 2)
        filters = filters.flip(0).to(self.whiten.weight)  # largest variance first
        self.whiten.weight.copy_(torch.cat([filters, -filters]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.act(self.whiten(x)))
        return self.head(F.max_pool2d(x, 3).flatten(1)) / 9


class Cifar10Fast(Cifar10Task):
    """The speedrun's network and training on CIFAR-10 from ``--data-dir``; trains on the GPU when there is one."""

    name = "cifar10-fast"
    description = (
        "airbench94-style network (whitened 2x2 patches, conv groups 64/256/256, BatchNorm) on CIFAR-10 (45,000 /"
        " 5,000 / 10,000) from --data-dir, 9.9 epochs with data and augmentation on the GPU; GPU recommended"
    )
    measures = "a fast, normalised image network: the CIFAR-10 speedrun's, at its own training"
    epochs = 9.9
    batch_size = 1024
    lr = 11.5  # per 1024 examples of the summed loss, before decoupling from the momentum
    bf16 = True  # the reference trains in bfloat16 with channels-last images

    def __init__(self, data_dir: str | None = None, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__(data_dir)
        self.widths = widths

    def build_model(self, make_activation: ActivationFactory) -> nn.Module:
        return FastNet(make_activation, self.widths)

    def run(
        self,
        make_activation: ActivationFactory,
        config: TrainConfig,
        probe_step: int | None = None,
        hurdle: Hurdle | None = None,
    ) -> TrainResult:
        torch.manual_seed(config.seed)
        return train_fast(
            self.build_model(make_activation),
            self.load(),
            self.schedule(config),
            probe_step,
            hurdle,
            self.device(),
            self.bf16,
        )


def train_fast(
    model: nn.Module,
    data: Dataset,
    schedule: Schedule,
    probe_step: int | None = None,
    hurdle: Hurdle | None = None,
    device: torch.device | str = "cpu",
    bf16: bool = True,
) -> TrainResult:
    """The speedrun's training of ``model`` (a ``FastNet``) on ``data`` for ``schedule``'s epochs, batch size,
    learning rate and seed; measured as ``training.train`` measures (validation after each epoch and at the probe,
    with test-time flipping). ``bf16``: on CUDA, bfloat16 autocast and channels-last images, as the reference."""
    if not isinstance(model, FastNet):
        raise TypeError("train_fast trains a FastNet")
    device = torch.device(device)
    mixed = bf16 and device.type == "cuda"
    generator = torch.Generator(device=device).manual_seed(schedule.seed)
    model.to(device)
    if mixed:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch takes it; its stubs do not
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    model.whiten_from(x_train[:5000])
    n, bs = len(x_train), schedule.batch_size
    total = schedule.steps(n)
    scale = bs * (1 + 1 / (1 - MOMENTUM))  # decoupled: the step does not grow with the batch or the momentum
    lr, wd = schedule.lr / scale, WEIGHT_DECAY * bs / scale
    shifts = [p for name, p in model.named_parameters() if p.requires_grad and name.endswith("bias")]
    others = [p for name, p in model.named_parameters() if p.requires_grad and not name.endswith("bias")]
    groups = [
        {"params": others, "lr": lr, "weight_decay": wd / lr, "base": lr},
        {"params": shifts, "lr": lr * BIAS_SCALE, "weight_decay": wd / (lr * BIAS_SCALE), "base": lr * BIAS_SCALE},
    ]
    opt = torch.optim.SGD(groups, momentum=MOMENTUM, nesterov=True)
    slow = [p.detach().clone() for p in model.state_dict().values()]
    flips = torch.rand(n, device=device, generator=generator) < 0.5
    padded = F.pad(x_train, (TRANSLATE,) * 4, mode="reflect")
    start = time.perf_counter()
    step, epoch, loss_sum, batches, probe, curve = 0, 0, 0.0, 0, None, []
    model.train()
    while step < total:
        images = augment(padded, flips ^ bool(epoch % 2), generator)
        if mixed:
            images = images.contiguous(memory_format=torch.channels_last)
        order = torch.randperm(n, device=device, generator=generator)
        running, batches = torch.zeros((), dtype=torch.float64, device=device), 0
        model.whiten.requires_grad_(epoch < WHITEN_BIAS_EPOCHS)  # its bias, that is: the filters stay as set
        model.whiten.weight.requires_grad_(False)
        epoch += 1
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            for group in opt.param_groups:
                group["lr"] = group["base"] * _triangle(step / total)
            # no cast cache: each weight is cast once per forward anyway (timed so: bench/results/cuda_27.md, call 5)
            with torch.autocast(device.type, torch.bfloat16, enabled=mixed, cache_enabled=False):
                output = model(images[idx])
            value = F.cross_entropy(output.float(), y_train[idx], label_smoothing=LABEL_SMOOTHING, reduction="sum")
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            step += 1
            running, batches = running + value.detach().double() / len(idx), batches + 1
            if step % LOOKAHEAD_EVERY == 0:
                _lookahead(model, slow, 0.95**LOOKAHEAD_EVERY * (step / total) ** 3)
            if step % READBACK_STEPS == 0 or step in (probe_step, total):
                loss_sum = read_back(running, epoch)
            if step == probe_step:
                probe = measure_fast(model, data.x_val, data.y_val, mixed)
                if hurdle is not None and hurdle.fails(*probe):
                    return stopped_at(probe, loss_sum / batches, time.perf_counter() - start)
            if step == total:
                break
        loss_sum = read_back(running, epoch)
        if step < total:
            curve.append(measure_fast(model, data.x_val, data.y_val, mixed)[1])
    _lookahead(model, slow, 1.0)  # the end: the slow weights are the model
    seconds, train_loss = time.perf_counter() - start, loss_sum / max(batches, 1)
    return finished(lambda x, y: measure_fast(model, x, y, mixed), data, train_loss, seconds, probe, curve)


def _triangle(progress: float) -> float:
    """The learning rate's multiplier: up from 0.2 to 1 over the first 23% of training, then down to 0.07."""
    if progress < 0.23:
        return 0.2 + 0.8 * progress / 0.23
    return 1.0 - 0.93 * (progress - 0.23) / 0.77


@torch.no_grad()
def _lookahead(model: nn.Module, slow: list[torch.Tensor], decay: float) -> None:
    """Lookahead: the slow weights move toward the fast ones (``decay`` of the old kept; 1: not at all), and the fast
    restart there."""
    for keep, fast in zip(slow, model.state_dict().values()):
        if fast.dtype.is_floating_point:
            keep.lerp_(fast, 1 - decay)
            fast.copy_(keep)


def augment(padded: torch.Tensor, flip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Every image translated by up to ``TRANSLATE`` pixels each way (from reflect-padded copies), and flipped where
    ``flip`` says: on the device, in one pass."""
    n, size = len(padded), padded.shape[-1] - 2 * TRANSLATE
    dx, dy = (torch.randint(0, 2 * TRANSLATE + 1, (n,), device=padded.device, generator=generator) for _ in range(2))
    rows = (dy[:, None] + torch.arange(size, device=padded.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(size, device=padded.device))[:, None, None, :]
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    batch = torch.arange(n, device=padded.device)[:, None, None, None]
    channels = torch.arange(padded.shape[1], device=padded.device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


@torch.no_grad()
def measure_fast(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mixed: bool = False, batch_size: int = 2000
) -> tuple[float, float]:
    """Accuracy and mean cross-entropy with test-time flipping (the mean of the image's and its mirror's logits);
    ``mixed``: under bfloat16 autocast, as the model trained."""
    device = next(model.parameters()).device
    model.eval()
    correct, total = 0, 0.0
    for i in range(0, len(x), batch_size):
        images, target = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        with torch.autocast(device.type, torch.bfloat16, enabled=mixed):
            output = ((model(images) + model(images.flip(-1))) / 2).float()
        if not torch.isfinite(output).all():
            model.train()
            raise TrainingError("non-finite network outputs at evaluation")
        total += float(F.cross_entropy(output, target, reduction="sum"))
        correct += int((output.argmax(-1) == target).sum())
    model.train()
    if not math.isfinite(total):
        raise TrainingError("non-finite loss at evaluation")
    return correct / len(y), total / len(y)


def write_synthetic_cifar10(root: str | Path, train: int = 50_000, test: int = 10_000, seed: int = 0) -> Path:
    """A CIFAR-10-shaped image problem in torchvision's layout under ``root``: class k is a grating at angle k*18
    degrees with a random phase, colour, contrast and noise. Each pixel's mean is the same in every class, so no
    linear model of the pixels does better than chance; a network that finds oriented edges does."""
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [(name, train // len(TRAIN_FILES)) for name in TRAIN_FILES] + [(TEST_FILE, test)]
    grid = np.stack(np.meshgrid(np.arange(32), np.arange(32), indexing="ij")).reshape(2, -1).astype(np.float32)
    for name, count in sizes:
        labels = rng.integers(0, 10, count)
        angle = labels * math.pi / 10
        direction = np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32)
        phase = rng.uniform(0, 2 * math.pi, (count, 1)).astype(np.float32)
        wave = np.sin(direction @ grid * (2 * math.pi / 6) + phase)  # count x 1024, period 6 pixels
        colour = rng.uniform(0.3, 1.0, (count, 3, 1)).astype(np.float32) * rng.uniform(20, 60, (count, 1, 1))
        noise = rng.normal(0, 25, (count, 3, 1024))
        images = np.clip(128 + colour * wave[:, None, :] + noise, 0, 255).astype(np.uint8).reshape(count, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": images, b"labels": labels.tolist()}, f, protocol=4)
    return folder
