import random

import pytest
import sympy as sp

from evoact.formula import parse
from evoact.genome import Genome, TreeSyntaxError, load_search_space
from evoact.primitives import X


@pytest.fixture(params=["default", "ramachandran2017"])
def genome(request):
    return Genome(load_search_space(request.param))


def test_random_trees_respect_initial_depths(genome):
    random.seed(0)
    limits = genome.space.limits
    for _ in range(300):
        tree = genome.random_tree()
        assert tree.height <= max(limits.init_max_depth, 2)
        assert isinstance(genome.to_expr(tree), sp.Expr)


def test_core_units_have_binary_of_unaries_shape():
    genome = Genome(load_search_space("ramachandran2017"))
    random.seed(1)
    for _ in range(200):
        tree = genome.random_tree()
        assert tree[0].name in genome.space.binary
        assert tree[1].name in genome.space.unary


def test_variation_respects_types_and_limits_are_checkable(genome):
    random.seed(2)
    for _ in range(300):
        a, b = genome.random_tree(), genome.random_tree()
        for child in (genome.crossover(a, b), genome.mutate(a)):
            genome.parse(str(child))  # a child is always a well-typed tree of the space
            if genome.within_limits(child):
                assert child.height <= genome.space.limits.max_depth and len(child) <= genome.space.limits.max_nodes


def test_tree_string_round_trip(genome):
    random.seed(3)
    for _ in range(200):
        tree = genome.random_tree()
        assert str(genome.parse(str(tree))) == str(tree)


@pytest.mark.parametrize(
    "printed, tree",
    [
        ("-x/(2*(1 + exp(-x)))", "neg(mul(0.5, mul(x, sigmoid(x))))"),  # SymPy reads 2*(1 + y) as 2 + 2*y
        ("x/(2*(1 + exp(-x)))", "mul(0.5, mul(x, sigmoid(x)))"),
        ("x*tanh(log(exp(x) + 1))", "mul(x, tanh(softplus(x)))"),
        ("Min(0, 1 - x, tanh(x))", "min0(min(tanh(x), add(1, neg(x))))"),  # SymPy flattens a Min of a Min
        ("Abs(x + 1) + Max(0, beta, x)", "add(abs(add(1, x)), relu(max(beta, x)))"),
        ("Min(pi/4, -tanh(x))", "min(atan(1), neg(tanh(x)))"),  # SymPy evaluates a constant part: atan(1) is pi/4
        ("erf(Min(0, x) - log(1 + sqrt(2)))", "erf(add(neg(asinh(1)), min0(x)))"),
        ("x + 4", "add(square(2), x)"),
        ("x**3", "mul(square(x), x)"),  # SymPy collects x*x*x into a power no one primitive makes
        ("x**4", "square(square(x))"),
        ("x**5/(1 + exp(-x))", "mul(mul(square(square(x)), x), sigmoid(x))"),
    ],
)
def test_a_formula_as_show_prints_it_gives_back_its_tree(printed, tree):
    genome = Genome(load_search_space("default"))
    assert str(genome.to_expr(genome.parse(tree))) == printed
    assert str(genome.from_formula(parse(printed))) == tree


def test_a_number_may_start_with_its_point_as_in_a_formula():
    """A seed ``add(x, .5)`` was refused: "unexpected character '.'"."""
    genome = Genome(load_search_space("default"))
    assert str(genome.parse("add(x, .5)")) == str(genome.parse("add(x, 0.5)")) == "add(x, 0.5)"


def test_seed_trees_mean_known_functions():
    default = Genome(load_search_space("default"))
    assert default.to_expr(default.parse("mul(x, sigmoid(x))")) == X / (1 + sp.exp(-X))
    rama = Genome(load_search_space("ramachandran2017"))
    beta = sp.Symbol("beta", real=True)
    assert rama.to_expr(rama.parse("sigmul(scale(x), identity(x))")) == X / (1 + sp.exp(-beta * X))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("mul(x)", "takes 2 argument"),
        ("foo(x)", "'foo' is not a primitive"),
        ("mul(x, x) x", "after a complete tree"),
        ("mul(x, __import__)", "not a primitive"),
        ("mul(x; x)", "unexpected character"),
    ],
)
def test_parse_errors(text, problem):
    genome = Genome(load_search_space("default"))
    with pytest.raises(TreeSyntaxError, match=problem):
        genome.parse(text)


def test_parse_rejects_wrong_type_in_core_units():
    rama = Genome(load_search_space("ramachandran2017"))
    with pytest.raises(TreeSyntaxError, match="'tanh' cannot stand where a core unit b\\(u1\\(.\\), u2\\(.\\)\\)"):
        rama.parse("tanh(x)")  # a candidate must be a core unit b(u1, u2), said without the type's class name


def test_a_formula_with_a_function_the_space_lacks_is_refused_by_name():
    genome = Genome(load_search_space("default"))
    with pytest.raises(TreeSyntaxError, match=r"\(no primitive of it makes cos, sinh\)$"):
        genome.from_formula(parse("x*cos(x) + sinh(x)"))


def test_a_formula_with_a_symbol_the_space_lacks_is_refused_by_name():
    genome = Genome(load_search_space("default"))
    with pytest.raises(
        TreeSyntaxError, match=r"^b: not a variable of this space \(x, and its learnable constants: beta\)"
    ):
        genome.from_formula(parse("x*sigmoid(b*x)"))
    typed = Genome(load_search_space("ramachandran2017"))  # beta only inside a primitive (scale): still its own
    seed = typed.to_expr(typed.parse(typed.space.seeds[0]))
    assert str(typed.from_formula(seed)) == typed.space.seeds[0]


@pytest.mark.parametrize("space", ["core_unit", "ramachandran2017"])
def test_a_typed_space_takes_any_of_its_formulas_as_show_prints_them(space):
    """A core-unit space's types let no formula be written node by node (x*sigmoid(beta*x) is sigmul(scale(x),
    identity(x))): its trees, few enough to look through, are looked up by meaning instead."""
    genome = Genome(load_search_space(space))
    for text in random.Random(0).sample(genome.all_trees(), 60):
        expr = genome.to_expr(genome.parse(text))
        assert genome.to_expr(genome.from_formula(parse(str(expr)))) == expr, text
    with pytest.raises(TreeSyntaxError, match="cannot stand where a .* is expected"):
        genome.from_formula(parse("tanh(tanh(tanh(x)))"))  # no tree means it: refused as before


def test_a_tree_with_a_constant_part_the_parser_would_refuse_means_no_function_and_is_built_at_once(tmp_path):
    """SymPy evaluates a constant part as it is built: ``sinh(exp(1e6))`` from a space's constant 1e6 held the driver
    for minutes. Such a part is beyond what the parser accepts (magnitude 1e30), so the tree means nothing (NaN,
    which no search admits), found before its parent is built."""
    import time

    space = tmp_path / "extreme.toml"
    space.write_text(
        'name = "extreme"\nstructure = "free"\n[primitives]\nunary = ["exp", "sinh", "sigmoid"]\nbinary = ["mul"]\n'
        "[terminals]\nconstants = [1000000.0]\n"
    )
    genome = Genome(load_search_space(str(space)))
    start = time.perf_counter()
    huge = ("mul(x, sigmoid(sinh(1000000.0)))", "sigmoid(exp(1000000.0))", "mul(x, exp(mul(1000000.0, 1000000.0)))")
    for tree in huge:
        assert genome.to_expr(genome.parse(tree)) is sp.nan, tree
    assert time.perf_counter() - start < 30  # minutes before; a bound on a hang, not a speed target
    assert genome.to_expr(genome.parse("mul(x, mul(1000000.0, 1000000.0))")) == 10**12 * X  # within the bound
