"""Export an activation as a standalone Python file that needs only torch."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from evoact.compiler import CompiledActivation, compile_activation, derivatives, lower, lower_many, program_source
from evoact.formula import parse

_TEMPLATE = '''"""Activation function exported by evoact.

Formula: {formula}
{learned}{onnx}Needs only torch. ``{cls}()`` is an nn.Module whose backward is the symbolic derivative (it saves only
the input, like torch's own activations); ``{cls}(fused=True)`` compiles forward and backward with
torch.compile. ``activation(x)`` is the plain functional form.
"""

import torch

FORMULA = {formula_repr}
PARAMS = {params_repr}


def _activation(x: torch.Tensor{tensor_args}) -> torch.Tensor:
{forward}


def _derivatives(x: torch.Tensor{tensor_args}):
{backward}


def activation(x: torch.Tensor{param_args}) -> torch.Tensor:
    """Apply the activation elementwise to a tensor of any shape."""
    return _activation(x{tensor_casts})


def activation_derivatives(x: torch.Tensor{param_args}):
    """Elementwise derivatives: d/dx{param_names_doc}."""
    return _derivatives(x{tensor_casts})


def _forward(x, *params):
    return _activation(x, *params)


def _backward(x, grad, *params):
    slopes = _derivatives(x, *params)
    grads = [grad * torch.nan_to_num(s, nan=0.0) for s in ((slopes,) if isinstance(slopes, torch.Tensor) else slopes)]
    return [grads[0]] + [g.sum() for g in grads[1:]]


def _make_function(forward, backward):
    class _Activation(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, *params):
            ctx.save_for_backward(x, *params)
            return forward(x, *params)

        @staticmethod
        def backward(ctx, grad):
            x, *params = ctx.saved_tensors
            grads = backward(x, grad, *params)
            return tuple(g if needed else None for g, needed in zip(grads, ctx.needs_input_grad))

    return _Activation


_FUNCTIONS = {{}}


def _function(fused: bool):
    if fused not in _FUNCTIONS:
        forward, backward = (torch.compile(_forward), torch.compile(_backward)) if fused else (_forward, _backward)
        _FUNCTIONS[fused] = _make_function(forward, backward)
    return _FUNCTIONS[fused]


class {cls}(torch.nn.Module):
    """``activation`` as a module{module_doc}."""

    def __init__(self{init_args}, fused: bool = False) -> None:
        super().__init__()
        self.fused = fused
{init_body}
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # TorchScript cannot run an autograd.Function: autograd differentiates the ops
            return _activation(x{forward_args})
        return self._apply(x)

    @torch.jit.unused
    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        return _function(self.fused).apply(x{forward_args})

    def extra_repr(self) -> str:
        return FORMULA
'''


#: Ops that torch's ONNX exporter (torch 2.13, TorchScript-based, opset 20) cannot export; measured in tests.
ONNX_UNSUPPORTED = ("sinh", "cosh", "asinh", "erfc", "sinc")


def onnx_unsupported(formula: str) -> list[str]:
    """The ops of ``formula``'s forward that torch.onnx.export cannot export (empty: it exports)."""
    return sorted({op.fn for op in lower(parse(formula)).ops} & set(ONNX_UNSUPPORTED))


def _onnx_note(missing: list[str]) -> str:
    if not missing:
        return "Works with torch.jit.script, torch.compile and torch.onnx.export.\n"
    return f"Works with torch.jit.script and torch.compile; torch.onnx.export cannot export {', '.join(missing)}.\n"


def torch_module_source(formula: str, params: dict[str, float] | None = None,
                        learned: dict[str, list[float]] | None = None, class_name: str = "Activation") -> str:
    """The source of a standalone module for ``formula``; learnable constants start at ``params``."""
    expr = parse(formula)
    program, derivative = lower(expr), lower_many(derivatives(expr), expr)
    params = params or {}
    init = {p: float(params.get(p, 1.0)) for p in program.params}
    for name, value in init.items():
        if not math.isfinite(value):
            raise ValueError(f"constant {name} = {value}: must be a finite number")
    learned_note = ""
    if learned:  # only the formula's own constants and numbers: a run directory must not write code into the file
        values = "; ".join(f"{k} = {', '.join(f'{float(v):.6g}' for v in learned[k])}" for k in program.params if k in learned)
        learned_note = f"Values learned per layer in the run: {values}.\n" if values else ""
    return _TEMPLATE.format(
        formula=program.formula, formula_repr=repr(program.formula), params_repr=repr(init), learned=learned_note, cls=class_name,
        onnx=_onnx_note(onnx_unsupported(formula)),
        param_args="".join(f", {p}: float = {v!r}" for p, v in init.items()),
        tensor_args="".join(f", {p}: torch.Tensor" for p in init),
        tensor_casts="".join(f", torch.tensor({p}, dtype=x.dtype, device=x.device)" for p in init),
        param_names_doc="".join(f", d/d{p}" for p in init),
        forward="\n".join("    " + line for line in program_source(program)),
        backward="\n".join("    " + line for line in program_source(derivative)),
        module_doc=" with learnable " + ", ".join(init) if init else "",
        init_args="".join(f", {p}: float = {v!r}" for p, v in init.items()),
        init_body="".join(f"        self.{p} = torch.nn.Parameter(torch.tensor(float({p})))\n" for p in init),
        forward_args="".join(f", self.{p}" for p in init),
    )


def export_torch_module(path: str | Path, formula: str, params: dict[str, float] | None = None,
                        learned: dict[str, list[float]] | None = None) -> Path:
    """Write the standalone module file and return its path."""
    path = Path(path)
    path.write_text(torch_module_source(formula, params, learned), encoding="utf-8")
    return path


MAX_MODULE_BYTES = 1_000_000


def read_torch_module(path: str | Path) -> tuple[str, dict[str, float]]:
    """The formula and parameter values of an exported module, read with ``ast`` (the file never runs)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.stat().st_size > MAX_MODULE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_MODULE_BYTES} bytes; not an evoact-exported module")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable Python file ({exc})") from None
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("FORMULA", "PARAMS"):
                try:
                    found[node.targets[0].id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    raise ValueError(f"{path}: {node.targets[0].id} is not a plain literal") from None
    formula, params = found.get("FORMULA"), found.get("PARAMS", {})
    if not isinstance(formula, str):
        raise ValueError(f"{path}: not an evoact-exported module (no FORMULA string)")
    if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in params.items()):
        raise ValueError(f"{path}: PARAMS must map constant names to numbers")
    return formula, {k: float(v) for k, v in params.items()}


def load_activation(path_or_formula: str | Path, params: dict[str, float] | None = None) -> CompiledActivation:
    """An activation module from an exported ``.py`` file or from a formula; both go through the safe parser."""
    if isinstance(path_or_formula, Path) or str(path_or_formula).endswith(".py"):
        formula, stored = read_torch_module(path_or_formula)
        return compile_activation(formula, {**stored, **(params or {})})
    return compile_activation(str(path_or_formula), params)
