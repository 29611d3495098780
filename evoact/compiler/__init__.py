"""The compiler: SymPy activation -> straight-line torch program -> module with a symbolic backward."""

from evoact.compiler.derivative import derivatives
from evoact.compiler.lowering import CompileError, Op, Program, lower, lower_many
from evoact.compiler.module import MODES, CompiledActivation, choose_mode, compile_activation, run_program, values_at
from evoact.compiler.standalone import program_source, standalone_module, standalone_source
from evoact.ops import OPS

__all__ = [
    "MODES",
    "OPS",
    "CompileError",
    "CompiledActivation",
    "Op",
    "Program",
    "choose_mode",
    "compile_activation",
    "derivatives",
    "lower",
    "lower_many",
    "program_source",
    "run_program",
    "standalone_module",
    "standalone_source",
    "values_at",
]
