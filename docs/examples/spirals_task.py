"""An example user task for ``evoact search --task docs/examples/spirals_task.py:spirals``.

evoact calls ``spirals(make_activation, seed=..., epochs=...)`` in each worker. Build the model with
``make_activation()`` wherever a nonlinearity goes, train it however you like, and return ``val_acc``
(what the search selects on) and ``test_acc`` (what ``evoact confirm`` reports), fractions from 0 to 1. A score
where lower is better (an MSE), or one that can fall below 0 (R²), is a loss: see ``regression_task.py``.

``epochs`` is evoact's, not yours: 25 at the ``quick`` budget, scaled by the budget (``tiny`` 2, ``standard`` 50,
``thorough`` 100), or what ``--epochs`` says; ``evoact confirm RUN --task this.py:spirals`` gives it the same as the
run's search did (or its own ``--epochs``). Train for as long as it says, so that search and confirmation agree.
Copy this file as the template of your own task: ``evoact confirm RUN --task my_task.py:my_function``.
"""

import math

import torch
from torch import nn


def _two_spirals(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.rand(n, generator=generator) * 3 * math.pi + 0.5
    label = torch.randint(0, 2, (n,), generator=generator)
    sign = 1 - 2 * label.float()
    x = torch.stack([sign * t * torch.cos(t), sign * t * torch.sin(t)], 1) / 10
    return x + 0.02 * torch.randn(n, 2, generator=generator), label


def spirals(make_activation, seed: int, epochs: int) -> dict[str, float]:
    """Two interleaved spirals, a 2-32-32-2 MLP trained full-batch with Adam."""
    data = torch.Generator().manual_seed(1234)  # the data stays fixed; the seed varies the model
    (x, y), (xv, yv), (xt, yt) = (_two_spirals(n, data) for n in (1000, 500, 500))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 32), make_activation(), nn.Linear(32, 32), make_activation(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs * 4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        return {
            "val_acc": (model(xv).argmax(1) == yv).float().mean().item(),
            "test_acc": (model(xt).argmax(1) == yt).float().mean().item(),
        }
