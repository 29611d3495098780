"""Export an activation as a standalone Python file that needs only torch."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from evoact.compiler import CompiledActivation, compile_activation, standalone_source
from evoact.export.json_record import read_json_record
from evoact.files import write_file
from evoact.formula import FormulaError, X, check_params, parse, unknown_constant


def export_torch_module(
    path: str | Path,
    formula: str,
    params: dict[str, float] | None = None,
    learned: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write the standalone module file and return its path."""
    path = Path(path)
    write_file(path, standalone_source(formula, params, learned))
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
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"{path}: not a readable Python file ({type(exc).__name__}: {str(exc)[:100]})") from None
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
    if not isinstance(params, dict):
        raise ValueError(f"{path}: PARAMS must map constant names to numbers")
    try:
        return formula, check_params(params)
    except FormulaError as exc:
        raise ValueError(f"{path}: PARAMS must map constant names to numbers ({exc})") from None


def load_activation(path_or_formula: str | Path, params: dict[str, float] | None = None) -> CompiledActivation:
    """An activation module from an exported file (a module, a SymPy file or a JSON record: a ``Path``, a name
    ending in ``.py``, or any existing file) or from a formula; both go through the safe parser."""
    if isinstance(path_or_formula, Path) or str(path_or_formula).endswith(".py") or _is_file(str(path_or_formula)):
        formula, stored = read_exported(path_or_formula)
        expr = parse(formula)
        if params and (problem := unknown_constant(expr, params)):  # the file gives every constant a value
            warnings.warn(f"load_activation: {problem}; ignored", UserWarning, stacklevel=2)
        return compile_activation(expr, {**stored, **(params or {})})
    text = str(path_or_formula)
    try:
        expr = parse(text)
    except FormulaError as exc:
        expr, problem = None, f"{text!r} is no file, nor a formula: {exc}"
    else:
        problem = (
            f"load_activation: {text!r} is no file, and as a formula it has no x (a constant function); give the"
            " exported file's path (my_act.py, a .json or a SymPy file) or a formula in x"
        )
    if expr is not None and X in expr.free_symbols:  # a formula in x, even where a folder has its name
        return compile_activation(expr, params)
    if text.strip() and _is_folder(text):  # a mistyped path parses as constants: a constant function is no activation
        raise ValueError(
            f"load_activation: {text} is a folder; give an exported file (of a run: evoact export RUN -o my_act.py)"
        )
    if text.strip() and (near := _exported_beside(text)):
        problem += f" ({near} is here: did you mean it?)"
    raise (FormulaError if expr is None else ValueError)(problem)


def _exported_beside(text: str) -> str | None:
    """A file that ``text``, a name without its suffix, names with one (``act33`` for ``act33.py``), if one exists."""
    for suffix in (".py", ".json"):
        if _is_file(text + suffix):
            return text + suffix
    return None


def read_exported(path: str | Path) -> tuple[str, dict[str, float]]:
    """The formula and constants of any exported file that holds them: a JSON record, else a Python file's
    ``FORMULA`` and ``PARAMS`` (a module's or a SymPy file's); never run."""
    path = Path(path)
    if path.is_file() and path.stat().st_size <= MAX_MODULE_BYTES:  # a larger one is refused as no export, unread
        with path.open("rb") as file:  # a record saved again may start with a byte-order mark or white space
            head = file.read(4096).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        if path.suffix.lower() == ".json" or head.startswith("{"):
            return read_json_record(path)
    return read_torch_module(path)


def _is_folder(text: str) -> bool:
    """Whether ``text`` names an existing folder."""
    try:
        return Path(text).is_dir()
    except (OSError, ValueError):
        return False


def _is_file(text: str) -> bool:
    """Whether ``text`` names an existing file (a formula is rarely a valid path, and too long or odd ones raise)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False
