"""Stage 3: reject activations whose signal or gradients break down in a deep random network (EvoNorms)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from evoact.screening.config import ScreeningConfig


def stability_reason(make_activation: Callable[[], nn.Module], config: ScreeningConfig, seed: int = 0) -> str | None:
    """Why a candidate is unstable, or None: forward RMS after ``stability_depth`` He-initialised layers must stay
    within [vanish_rms, explode_rms], and the weight-gradient norm must stay finite and below ``max_grad_norm``
    while the weights take ``stability_steps`` adversarial steps that increase it."""
    gen = torch.Generator().manual_seed(seed)
    width = config.stability_width
    weights = [
        torch.randn(width, width, generator=gen, dtype=torch.float64) * math.sqrt(2.0 / width)
        for _ in range(config.stability_depth)
    ]
    head = torch.randn(10, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
    x = torch.randn(256, width, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (256,), generator=gen)
    act = make_activation().double()
    for step in range(config.stability_steps + 1):
        params = [w.clone().requires_grad_() for w in weights]
        h = x
        for w in params:
            h = act(h @ w.T)
        if step == 0:
            rms = h.detach().pow(2).mean().sqrt().item()
            if not math.isfinite(rms) or rms > config.explode_rms:
                return f"forward signal explodes in a random network of {config.stability_depth} layers (RMS {rms:.3g})"
            if rms < config.vanish_rms:
                return f"forward signal vanishes in a random network of {config.stability_depth} layers (RMS {rms:.3g})"
        loss = F.cross_entropy(h @ head.T, y)
        found = torch.autograd.grad(loss, params, create_graph=step < config.stability_steps, allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(found, params)]
        norm = torch.sqrt(cast(torch.Tensor, sum(g.pow(2).sum() for g in grads)))  # a tensor: there are layers
        if not torch.isfinite(norm) or norm.item() > config.max_grad_norm:
            return (
                f"gradient norm {norm.item():.3g} after {step} adversarial weight perturbation step(s)"
                f" (limit {config.max_grad_norm:.3g})"
            )
        if step < config.stability_steps and norm.requires_grad:
            ascent = torch.autograd.grad(norm, params, allow_unused=True)
            weights = [
                w + 0.01 * w.norm() * a / (a.norm() + 1e-12) if a is not None else w for w, a in zip(weights, ascent)
            ]
    return None
