"""Reference activations evaluated in every run with the same protocol as the candidates."""

from __future__ import annotations

from types import MappingProxyType

from evoact.formula import parse, to_formula

#: A Padé Activation Unit of degrees 5/4 in its safe form (Molina et al. 2020): P(x) / (1 + |Q(x)|), every
#: coefficient learnable.
PAU_FORMULA = "(a0 + a1*x + a2*x**2 + a3*x**3 + a4*x**4 + a5*x**5) / (1 + Abs(b1*x + b2*x**2 + b3*x**3 + b4*x**4))"
#: Its initial coefficients: the least-squares fit to Leaky ReLU (slope 0.01) on [-3, 3], as the paper initialises it
#: (its published values agree to three digits). The `rational` space starts from the same numbers.
PAU_INIT = MappingProxyType(
    {
        "a0": 0.0335721,
        "a1": 0.505005,
        "a2": 1.65270,
        "a3": 2.00815,
        "a4": 0.930592,
        "a5": 0.152136,
        "b1": 4.53536e-05,
        "b2": 3.97648,
        "b3": 3.30032e-05,
        "b4": 0.301253,
    }
)

#: Name -> formula of the reference activations a run compares its candidates with. In a GLU task the function is
#: the gate, so ``relu``, ``gelu`` and ``silu`` are ReGLU, GEGLU and SwiGLU there (Shazeer 2020), ``sine`` is the
#: sine gate, and ``xsilu`` is SiLU with an expanded gating range (Huang 2024: one trainable alpha per layer).
BASELINES: dict[str, str] = {
    "relu": "relu(x)",
    "gelu": "gelu(x)",
    "silu": "silu(x)",
    "tanh": "tanh(x)",
    "mish": "mish(x)",
    "sine": "sin(x)",
    "xsilu": "x*(sigmoid(x)*(1 + 2*alpha) - alpha)",
    "pau": PAU_FORMULA,
}
#: A baseline's learnable constants and where they start (a constant not named here starts at the space's value).
BASELINE_PARAMS: dict[str, dict[str, float]] = {"xsilu": {"alpha": 0.0}, "pau": dict(PAU_INIT)}
#: The baselines of a run on pointwise tasks, and on GLU tasks (where the function is a gate).
DEFAULT_BASELINES = ("relu", "gelu", "silu", "tanh")
GLU_BASELINES = ("relu", "gelu", "silu", "sine", "xsilu")
#: On GLU tasks a GLU is also compared with the plain feed-forward layer ``U act(W x)`` at equal parameters, with
#: these activations (Shazeer 2020's ReLU and GELU FFNs): ``confirm`` trains them as ``plain-relu`` and ``plain-gelu``.
PLAIN_FFN_BASELINES = ("relu", "gelu")


def baseline_formula(name: str) -> str:
    """The canonical formula of a named baseline."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return to_formula(parse(BASELINES[name]))


def baseline_params(name: str, space_params: dict[str, float]) -> dict[str, float]:
    """The initial values of a named baseline's constants: its own where it has them, else the space's."""
    return {**space_params, **BASELINE_PARAMS.get(name, {})}
