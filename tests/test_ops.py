"""The op table: every op computes the same in torch, in its source template and in the screening kernel."""

import io

import numpy as np
import pytest
import torch

from evoact.compiler import Program, compile_activation, lower
from evoact.compiler.lowering import Op
from evoact.export import export_torch_module
from evoact.formula import FUNCTIONS, parse
from evoact.ops import KERNEL_CODES, OPS
from evoact.screening.kernel import Batch

X = np.linspace(0.3, 1.4, 23)  # inside every op's domain, away from the kinks of abs, sign, heaviside, max and min
P = 0.73


def _arguments(op) -> tuple:
    return ("x",) if op.arity == 1 else ("x", "p")


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_has_a_kernel_branch_that_agrees_with_torch(name):
    op = OPS[name]
    program = Program(name, ("p",), (Op("t0", name, _arguments(op)),), ("t0",))
    values, derivs = Batch([program], [{"p": P}]).evaluate(X)
    x = torch.tensor(X, requires_grad=True)
    args = (x,) if op.arity == 1 else (x, torch.tensor(P, dtype=torch.float64))
    want = op.torch(*args)
    (slope,) = torch.autograd.grad(want.sum(), x, allow_unused=True) if want.requires_grad else (None,)  # steps: flat
    np.testing.assert_allclose(values[0], want.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(derivs[0], np.zeros_like(X) if slope is None else slope.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_has_a_source_template_that_agrees_with_torch(name):
    op = OPS[name]
    x, p = torch.tensor(X), torch.tensor(P, dtype=torch.float64)
    source = op.template.format(*(("a",) if op.arity == 1 else ("a", "b")))
    got = eval(source, {"torch": torch, "a": x, "b": p})  # the table's own template, as generated code runs it
    torch.testing.assert_close(got, op.torch(*((x,) if op.arity == 1 else (x, p))))


def test_op_codes_are_distinct_and_every_formula_function_lowers_to_its_op():
    assert len(set(KERNEL_CODES.values())) == len(KERNEL_CODES)
    for op in OPS.values():
        if op.formula:
            assert FUNCTIONS[op.formula][0] == (-2 if op.variadic else op.arity)
            call = f"{op.formula}(x, beta)" if op.variadic else f"{op.formula}(x)"
            assert op.name in {step.fn for step in lower(parse(call)).ops}, op.name


@pytest.mark.parametrize("name", [op.name for op in OPS.values() if op.formula and not op.variadic])
def test_the_onnx_flag_says_whether_torch_exports_the_op(tmp_path, name):
    op = OPS[name]
    module_file = export_torch_module(tmp_path / "act.py", f"{op.formula}(x)")
    namespace: dict = {}
    exec(compile(module_file.read_text(), str(module_file), "exec"), namespace)  # our own generated output
    module = namespace["Activation"]().eval()
    x = torch.linspace(0.3, 1.4, 8)
    if op.onnx:
        torch.onnx.export(module, (x,), io.BytesIO(), dynamo=False)
    else:
        with pytest.raises(Exception, match="export"):
            torch.onnx.export(module, (x,), io.BytesIO(), dynamo=False)


def test_a_new_primitive_is_one_table_entry():
    """Snake (Ziyin et al. 2020), x + sin(alpha*x)^2/alpha with a learnable alpha, added as one line of
    primitives.py."""
    from evoact.genome import Genome
    from evoact.screening import ScreeningConfig, screen_static
    from evoact.search_space import SearchSpaceError, parse_search_space

    text = 'name = "snake"\n[primitives]\nunary = ["snake", "tanh"]\nbinary = ["add"]\n[learnable]\nalpha = 0.5\n'
    space = parse_search_space(text)
    genome = Genome(space)
    formula = str(genome.to_expr(genome.parse("snake(tanh(x))")))
    assert formula == "tanh(x) + sin(alpha*tanh(x))**2/alpha"
    (verdict,) = screen_static([formula], [3], space.learnable, 12, ScreeningConfig())
    assert verdict.reason is None
    act = compile_activation(formula, space.learnable)
    act(torch.linspace(-3, 3, 50)).pow(2).sum().backward()
    assert act.params["alpha"].item() == 0.5 and act.params["alpha"].grad.abs().item() > 0
    with pytest.raises(SearchSpaceError, match="primitives: snake: needs the learnable constant 'alpha'"):
        parse_search_space(text.replace("alpha = 0.5", "beta = 1.0"))


@pytest.mark.parametrize(
    "text, simplest",
    [
        ("Max(x, 0)", "Max(0, x)"),
        ("Max(x**2, 0)", "x**2"),
        ("Min(exp(x), 0)", "0"),
        ("Max(exp(x), -1)", "exp(x)"),
        ("Min(Abs(x), -2)", "-2"),
        ("Max(x, x + 1)", "x + 1"),
        ("Min(x, x + 1, 3, 2)", "Min(2, x)"),
        ("Max(x, Max(sin(x), 1/2))", "Max(1/2, x, sin(x))"),
        ("Max(x, x)", "x"),
        ("Max(1, 2)", "2"),
        ("Min(x, x - pi)", "x - pi"),
        ("Max(1, tanh(127))", "1"),  # a gap of 2e-110, below SymPy's working precision: it raised TypeError
        ("Min(1, tanh(127), x)", "Min(x, tanh(127))"),
    ],
)
def test_max_and_min_simplify_by_numbers_signs_and_constant_gaps(text, simplest):
    assert str(parse(text)) == simplest


def test_max_and_min_of_random_trees_are_sympys_functions_and_their_text_reads_back():
    """The op table's cheap Max and Min denote the same function as SymPy's own, and their printed form parses."""
    import random

    import sympy as sp

    from evoact.compiler import values_at
    from evoact.formula import FormulaError, to_formula
    from evoact.genome import Genome, load_search_space
    from evoact.primitives import PRIMITIVES

    def sympys(tree) -> sp.Expr:
        """The tree built with SymPy's own (full) Max and Min."""
        stack: list[sp.Expr] = []
        for node in reversed(tree):
            if node.name in PRIMITIVES:
                prim, args = PRIMITIVES[node.name], [stack.pop() for _ in range(node.arity)]
                names = ("u",) if prim.arity == 1 else ("u1", "u2")
                stack.append(prim.expr.xreplace({sp.Symbol(n, real=True): a for n, a in zip(names, args)}))
            else:
                stack.append(genome.to_expr(type(tree)([node])))
        return stack[0]

    genome, points, checked = Genome(load_search_space("default")), np.linspace(-4, 4, 81), 0
    random.seed(7)
    for _ in range(300):
        tree = genome.random_tree()
        if not any(node.name in ("max", "min", "relu", "min0") for node in tree):
            continue
        ours, theirs = genome.to_expr(tree), sympys(tree)
        params = {"beta": 0.7} if "beta" in str(tree) else {}
        try:
            again = parse(to_formula(ours))
        except FormulaError:
            continue  # beyond the formula limits (a huge constant), as SymPy's form is
        for other in (theirs, again):
            np.testing.assert_allclose(
                values_at(ours, points, params), values_at(other, points, params), rtol=1e-9, atol=1e-12
            )
        checked += 1
    assert checked >= 30


def test_every_ops_function_pickles_by_name():
    """An op's torch function is this module's, as pickle and torch.compile's logs name it (sinc's slope is made from
    its source template)."""
    import pickle

    from evoact.native import PROGRAM_OPS

    for name, op in PROGRAM_OPS.items():
        if getattr(op.torch, "__name__", "") != "<lambda>":
            assert pickle.loads(pickle.dumps(op.torch)) is op.torch, name
    assert PROGRAM_OPS["sinc_slope"].torch.__name__ == "_sinc_slope"
