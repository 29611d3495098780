"""The training loop: the loss is read back every N steps (one device wait each), which changes no result."""

import dataclasses

import pytest
import torch
from torch import nn

from evoact.training import READBACK_STEPS, Dataset, Schedule, TrainingError, measure, train


def _spirals(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * 9 + 0.5
    y = torch.randint(0, 2, (n,), generator=g)
    sign = (1 - 2 * y.float()).unsqueeze(1)
    x = sign * torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 10
    return x + 0.02 * torch.randn(n, 2, generator=g), y


DATA = Dataset(*_spirals(640, 0), *_spirals(256, 1), *_spirals(256, 2))
#: 60 steps; SGD reads nothing back itself (Adam reads its step count), so every read counted is the loop's
SCHEDULE = Schedule(epochs=3, batch_size=32, lr=0.1, seed=5, optimizer="sgd", momentum=0.9)


def _model(activation: type[nn.Module] = nn.Tanh) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 32), activation(), nn.Linear(32, 2))


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the loss read-backs (``Tensor.item``: each waits for the device)."""
    calls, item = [0], torch.Tensor.item

    def counted(self: torch.Tensor):  # noqa: ANN202 - the patched method's own signature
        calls[0] += 1
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counted)
    return calls


def test_reading_the_loss_back_every_n_steps_changes_no_result(monkeypatch):
    reads = _reads(monkeypatch)
    every = train(_model(), DATA, SCHEDULE, readback=1)
    per_step = reads[0]
    reads[0] = 0
    batched = train(_model(), DATA, SCHEDULE)
    assert per_step >= 60 and reads[0] <= 60 // READBACK_STEPS + 3  # + each epoch's end
    assert (batched.val_acc, batched.test_acc, batched.val_loss, batched.test_loss, batched.curve) == (
        every.val_acc,
        every.test_acc,
        every.val_loss,
        every.test_loss,
        every.curve,
    )
    assert batched.train_loss == pytest.approx(every.train_loss, rel=1e-5)
    assert batched.val_acc > 0.6  # it learned (chance: 0.5)


class _Breaks(nn.Module):
    """An activation that turns every value into NaN from its 26th call on (step 25: epoch 1's measure is a call)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.tanh(x) * (float("nan") if self.calls > 25 else 1.0)


def test_a_loss_that_turns_non_finite_fails_the_training_at_the_next_read():
    model = _model(_Breaks)
    with pytest.raises(TrainingError, match="non-finite loss in epoch 2"):
        train(model, DATA, SCHEDULE)
    assert model[1].calls == 33  # the read after the break, at step 32 (reads 16 steps apart), stopped it


def test_finite_outputs_whose_squared_error_overflows_fail_the_measure():
    """Outputs near 1e20 are finite, their float32 squared error is not: a validation loss of inf gave the candidate a
    fitness of -inf, which the run could not store, so the search and every resume of it crashed."""
    model = nn.Sequential(nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.fill_(1e20)
    x, y = torch.ones(8, 2), torch.zeros(8)
    assert torch.isfinite(model(x)).all()
    with pytest.raises(TrainingError, match="non-finite loss at evaluation"):
        measure(model, x, y, "mse")


def test_bf16_is_a_cuda_switch_that_the_cpu_ignores():
    plain = train(_model(), DATA, SCHEDULE)
    mixed = train(_model(), DATA, SCHEDULE, bf16=True)
    assert dataclasses.replace(mixed, seconds=plain.seconds) == plain


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_trains_images_channels_last_under_autocast_on_cuda():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (512,), generator=g)
    x = torch.randn(512, 3, 8, 8, generator=g) + y.float()[:, None, None, None]  # class 1 is brighter
    images = Dataset(x[:384], y[:384], x[384:448], y[384:448], x[448:], y[448:])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    result = train(model, images, SCHEDULE, device="cuda", bf16=True)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert result.test_acc > 0.9


def test_an_unknown_loss_is_refused_rather_than_trained_as_cross_entropy():
    with pytest.raises(ValueError, match="unknown loss 'mae'; known: cross_entropy, mse"):
        train(_model(), DATA, SCHEDULE, loss="mae")
