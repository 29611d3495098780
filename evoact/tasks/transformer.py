"""The small pre-LayerNorm transformer that the text and GLU tasks train: its feed-forward layer is a GLU gated by the
candidate, or the plain FFN with the candidate as its activation, at the same parameters."""

from __future__ import annotations

import torch
from torch import nn

from evoact.tasks.base import ActivationFactory


def gated_width(plain: int) -> int:
    """The hidden width of a GLU layer with the parameters of a plain FFN of hidden width ``plain``."""
    return round(2 * plain / 3)


class GluFfn(nn.Module):
    """``U (g(W x) * V x)`` with ``g`` the candidate; ``gated=False``: the plain ``U g(W x)`` at the same parameters."""

    def __init__(self, make_activation: ActivationFactory, width: int, plain: int, gated: bool = True) -> None:
        super().__init__()
        hidden = gated_width(plain) if gated else plain
        self.w, self.u = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.v = nn.Linear(width, hidden) if gated else None
        self.gate = make_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gate(self.w(x))
        return self.u(h * self.v(x) if self.v is not None else h)


class _Block(nn.Module):
    """A pre-LayerNorm transformer block whose feed-forward layer is a ``GluFfn`` (hidden width 2x the model's)."""

    def __init__(self, make_activation: ActivationFactory, width: int, heads: int, gated: bool) -> None:
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(width), nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2, self.ffn = nn.LayerNorm(width), GluFfn(make_activation, width, 2 * width, gated)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attention(y, y, y, attn_mask=mask, need_weights=False)[0]
        return x + self.ffn(self.norm2(x))


class Transformer(nn.Module):
    """Tokens in, logits out: causal over characters (a prediction at every position, as in GPT), or bidirectional
    over patches (mean-pooled); 4 heads per block."""

    def __init__(
        self,
        make_activation: ActivationFactory,
        embed: nn.Module,
        tokens: int,
        outputs: int,
        width: int,
        layers: int,
        gated: bool,
        causal: bool,
    ) -> None:
        super().__init__()
        self.embed, self.causal = embed, causal
        self.position = nn.Parameter(torch.randn(tokens, width) * 0.1)
        self.blocks = nn.ModuleList([_Block(make_activation, width, 4, gated) for _ in range(layers)])
        self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        steps = h.shape[1]
        h = h + self.position[:steps]
        mask = torch.triu(torch.full((steps, steps), float("-inf"), device=h.device), 1) if self.causal else None
        for block in self.blocks:
            h = block(h, mask)
        h = self.norm(h)
        return self.head(h if self.causal else h.mean(1))
