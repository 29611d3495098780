"""Standalone module source: an activation as a Python file that needs only torch, and that file loaded back.

The source is built from the op table's and the natives' templates, identifiers and float literals only, never from
input text.
``evoact export`` writes it; ``CompiledActivation`` scripts through it, since TorchScript compiles from source.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import inspect
import shutil
import tempfile
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

from evoact.compiler import backward
from evoact.compiler.derivative import derivatives
from evoact.compiler.lowering import CompileError, Program, lower, lower_many
from evoact.formula import DEFAULT_CONSTANT, check_learned, check_params, parse
from evoact.native import NATIVES, PROGRAM_OPS, STABLE_MISH
from evoact.ops import ONNX_UNSUPPORTED, STABLE_SINC, slope_function

#: Ops the file computes through a stable form wherever autograd differentiates them (torch's own forms go wrong
#: there): their source, their call, and why.
_STABLE = {
    "mish": (STABLE_MISH, "_mish({0})", "torch's own second derivative is NaN above 100 in float32"),
    "sinc": (STABLE_SINC, "_sinc({0})", "torch's own slope cancels near 0"),
}


def program_source(program: Program, dialect: str = "torch", calls: Mapping[str, str] | None = None) -> list[str]:
    """Python source lines (assignments, then ``return``) computing the program's outputs with torch, or with
    ``jax.numpy`` for ``dialect="jax"`` (the op table's ``jax`` templates; a program without natives); ``calls``
    replaces ops' templates by name."""
    lines = []
    for op in program.ops:
        entry = PROGRAM_OPS[op.fn]
        template = entry.template if dialect == "torch" else getattr(entry, "jax", "")
        template = (calls or {}).get(op.fn, template)
        if not template:
            raise CompileError(f"{op.fn} has no {dialect} form")
        lines.append(f"{op.target} = " + template.format(*[a if isinstance(a, str) else repr(a) for a in op.args]))
    return lines + [f"return {', '.join(program.outputs)}"]


#: The compiled module's backward, as the exported file holds it.
_BACKWARD_SOURCE = f"DIFFERENCE_STEP = {backward.DIFFERENCE_STEP!r}\n\n\n" + "\n\n".join(
    inspect.getsource(f)
    for f in (
        backward._finite,
        backward._bounded,
        backward._gradients,
        backward.plain_backward,
        backward._mended_backward,
        backward.autograd_function,
    )
)

_TEMPLATE = '''"""Activation function exported by evoact.

Formula: {formula}
{learned}{onnx}Needs only torch. {module_note} ``activation(x)`` is the plain functional form.
"""

from collections.abc import Callable

import torch

FORMULA = {formula_repr}
PARAMS = {params_repr}
NATIVE = {native}
{stable}

def _activation(x: torch.Tensor{tensor_args}) -> torch.Tensor:
{forward}


def _derivatives(x: torch.Tensor{tensor_args}):
{backward}


def activation(x: torch.Tensor{param_args}) -> torch.Tensor:
    """Apply the activation elementwise to a tensor of any shape, differentiated as ``{cls}`` is."""
    if torch.jit.is_scripting():  # TorchScript cannot run an autograd.Function: autograd differentiates the ops
        return _activation(x{casts})
    return _differentiated(x{casts})


@torch.jit.unused
def _differentiated(x: torch.Tensor{tensor_args}, fused: bool = False) -> torch.Tensor:
    """``_activation`` as evoact's module differentiates it: torch's own op where the formula is one, else the
    symbolic slopes, NaN ones mended."""
    if NATIVE:
        return {native_forward}(x{tensor_names})
    return _function(fused).apply(x{tensor_names})


def activation_derivatives(x: torch.Tensor{param_args}):
    """Elementwise derivatives as the formula's symbolic slopes: d/dx{param_names_doc}; NaN where a slope is (0/0 at a
    point, a factor overflowing against one that underflows), which the module's backward mends."""
    return _derivatives(x{casts})


def _forward(x, *params):
    return _activation(x, *params)


def _slopes(x, *params):
    slopes = _derivatives(x, *params)
    return [slopes] if isinstance(slopes, torch.Tensor) else list(slopes)


{backward_source}

_BACKWARD = plain_backward(_slopes)
# made on import: torch.compile(fullgraph=True) cannot
_FUNCTIONS = {{False: autograd_function(_forward, _BACKWARD, _activation, _slopes, FORMULA)}}


def _function(fused: bool):
    if fused not in _FUNCTIONS:
        forward, backward = torch.compile(_forward), torch.compile(_BACKWARD)
        _FUNCTIONS[fused] = autograd_function(forward, backward, _activation, _slopes, FORMULA)
    return _FUNCTIONS[fused]


{checkpoints}{container}class {cls}(torch.nn.Module):
    """``activation`` as a module{module_doc}; ``inplace=True`` as torch's activations take it."""

    def __init__(self, inplace: bool = False, *{init_args}, fused: bool = False) -> None:
        super().__init__()
        if not isinstance(inplace, bool):
            raise TypeError(
                f"inplace must be True or False, got {{inplace!r}};"
                " learnable constants are keywords: {cls}({init_example})"
            )
        self.inplace = inplace
        self.fused = fused
{init_body}
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # TorchScript cannot run an autograd.Function: autograd differentiates the ops
            y = _activation(x{forward_args})
        else:
            y = _differentiated(x{forward_args}, self.fused)
        if self.inplace and not (torch.is_grad_enabled() and (x.requires_grad{grad_checks})):
            return x.copy_(y)  # torch's inplace=True: x holds the result (out of place where autograd needs x)
        return y

    def extra_repr(self) -> str:
        return FORMULA + (", inplace=True" if self.inplace else "")
'''


def onnx_unsupported(formula: str) -> list[str]:
    """The ops of ``formula``'s forward that torch.onnx.export's older exporter (``dynamo=False``) cannot export
    (empty: it exports); the default exporter exports them all."""
    return sorted({op.fn for op in lower(parse(formula), natives=True).ops} & set(ONNX_UNSUPPORTED))


def _onnx_note(missing: list[str]) -> str:
    if not missing:
        return (
            "Works with torch.jit.script, torch.compile and torch.onnx.export (its default exporter needs the\n"
            "onnxscript package; without it, pass dynamo=False).\n"
        )
    return (
        "Works with torch.jit.script, torch.compile and torch.onnx.export (its default exporter needs the\n"
        f"onnxscript package; with dynamo=False, torch's older exporter cannot export {', '.join(missing)}).\n"
    )


_CHECKPOINTS = '''def _compiled_names(module, state_dict, prefix, *_):
    """Load a checkpoint saved with evoact's compile_activation module too, whose constants are params.<name>."""
    for name in PARAMS:
        if prefix + "params." + name in state_dict and prefix + name not in state_dict:
            state_dict[prefix + name] = state_dict.pop(prefix + "params." + name)


'''

_CONTAINER = '''class _Constants(torch.nn.Module):
    """The learnable constants, held as compile_activation's modules hold them (parameter names params.<name>)."""


'''


def learned_note(learned: Mapping[str, Sequence[float]] | None, names: tuple[str, ...]) -> str:
    """The exported file's line on a run's learned values (checked: numbers only, so a run directory writes no code
    into the file), or nothing."""
    checked = check_learned(learned, names) if learned else {}
    values = "; ".join(f"{k} = {', '.join(f'{v:.6g}' for v in checked[k])}" for k in names if checked.get(k))
    return (
        f"Values learned per layer in the run (every task's layers in task order, first training then each raced"
        f" seed's): {values}.\n"
        if values
        else ""
    )


def check_exportable(formula: str, params: dict[str, float]) -> None:
    """A ``CompileError`` saying why where ``formula`` cannot be a standalone module: then no format exports it."""
    standalone_source(formula, params)


def standalone_source(
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
    class_name: str = "Activation",
    container: bool = False,
) -> str:
    """The source of a standalone module for ``formula``; learnable constants start at ``params``.

    The constants are the module's attributes (``Activation().beta``), or with ``container`` the attributes of its
    submodule ``params``, as in ``CompiledActivation``, so that the scripted twin keeps that module's parameter names.
    """
    expr = parse(formula)
    program, derivative = lower(expr, natives=True), lower_many(derivatives(expr), expr)
    params = check_params(params)
    init = {p: params.get(p, DEFAULT_CONSTANT) for p in program.params}
    casts = "".join(f", torch.tensor({p}, dtype=x.dtype, device=x.device)" for p in init)
    tensor_args = "".join(f", {p}: torch.Tensor" for p in init)
    owner = "params." if container else ""
    native = next(op.fn for op in program.ops if op.fn in NATIVES) if program.native else None
    # autograd differentiates a native forward, and a second derivative differentiates the derivatives' program
    forward_stable = sorted({op.fn for op in program.ops} & _STABLE.keys())
    backward_stable = sorted({op.fn for op in derivative.ops} & _STABLE.keys())
    stable = sorted({*forward_stable, *backward_stable})
    source = _TEMPLATE.format(
        formula=program.formula,
        formula_repr=repr(program.formula),
        params_repr=repr(init),
        native=native is not None,
        module_note=(
            f"``{class_name}()`` is an nn.Module calling torch's own {native} (numbers around it), differentiated as\n"
            + (
                "torch differentiates it, but through a stable form of "
                + "; ".join(f"{op} ({_STABLE[op][2]})" for op in forward_stable)
                + ";\n``fused`` changes nothing."
                if forward_stable
                else "torch differentiates it; ``fused`` changes nothing."
            )
            if native
            else f"``{class_name}()`` is an nn.Module whose backward is the symbolic derivative (it saves only\n"
            f"the input, like torch's own activations); ``{class_name}(fused=True)`` compiles forward and backward\n"
            "with torch.compile."
        ),
        learned=learned_note(learned, program.params),
        cls=class_name,
        onnx=_onnx_note(onnx_unsupported(formula)),
        param_args="".join(f", {p}: float = {v!r}" for p, v in init.items()),
        tensor_args=tensor_args,
        param_names_doc="".join(f", d/d{p}" for p in init),
        grad_checks="".join(f" or self.{owner}{p}.requires_grad" for p in init),
        forward="\n".join("    " + line for line in program_source(program, calls=_values(forward_stable))),
        backward="\n".join("    " + line for line in program_source(derivative, calls=_calls(backward_stable))),
        module_doc=" with learnable " + ", ".join(init) if init else "",
        init_args="".join(f", {p}: float = {v!r}" for p, v in init.items()),
        init_example=", ".join(f"{p}=..." for p in init) or "inplace=True",
        init_body=("        self.params = _Constants()\n" if container else "")
        + "".join(f"        self.{owner}{p} = torch.nn.Parameter(torch.tensor(float({p})))\n" for p in init)
        + (
            "        if hasattr(self, 'register_load_state_dict_pre_hook'):  # torch 2\n"
            "            self.register_load_state_dict_pre_hook(_compiled_names)\n"
            if init and not container
            else ""
        ),
        checkpoints=_CHECKPOINTS if init and not container else "",
        forward_args="".join(f", self.{owner}{p}" for p in init),
        container=_CONTAINER if container else "",
        backward_source=_BACKWARD_SOURCE,
        stable=_stable_source(stable, program, forward_stable, tensor_args),
        native_forward="_stable" if forward_stable else "_activation",
        casts=casts,
        tensor_names="".join(f", {p}" for p in init),
    )
    return source.replace("  # noqa: UP037", "")  # this package's linter's word on the sources it holds


def _stable_source(ops: Sequence[str], forward: Program, forward_ops: Sequence[str], args: str) -> str:
    """The source of ``ops``' stable forms, and of ``_stable(x{args})``: the ``forward`` program computed through its
    ``forward_ops``' forms, which autograd differentiates (``activation``, and a native module)."""
    if not ops:
        return ""
    parts = [inspect.getsource(slope_function)] + [_STABLE[op][0] for op in ops]
    if forward_ops:
        body = "".join(f"    {line}\n" for line in program_source(forward, calls=_calls(forward_ops)))
        parts.append(f"@torch.jit.unused\ndef _stable(x: torch.Tensor{args}) -> torch.Tensor:\n{body}")
    return "".join(f"\n\n{part}" for part in parts)


def _values(ops: Sequence[str]) -> dict[str, str]:
    """A forward's calls in place of ``ops``' templates where torch's exporter lacks the op (sinc: ``_sinc_value``,
    which computes it in ops ONNX has while torch exports, and is torch's own op otherwise)."""
    return {"sinc": "_sinc_value({0})"} if "sinc" in ops else {}


def _calls(ops: Sequence[str]) -> dict[str, str]:
    """The stable forms' calls in place of ``ops``' templates."""
    return {op: _STABLE[op][1] for op in ops}


@functools.lru_cache(maxsize=256)
def standalone_module(formula: str) -> types.ModuleType:
    """``formula``'s standalone module with ``CompiledActivation``'s parameter names, written to this process's private
    folder and imported from there (TorchScript reads the source of what it compiles)."""
    source = standalone_source(formula, container=True)
    name = f"evoact_standalone_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    path = _folder() / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a spec with a loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def _folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="evoact-standalone-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
