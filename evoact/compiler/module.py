"""Compiled activations as torch modules: symbolic backward (saves only the input), plain autograd, or fused."""

from __future__ import annotations

import functools
import hashlib
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp
import torch
from torch import nn

from evoact.compiler import cuda
from evoact.compiler.backward import autograd_function, plain_backward
from evoact.compiler.derivative import derivatives
from evoact.compiler.lowering import Program, lower, lower_many
from evoact.compiler.standalone import standalone_module
from evoact.formula import (
    DEFAULT_CONSTANT,
    FormulaError,
    as_expression,
    check_params,
    constant_names,
    parse,
    to_formula,
    unknown_constant,
)
from evoact.native import PROGRAM_OPS

#: ``symbolic``: eager forward, generated backward from the saved input only (default);
#: ``fused``: the same forward and backward compiled by torch.compile (inductor: C++ on CPU, Triton on CUDA);
#: ``autograd``: the forward's ops recorded by autograd (saves every intermediate; for comparison);
#: ``jit``: on CUDA tensors the forward and the backward each one elementwise kernel written for the formula at run
#: time (``compiler/cuda.py``); elsewhere, for more than ``cuda.MAX_PARAMS`` constants and under a second
#: differentiation, the symbolic mode.
#: In every mode the forward calls torch's own activation wherever a part of the formula is one (``evoact.native``;
#: a jit kernel computes it inside, as torch does),
#: and a formula that is one such activation, summed with or multiplied by numbers, is that native op with torch's
#: own backward: faster than any code evoact generates for it, saving what torch's activation saves (and at a kink
#: torch's subgradient, relu'(0) = 0, where the symbolic backward takes the midpoint).
MODES = ("symbolic", "fused", "autograd", "jit")
#: Training steps from which ``auto`` picks ``fused`` on the CPU: below it a compile (seconds) costs more than it saves.
#: On CUDA ``auto`` never fuses: training ResNet-20 on an H200, fused was slower than symbolic
#: (bench/results/cuda_paths.md).
FUSED_MIN_STEPS = 20_000


def run_program(program: Program, x: torch.Tensor, params: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Execute a program on a tensor of any shape; returns its outputs."""
    env: dict[str, torch.Tensor] = {"x": x, **params}
    for op in program.ops:
        env[op.target] = PROGRAM_OPS[op.fn].torch(*[env[a] if isinstance(a, str) else a for a in op.args])
    return [env[o] for o in program.outputs]


def values_at(expr: sp.Expr, x: np.ndarray, params: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """Values of ``expr`` at ``x`` in float64 NumPy, broadcasting array-valued constants against ``x``."""
    tensors = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()}
    with torch.no_grad():
        out = run_program(lower(expr), torch.as_tensor(x, dtype=torch.float64), tensors)[0]
    return np.broadcast_to(out.numpy(), np.broadcast_shapes(x.shape, *(np.shape(v) for v in params.values())))


def choose_mode(mode: str, training_steps: int, device: str = "cpu") -> str:
    """Resolve ``auto``: fused only on the CPU and when the training is long enough to repay the compile."""
    if mode == "auto":
        return "fused" if device == "cpu" and training_steps >= FUSED_MIN_STEPS else "symbolic"
    if mode not in MODES:
        raise ValueError(f"unknown activation mode {mode!r}; use auto or one of {', '.join(MODES)}")
    return mode


@functools.lru_cache(maxsize=2048)
def _compiled(
    formula: str, expr: sp.Expr, mode: str
) -> tuple[Program, Program | None, type[torch.autograd.Function] | None]:
    """Forward program, backward program and autograd Function of a formula: built once per process."""
    forward = lower(expr, natives=True)
    if mode == "autograd" or forward.native:
        return forward, None, None
    backward = lower_many(derivatives(expr), expr)
    return forward, backward, _function(forward, backward, mode)


def _function(forward: Program, backward: Program, mode: str) -> type[torch.autograd.Function]:
    names = forward.params

    def value(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        return run_program(forward, x, dict(zip(names, params)))[0]

    def slopes(x: torch.Tensor, *params: torch.Tensor) -> list[torch.Tensor]:
        return run_program(backward, x, dict(zip(names, params)))

    fwd, bwd = value, plain_backward(slopes)
    tag = hashlib.sha256(forward.formula.encode()).hexdigest()[:12]
    if mode == "fused":
        fwd, bwd = (torch.compile(_own_code(f, tag)) for f in (fwd, bwd))  # shapes specialise first: fastest code
    elif mode == "jit" and len(names) <= cuda.MAX_PARAMS:
        gpu_fwd, gpu_bwd = cuda.kernels(forward, backward, tag)
        fwd, bwd = _on_cuda(gpu_fwd, fwd), _on_cuda(lambda x, grad, keep, *params: gpu_bwd(x, grad, *params), bwd)
    return autograd_function(fwd, bwd, value, slopes, forward.formula)


def _on_cuda(kernel: Callable, elsewhere: Callable) -> Callable:
    """``kernel`` for a CUDA input (not ROCm's, which has no jiterator), ``elsewhere`` for any other and wherever
    autograd records (a backward with ``create_graph``: the kernel's result has no graph to differentiate again)."""

    def run(x: torch.Tensor, *args: torch.Tensor) -> Any:
        if x.is_cuda and torch.version.hip is None and not torch.is_grad_enabled():
            return kernel(x, *args)
        return elsewhere(x, *args)

    return run


def _own_code(fn: Callable, tag: str) -> Callable:
    """A copy of ``fn`` with its own code object: torch.compile caches per code object, and formulas sharing
    one would evict each other (and fall back to eager after its recompile limit)."""
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{tag}", co_qualname=f"{fn.__qualname__}_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def _direct(program: Program) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Torch's op where the program is that one op of ``x`` (a native formula): called without the interpreter."""
    if len(program.ops) == 1 and program.ops[0].args == ("x",) and program.outputs == (program.ops[0].target,):
        return PROGRAM_OPS[program.ops[0].fn].torch
    return None


def _exported_names(module: CompiledActivation, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """Load a checkpoint saved with the exported module too, whose constants are attributes (``beta``, not
    ``params.beta``), so that a network's weights move between the two."""
    for name in module.params:
        if prefix + name in state_dict and prefix + "params." + name not in state_dict:
            state_dict[prefix + "params." + name] = state_dict.pop(prefix + name)


def _itself(module: nn.Module) -> nn.Module:
    """What a scripted module's twin is unpickled as: the module it stood for (pickled as itself)."""
    return module


class CompiledActivation(nn.Module):
    """An activation compiled from a formula; learnable constants are ``nn.Parameter``s in ``params``."""

    def __init__(
        self, expr: sp.Expr, init: dict[str, float] | None = None, mode: str = "symbolic", inplace: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(inplace, bool):
            raise TypeError(f"inplace must be True or False, got {inplace!r}")
        mode = choose_mode(mode, 0)
        self.mode, self.inplace = mode, inplace
        self._build(expr)
        init = check_params(init)
        self.params = nn.ParameterDict(
            {p: nn.Parameter(torch.tensor(float(init.get(p, DEFAULT_CONSTANT)))) for p in self.program.params}
        )
        self.register_load_state_dict_pre_hook(_exported_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = [self.params[p] for p in self.program.params]
        if self._native is not None:
            y = self._native(x)
        elif self._function is None:
            y = run_program(self.program, x, dict(zip(self.program.params, params)))[0]
        else:
            y = self._function.apply(x, *params)
        if self.inplace and not (torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params))):
            return x.copy_(y)  # torch's inplace=True: x holds the result (out of place where autograd needs x)
        return y

    def __getstate__(self) -> dict[str, Any]:
        """What pickle, deepcopy and ``torch.save(model)`` keep: all but the autograd Function and torch's op, which
        pickle cannot name (the Function is a class made for this formula in this process); loading makes them."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_function", "_native")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = {"inplace": False, **state}  # pickled by a version without inplace
        super().__setstate__(state)
        # pickled by a version that kept no expression (a native formula's module): from its formula
        self._build(parse(self.program.formula) if state.get("_expr") is None else state["_expr"])

    def _build(self, expr: sp.Expr) -> None:
        """The programs and autograd Function of ``expr`` in this module's mode (made once per process), and the
        expression itself: what a pickle is built again from (a formula's text may round its floats)."""
        self._expr = expr
        self.program, self.backward_program, self._function = _compiled(to_formula(expr), expr, self.mode)
        self._native = _direct(self.program) if self._function is None else None  # the mode's backward otherwise

    def __prepare_scriptable__(self) -> nn.Module:
        """TorchScript compiles from source: script the standalone module instead, holding these same parameters."""
        twin = standalone_module(self.program.formula).Activation(inplace=self.inplace)
        for name, param in self.params.items():
            setattr(twin.params, name, param)
        # torch.jit.script remembers prepared modules by id(): this module must outlive the call, or a new module
        # could take its id (and its twin's place) while the network is scripted.
        twin.__dict__["_scripted_from"] = (self,)
        # torch puts the twin in this module's place in the eager network too (pytorch#131022), where pickle,
        # deepcopy and torch.save(model) could not name its class (made in this process): they take this module.
        twin.__dict__["__reduce_ex__"] = lambda protocol: (_itself, (self.train(twin.training),))  # as it is now
        return twin.train(self.training)

    def extra_repr(self) -> str:
        return f"{self.program.formula}, mode={self.mode}" + (", inplace=True" if self.inplace else "")


def compile_activation(
    formula_or_expr: str | sp.Expr,
    params: dict[str, float] | None = None,
    mode: str = "symbolic",
    *,
    inplace: bool = False,
) -> CompiledActivation:
    """Compile a formula (parsed safely) or a SymPy expression into a torch activation module.

    ``mode``: ``symbolic`` (default), ``fused``, ``autograd`` or ``jit`` (CUDA; see ``MODES``); ``inplace``: as
    torch's activations, the input holds the result (where autograd does not need the input; out of place where it
    does). A name in ``params`` that is no constant of the formula is ignored, with a ``UserWarning`` where one of the
    formula's own constants is then left at its default (a typo, ``bta`` for ``beta``); one dict of values may serve
    several formulas.
    """
    expr = as_expression(formula_or_expr)
    if not isinstance(expr, sp.Expr):
        raise FormulaError(
            f"compile_activation needs a formula (text) or a SymPy expression, got {type(expr).__name__}"
        )
    if isinstance(params, Mapping) and (problem := unknown_constant(expr, params)):
        if left := [name for name in constant_names(expr) if name not in params]:
            said = f"compile_activation: {problem}; ignored, and {', '.join(left)} starts at its default"
            warnings.warn(said, UserWarning, stacklevel=2)
    return CompiledActivation(expr, params, mode, inplace)
