"""Export an activation as a Python file with a ``jax.numpy`` function (needs only jax)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from evoact.compiler import lower
from evoact.compiler.standalone import check_exportable, learned_note, program_source
from evoact.files import write_file
from evoact.formula import DEFAULT_CONSTANT, check_params, parse
from evoact.ops import JAX_STABLE_SINC

_TEMPLATE = '''"""Activation function exported by evoact as a JAX function.

Formula: {formula}
{learned}Needs only jax. ``activation(x{doc_args})`` applies it elementwise to an array of any shape; it works under
``jax.jit``, ``jax.grad`` and ``jax.vmap``, and takes learnable constants as arguments (pass them from your model's
parameters to learn them).
"""

import jax as _jax  # underscored: a learnable constant (a parameter below) can never take these names
import jax.numpy as _jnp
import jax.scipy.special  # noqa: F401  (makes _jax.scipy.special available)

FORMULA = {formula_repr}
PARAMS = {params_repr}
{stable}

def activation(x{param_args}):
    """Apply the activation elementwise."""
{body}
'''


def export_jax(
    path: str | Path,
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write ``activation(x, **constants)`` in ``jax.numpy``, from the op table's JAX forms; returns the path."""
    params = check_params(params)
    check_exportable(formula, params)
    program = lower(parse(formula))  # the op table's ops only: torch's natives have no JAX form here
    init = {p: params.get(p, DEFAULT_CONSTANT) for p in program.params}
    calls = {"sinc": "_sinc({0})"} if any(op.fn == "sinc" for op in program.ops) else {}
    path = Path(path)
    write_file(
        path,
        _TEMPLATE.format(
            formula=program.formula,
            learned=learned_note(learned, program.params),
            doc_args="".join(f", {p}={v!r}" for p, v in init.items()),
            formula_repr=repr(program.formula),
            params_repr=repr(init),
            param_args="".join(f", {p}={v!r}" for p, v in init.items()),
            body="\n".join("    " + line for line in program_source(program, "jax", calls)),
            stable=f"\n\n{JAX_STABLE_SINC}" if calls else "",
        ),
    )
    return path
