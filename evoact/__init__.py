"""evoact: search for activation functions, inspect what was found, export the winners to torch."""

__version__ = "0.1.0"

from evoact.compiler import compile_activation
from evoact.export import load_activation
from evoact.formula import parse, to_formula
from evoact.search_space import load_search_space

__all__ = ["__version__", "compile_activation", "load_activation", "load_search_space", "parse", "to_formula"]
