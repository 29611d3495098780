"""An example user task that is a regression: ``evoact search --task docs/examples/regression_task.py:wave``.

A task scored by a loss (lower is better) says so with the function's attribute ``metric = "loss"`` and returns
``val_loss`` (what the search selects on) and ``test_loss`` (what ``evoact confirm`` reports), both positive. The
search compares it with the best baseline as that baseline's loss over the candidate's, so it mixes with accuracy
tasks in one fitness. Everything else is as in ``spirals_task.py``.
"""

import torch
from torch import nn


def _noisy_wave(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1, generator=generator) * 4 - 2
    return x, torch.sin(3 * x) * x + 0.05 * torch.randn(n, 1, generator=generator)


def wave(make_activation, seed: int, epochs: int) -> dict[str, float]:
    """y = x sin(3x) plus noise, a 1-32-32-1 MLP trained full-batch with Adam on the mean squared error."""
    data = torch.Generator().manual_seed(99)  # the data stays fixed; the seed varies the model
    (x, y), (xv, yv), (xt, yt) = (_noisy_wave(n, data) for n in (512, 256, 256))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(1, 32), make_activation(), nn.Linear(32, 32), make_activation(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs * 4):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        return {
            "val_loss": nn.functional.mse_loss(model(xv), yv).item(),
            "test_loss": nn.functional.mse_loss(model(xt), yt).item(),
        }


wave.metric = "loss"
