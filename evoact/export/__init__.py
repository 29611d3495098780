"""Exporters: one module per target format, all called as ``(path, formula, params, learned)``."""

from evoact.compiler.standalone import onnx_unsupported
from evoact.compiler.standalone import standalone_source as torch_module_source
from evoact.export.jax_function import export_jax
from evoact.export.json_record import export_json
from evoact.export.latex import export_latex
from evoact.export.sympy_code import export_sympy
from evoact.export.torch_module import export_torch_module, load_activation, read_torch_module
from evoact.ops import ONNX_UNSUPPORTED

#: ``evoact export --format`` choices.
EXPORTERS = {
    "module": export_torch_module,
    "sympy": export_sympy,
    "latex": export_latex,
    "json": export_json,
    "jax": export_jax,
}

__all__ = [
    "EXPORTERS",
    "ONNX_UNSUPPORTED",
    "onnx_unsupported",
    "export_jax",
    "export_json",
    "export_latex",
    "export_sympy",
    "export_torch_module",
    "load_activation",
    "read_torch_module",
    "torch_module_source",
]
