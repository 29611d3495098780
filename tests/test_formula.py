import random

import pytest
import sympy as sp

from evoact.formula import FormulaError, parse, to_formula
from evoact.genome import Genome
from evoact.primitives import X
from evoact.search_space import load_search_space


def _same_function(a: sp.Expr, b: sp.Expr) -> bool:
    subs = {s: 0.7 for s in (a.free_symbols | b.free_symbols) if s.name != "x"}
    for v in (-3.1, -0.4, 0.0, 0.9, 2.5):
        va, vb = complex(a.subs(subs).subs(X, v).evalf()), complex(b.subs(subs).subs(X, v).evalf())
        if abs(va - vb) > 1e-9 * max(1.0, abs(va)):
            return False
    return True


@pytest.mark.parametrize("space", ["default", "ramachandran2017"])
def test_canonical_string_parses_back_to_the_same_function(space):
    genome = Genome(load_search_space(space))
    random.seed(4)
    for _ in range(150):
        expr = genome.to_expr(genome.random_tree())
        back = parse(to_formula(expr))
        assert back == expr or _same_function(back, expr), to_formula(expr)
        assert to_formula(parse(to_formula(back))) == to_formula(back)  # canonical form is a fixed point


def test_aliases_mean_the_textbook_functions():
    assert parse("silu(x)") == parse("x*sigmoid(x)") == X / (1 + sp.exp(-X))
    assert parse("relu(x)") == sp.Max(0, X)
    assert parse("softplus(x)") == sp.log(1 + sp.exp(X))
    assert parse("2^x") == parse("2**x")
    assert parse("-x**2") == -(X**2)
    assert parse("0.5*x") == X / 2


@pytest.mark.parametrize("text, problem", [
    ("", "empty formula"),
    ("x +", "ends too early"),
    ("__import__('os').system('true')", "unexpected character"),
    ("x.__class__", "unexpected character"),
    ("lambda: 1", "unexpected character"),
    ("open(x)", "unknown function 'open'"),
    ("x**(10**10)", "exponent"),
    ("1e400*x", "larger than"),
    ("max(x)", "at least 2 argument"),
    ("(" * 5000 + "x" + ")" * 5000, "limit"),
    ("tanh", "needs arguments"),
    ("Beta*x", "unknown name 'Beta'"),
    ("x / 0", "infinite or undefined"),
])
def test_bad_formulas_get_positioned_errors(text, problem):
    with pytest.raises(FormulaError, match=problem):
        parse(text)


def test_learnable_names_can_be_restricted():
    assert parse("beta*x", learnable=("beta",)).free_symbols == {X, sp.Symbol("beta", real=True)}
    with pytest.raises(FormulaError, match="position 0: unknown name 'gamma'"):
        parse("gamma*x", learnable=("beta",))
