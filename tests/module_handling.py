"""Handle an activation module the way users handle modules, and report what happened (needs only torch).

Imported by the tests for ``compile_activation``'s module, and run as a script on an exported file in a Python
without evoact: ``python module_handling.py act.py``. Prints one JSON object; every check is a boolean.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def _net(make: Callable[[], nn.Module]) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), make(), nn.Linear(8, 3), make())


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), atol=1e-5, rtol=1e-4))


def _constants(module: nn.Module) -> list[torch.Tensor]:
    return [p for name, p in module.named_parameters() if not name.startswith(("0.", "2."))]


def handle(make: Callable[[], nn.Module]) -> dict[str, bool]:
    """Every way of handling a module that a network goes through, each checked against the plain forward."""
    x = torch.linspace(-3, 3, 20).reshape(5, 4)
    net = _net(make)
    with torch.no_grad():
        for p in _constants(net):
            p.fill_(1.3)
    want = net(x).detach()
    checks: dict[str, bool] = {}

    double = copy.deepcopy(net).to(torch.float64)
    checks["to(float64)"] = double(x.double()).dtype == torch.float64 and all(
        p.dtype == torch.float64 for p in double.parameters()
    )
    checks["double()"] = _same(copy.deepcopy(net).double()(x.double()), want)
    half = copy.deepcopy(net).half()
    checks["half()"] = half(x.half()).dtype == torch.float16 and all(
        p.dtype == torch.float16 for p in half.parameters()
    )
    checks["float()"] = _same(copy.deepcopy(net).double().float()(x), want)
    checks["to(cpu)"] = _same(copy.deepcopy(net).to("cpu")(x), want)
    checks["to(meta)"] = copy.deepcopy(net).to("meta")(x.to("meta")).device.type == "meta"
    if torch.cuda.is_available():
        checks["to(cuda)"] = _same(copy.deepcopy(net).to("cuda")(x.cuda()).cpu(), want)
        checks["cuda()"] = _same(copy.deepcopy(net).cuda()(x.cuda()).cpu(), want)

    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    fresh = _net(make)
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    checks["state_dict round trip"] = _same(fresh(x), want) and all(
        p.item() == torch.tensor(1.3).item() for p in _constants(fresh)
    )

    whole = io.BytesIO()
    torch.save(net, whole)  # the whole network pickled, as torch.save(model) and multiprocessing do
    reloaded = torch.load(io.BytesIO(whole.getvalue()), weights_only=False)
    grads = [torch.autograd.grad(n(x).sum(), _constants(n)) for n in (net, reloaded)]
    checks["torch.save(model)"] = _same(reloaded(x), want) and all(_same(a, b) for a, b in zip(*grads))

    twin = copy.deepcopy(net)
    with torch.no_grad():
        for p in _constants(twin):
            p.add_(1.0)
    checks["deepcopy"] = _same(copy.deepcopy(net)(x), want) and all(
        p.item() == torch.tensor(1.3).item() for p in _constants(net)
    )

    scripted = torch.jit.script(copy.deepcopy(net))
    saved = io.BytesIO()
    torch.jit.save(scripted, saved)
    loaded = torch.jit.load(io.BytesIO(saved.getvalue()))
    grad_eager = torch.autograd.grad(net(x).sum(), _constants(net))
    grad_script = torch.autograd.grad(scripted(x).sum(), _constants(scripted))
    checks["torch.jit.script"] = (
        _same(scripted(x), want)
        and all(_same(a, b) for a, b in zip(grad_eager, grad_script))
        and list(scripted.state_dict()) == list(net.state_dict())
    )
    checks["torch.jit.save/load"] = _same(loaded(x), want)
    checks["torch.compile"] = _same(torch.compile(copy.deepcopy(net))(x), want)

    trained = copy.deepcopy(net)
    target = torch.sin(x[:, :3])
    opt = torch.optim.Adam(trained.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.mse_loss(trained(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    checks["training steps"] = losses[-1] < losses[0] and all(
        p.item() != torch.tensor(1.3).item() for p in _constants(trained)
    )
    return checks


if __name__ == "__main__":
    path = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(path.parent))  # imported as a user would: from act import Activation
    module = importlib.import_module(path.stem)
    print(json.dumps(handle(module.Activation)))
