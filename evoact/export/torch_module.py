"""Export an activation as a standalone Python file that needs only torch."""

from __future__ import annotations

from pathlib import Path

from evoact.compiler import lower, program_source
from evoact.formula import parse

_TEMPLATE = '''"""Activation function exported by evoact.

Formula: {formula}
{learned}Needs only torch. Use ``{cls}()`` as a module or ``activation(x)`` as a function.
"""

import torch

FORMULA = {formula_repr}


def activation(x: torch.Tensor{param_args}) -> torch.Tensor:
    """Apply the activation elementwise to a tensor of any shape."""
{param_casts}{body}


class {cls}(torch.nn.Module):
    """``activation`` as a module{module_doc}."""

    def __init__(self{init_args}) -> None:
        super().__init__()
{init_body}
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activation(x{forward_args})

    def extra_repr(self) -> str:
        return FORMULA
'''


def torch_module_source(formula: str, params: dict[str, float] | None = None,
                        learned: dict[str, list[float]] | None = None, class_name: str = "Activation") -> str:
    """The source of a standalone module for ``formula``; learnable constants start at ``params``."""
    program = lower(parse(formula))
    params = params or {}
    init = {p: float(params.get(p, 1.0)) for p in program.params}
    learned_note = ""
    if learned:
        values = "; ".join(f"{k} = {', '.join(f'{v:.6g}' for v in vals)}" for k, vals in sorted(learned.items()))
        learned_note = f"Values learned per layer in the run: {values}.\n"
    return _TEMPLATE.format(
        formula=program.formula, formula_repr=repr(program.formula), learned=learned_note, cls=class_name,
        param_args="".join(f", {p}={v!r}" for p, v in init.items()),
        param_casts="".join(f"    {p} = torch.as_tensor({p}, dtype=x.dtype, device=x.device)\n" for p in init),
        body="\n".join("    " + line for line in program_source(program)),
        module_doc=" with learnable " + ", ".join(init) if init else "",
        init_args="".join(f", {p}: float = {v!r}" for p, v in init.items()),
        init_body="".join(f"        self.{p} = torch.nn.Parameter(torch.tensor(float({p})))\n" for p in init) or "",
        forward_args="".join(f", self.{p}" for p in init),
    )


def export_torch_module(path: str | Path, formula: str, params: dict[str, float] | None = None,
                        learned: dict[str, list[float]] | None = None) -> Path:
    """Write the standalone module file and return its path."""
    path = Path(path)
    path.write_text(torch_module_source(formula, params, learned), encoding="utf-8")
    return path
