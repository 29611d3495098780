"""Reference activations evaluated in every run with the same protocol as the candidates."""

from __future__ import annotations

from evoact.formula import parse, to_formula

#: Name -> formula of the reference activations a run compares its candidates with.
BASELINES: dict[str, str] = {
    "relu": "relu(x)",
    "gelu": "gelu(x)",
    "silu": "silu(x)",
    "tanh": "tanh(x)",
    "mish": "mish(x)",
}
DEFAULT_BASELINES = ("relu", "gelu", "silu", "tanh")


def baseline_formula(name: str) -> str:
    """The canonical formula of a named baseline."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return to_formula(parse(BASELINES[name]))
