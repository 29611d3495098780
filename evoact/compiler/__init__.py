"""The compiler: SymPy activation -> straight-line torch program -> module with a symbolic backward."""

from evoact.compiler.derivative import derivatives
from evoact.compiler.lowering import CompileError, Op, Program, lower, lower_many
from evoact.compiler.module import MODES, CompiledActivation, choose_mode, compile_activation, run_program, values_at
from evoact.compiler.ops import OPS


def program_source(program: Program) -> list[str]:
    """Python source lines (assignments, then ``return``) computing the program's outputs with torch."""
    lines = [f"{op.target} = " + OPS[op.fn][1].format(*[a if isinstance(a, str) else repr(a) for a in op.args])
             for op in program.ops]
    return lines + [f"return {', '.join(program.outputs)}"]


__all__ = ["MODES", "OPS", "CompileError", "CompiledActivation", "Op", "Program", "choose_mode", "compile_activation",
           "derivatives", "lower", "lower_many", "program_source", "run_program", "values_at"]
