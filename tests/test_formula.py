import random

import pytest
import sympy as sp
import torch

from evoact.compiler import compile_activation
from evoact.formula import FormulaError, check_params, is_constant_name, parse, to_formula
from evoact.genome import Genome, load_search_space
from evoact.primitives import X

GRID = torch.linspace(-6, 6, 97, dtype=torch.float64)


def _values(expr: sp.Expr) -> torch.Tensor:
    return compile_activation(expr, {"beta": 0.75}).double()(GRID).detach()


@pytest.mark.parametrize("space", ["default", "ramachandran2017"])
def test_1000_random_trees_parse_back_to_the_same_function(space):
    genome = Genome(load_search_space(space))
    random.seed(4)
    for _ in range(1000):
        expr = genome.to_expr(genome.random_tree())
        text = to_formula(expr)
        back = parse(text)
        if back != expr:  # SymPy may re-associate constants; the function must still be the same
            torch.testing.assert_close(_values(back), _values(expr), rtol=1e-9, atol=1e-12, equal_nan=True, msg=text)
        assert to_formula(parse(to_formula(back))) == to_formula(back)  # the canonical form is a fixed point


def test_aliases_mean_the_textbook_functions():
    assert parse("silu(x)") == parse("x*sigmoid(x)") == X / (1 + sp.exp(-X))
    assert parse("relu(x)") == sp.Max(0, X)
    assert parse("softplus(x)") == sp.log(1 + sp.exp(X))
    assert parse("2^x") == parse("2**x")
    assert parse("-x**2") == -(X**2)
    assert parse("0.5*x") == X / 2


@pytest.mark.parametrize(
    "text, problem",
    [
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
    ],
)
def test_bad_formulas_get_positioned_errors(text, problem):
    with pytest.raises(FormulaError, match=problem):
        parse(text)


def test_learnable_names_can_be_restricted():
    assert parse("beta*x", learnable=("beta",)).free_symbols == {X, sp.Symbol("beta", real=True)}
    with pytest.raises(FormulaError, match="position 0: unknown name 'gamma'"):
        parse("gamma*x", learnable=("beta",))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("x" + "**x" * 300, "nests deeper than"),
        ("-" * 1500 + "x", "nests deeper than"),
        ("exp(exp(exp(1000)))", "not a real number of magnitude"),
        ("exp(exp(exp(2)))*x", "not a real number of magnitude"),
        ("(-8)**(1/3)*x", "is not a real number"),
        ("0**x", "is infinite wherever its exponent is negative"),
        ("(-2)**x", r"\(-2\)\*\*\(x\) is not a real number wherever its exponent is not an integer"),
        ("log(0) + x", "infinite or undefined"),
        ("sqrt(-1)*x", "not a real number"),
        ("x\x00", "position 1: unexpected character"),
        ("\u0445*x", "position 0: unexpected character"),  # Cyrillic look-alike of x
        ("x + 1" * 500, "characters long"),
        ("+".join([f"sin({i}*x)" for i in range(150)]), "more than 400 nodes"),
        (
            "(1e30*x)**64",
            r"number 10{39} is larger than 1e\+30$",
        ),  # its expanded number, cut: the line was 2,056 characters long
    ],
)
def test_hostile_formulas_are_bounded_and_explained(text, problem):
    with pytest.raises(FormulaError, match=problem) as raised:
        parse(text)
    assert len(str(raised.value)) < 400


def test_constants_given_as_anything_but_a_mapping_are_named():
    with pytest.raises(FormulaError, match=r"^constants must map names to numbers \(\{'beta': 1.0\}\), not a list$"):
        check_params([1.0])


@pytest.mark.parametrize(
    "name, ok",
    [
        ("beta", True),
        ("alpha_2", True),
        ("lambda", False),
        ("torch", False),
        ("t0", False),
        ("x", False),
        ("exp", False),
        ("Beta", False),
        ("_b", False),
        ("self", False),
        ("values", False),  # nn.ParameterDict's own: a module keeps its constants there by name
        ("keys", False),
        ("update", False),
    ],
)
def test_constant_names_cannot_collide_with_generated_code(name, ok):
    assert is_constant_name(name) is ok
    if not ok and name != "x":  # x is the input, not a constant
        with pytest.raises(FormulaError):
            parse(f"{name}*x")


def test_exponential_chains_of_x_stay_symbolic():
    assert to_formula(parse("exp(exp(exp(x)))")) == "exp(exp(exp(x)))"
