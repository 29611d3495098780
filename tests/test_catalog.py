import pytest

from evoact.catalog import CATALOG, REDISCOVERY, nearest_known
from evoact.formula import parse


def test_the_catalog_is_large_parsable_and_referenced():
    assert len(CATALOG) >= 40 and len({k.name for k in CATALOG}) == len(CATALOG)
    for known in CATALOG:
        parse(known.formula)
        assert known.reference


@pytest.mark.parametrize(
    "formula, name",
    [
        ("x*sigmoid(x)", "SiLU / Swish"),
        ("x*tanh(log(1 + exp(x)))", "Mish"),
        ("max(0, x)", "ReLU"),
        ("3*max(0, x)", "ReLU"),  # an output scale does not hide a rediscovery
        ("x*sigmoid(beta*x)", "SiLU / Swish"),
        ("x*erf(x/sqrt(2))/2 + x/2", "GELU"),
        ("tanh(x)", "Tanh"),
    ],
)
def test_rediscoveries_are_named(formula, name):
    best = nearest_known(formula)[0]
    assert best.name == name and best.rediscovery and best.distance <= REDISCOVERY


def test_a_learnable_scale_is_fitted_and_near_misses_are_not_rediscoveries():
    for beta in (2.0, 0.37, 7.3):  # the grid's best beta, refined: 2, not the grid point 2.01
        swish = nearest_known(f"x*sigmoid({beta}*x)")[0]
        assert swish.name == "SiLU / Swish" and swish.beta == pytest.approx(beta, rel=1e-4) and swish.distance < 1e-5
    assert nearest_known("Max(0, x) + Min(0, x/5)")[0].beta == pytest.approx(0.2, rel=1e-4)  # PReLU
    near_gelu = {m.name: m for m in nearest_known("x*sigmoid(1.702*x)", top=5)}
    assert near_gelu["GELU"].distance < 0.01  # the sigmoid approximation of GELU
    novel = nearest_known("sin(x)*Min(x, asinh(x))")[0]
    assert not novel.rediscovery and novel.distance > 0.05


def test_learnable_constants_of_the_formula_take_the_given_values():
    assert nearest_known("max(0, x) + min(0, a*x)", {"a": 0.01})[0].name == "LeakyReLU"
    assert nearest_known("max(0, x) + min(0, a*x)", {"a": 0.0})[0].name == "ReLU"


@pytest.mark.parametrize(
    "formula, described",
    [
        ("x*tanh(log(exp(x) + 1))", "Mish"),
        ("-2*x*tanh(log(exp(x) + 1))", "-2 × Mish"),  # not "Mish": it trains as twice the negated Mish
        ("x/(1 + exp(-x*exp(1/2)))", "SiLU / Swish (beta = 1.65)"),
        ("-x/((1 + exp(-x))*(exp(-2) + 1))", "-0.881 × SiLU / Swish"),
    ],
)
def test_a_rediscovery_is_described_with_its_scale_and_beta(formula, described):
    (match,) = nearest_known(formula, top=1)
    assert match.rediscovery and match.described == described


@pytest.mark.parametrize(
    "formula, described",
    [
        ("Min(0, x)", "-1 × ReLU of -x"),  # as ReLU trains, with its weights' signs flipped: no new function
        ("-x + Max(-x, x)", "2 × ReLU of -x"),
        ("-x/(1 + exp(x))", "SiLU / Swish of -x"),
        ("tanh(x)", "Tanh"),  # odd: as close either way, named directly
        ("Max(x, 0) + Min(x/5, 0)", "PReLU (beta = 0.2)"),
        ("log(1 + exp(-x))", "-1 × LogSigmoid"),  # as close as Softplus of -x, to rounding: the one of x first
    ],
)
def test_a_known_function_of_minus_x_is_a_rediscovery_named_so(formula, described):
    (match,) = nearest_known(formula, top=1)
    assert match.rediscovery and match.described == described
