import random
from collections.abc import Sequence

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evoact.compiler import CompileError, compile_activation, lower, run_program, standalone_module, standalone_source
from evoact.formula import X, parse, substitute
from evoact.genome import Genome, load_search_space
from evoact.native import NATIVES, PROGRAM_OPS, SLOT, recognise
from evoact.ops import OPS

MODES = ["symbolic", "fused"]
#: Native name -> torch's own function, as a user would call it.
TORCH = {
    "relu": F.relu,
    "relu6": F.relu6,
    "hardtanh": F.hardtanh,
    "elu": F.elu,
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda u: F.gelu(u, approximate="tanh"),
    "mish": F.mish,
    "logsigmoid": F.logsigmoid,
    "softplus": F.softplus,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
FORMS = [(n.name, form) for n in NATIVES.values() for form in n.formulas]


def _points() -> torch.Tensor:
    """Float64 points over [-8, 8], none on a kink of the natives or of their scaled variants."""
    return (torch.linspace(-8, 8, 1001, dtype=torch.float64) + 0.0037).requires_grad_()


def _check(act: torch.nn.Module, reference, x: torch.Tensor, params: Sequence[torch.Tensor] = ()) -> None:
    """Values and gradients (input and constants) of ``act`` against ``reference`` computed by torch's autograd."""
    x_ref = x.detach().clone().requires_grad_()
    refs = [p.detach().clone().requires_grad_() for p in params]
    y, y_ref = act(x), reference(x_ref, *refs)
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-12)
    grads = torch.autograd.grad(y.sum(), [x, *params])
    grads_ref = torch.autograd.grad(y_ref.sum(), [x_ref, *refs])
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)


def test_every_native_has_a_torch_op_and_a_template_and_the_op_table_keeps_its_own():
    assert set(TORCH) == set(NATIVES)
    for name, native in NATIVES.items():
        assert PROGRAM_OPS[name].torch is (OPS[name].torch if name in OPS else native.torch)
        assert PROGRAM_OPS[name].template.format("x").startswith("torch.")


@pytest.mark.parametrize("name, form", FORMS)
def test_equivalent_forms_are_recognised(name, form):
    expr = parse(form)
    if name in OPS:  # the op table's own activations: the plain lowering emits them already
        assert recognise(expr) is None and [op.fn for op in lower(expr).ops][-1] == name
        return
    match = recognise(expr)
    assert match is not None and match.native.name == name and match.argument == X and match.rest == SLOT


@pytest.mark.parametrize(
    "formula, name, argument, rest",
    [
        ("x/(1 + exp(-x))", "silu", "x", "s"),
        ("x*sigmoid(x)", "silu", "x", "s"),
        ("2*x/(1 + exp(-x))", "silu", "x", "2*s"),
        ("silu(2*x)", "silu", "2*x", "s"),
        ("silu(beta*x)", "silu", "beta*x", "s"),
        ("beta*silu(x)", "silu", "x", "beta*s"),
        ("x**2*sigmoid(x)", "silu", "x", "x*s"),
        ("silu(sin(x))", "silu", "sin(x)", "s"),
        ("x*tanh(log(exp(x) + 1))", "mish", "x", "s"),
        ("gelu(3*x)/2", "gelu", "3*x", "s/2"),
        ("2*(Max(0, x) + Min(0, exp(x) - 1)) + x", "elu", "x", "2*s + x"),
        ("x - softplus(-x)", "logsigmoid", "x", "s + x"),
        ("log(sigmoid(x))", "logsigmoid", "x", "s"),
        ("relu(2*x + 1)", "relu", "2*x + 1", "s"),
        ("Max(-1, Min(1, x))", "hardtanh", "x", "s"),
    ],
)
def test_scaled_shifted_and_nested_natives_are_recognised(formula, name, argument, rest):
    expr = parse(formula)
    match = recognise(expr)
    assert match is not None and match.native.name == name
    assert match.argument == parse(argument)
    assert match.rest == parse(rest, ("s", "beta")).xreplace({sp.Symbol("s", real=True): SLOT})
    assert match.rest.xreplace({SLOT: match.value}) == expr


@pytest.mark.parametrize(
    "formula",
    [
        "x*sigmoid(beta*x)",  # silu(beta*x)/beta: not a native of a sub-expression; beta stays learnable
        "sigmoid(x)",  # silu(x)/x would divide by x
        "2*softplus(x) + 1",  # -2*logsigmoid(-x) + 1: as direct as the op table's softplus
        "Max(0, exp(x))",  # relu of a positive argument is the argument
        "x/2*(1 + tanh(sqrt(2/pi)*(x + 0.04*x**3)))",  # not exactly GELU's tanh approximation
        "(x + tanh(x) + atan(x))/(1 + exp(-x))",
        "x*tanh(x*(beta + 1))",
        "2*x*tanh(atan(beta) + atan(x))",
    ],
)
def test_formulas_without_a_native_are_lowered_as_before(formula):
    expr = parse(formula)
    assert recognise(expr) is None
    assert lower(expr, natives=True).ops == lower(expr).ops


@pytest.mark.parametrize(
    "formula", ["x*sigmoid(100000*x)", "x*sigmoid(1e-30*x)", "x*sigmoid(500*x)", "gelu(300*x)/300", "x*sigmoid(x/900)"]
)
def test_a_scale_float16_cannot_hold_is_computed_as_written_not_by_the_native(formula):
    """silu(c*x)/c overflows in float16 from |x| = 65,504/c on (c = 1e5: 0.65, inf and NaN; c = 500: 131, where the
    formula is finite), and for a small c loses digits near 0 (c = 1e-30 is 0*1e30)."""
    assert recognise(parse(formula)) is None
    x = torch.tensor([-200.0, -2.0, -0.5, -1e-3, 1e-3, 0.5, 2.0, 200.0, 2000.0], dtype=torch.float64)
    for act in (compile_activation(formula), standalone_module(formula).Activation()):
        half = act(x.half().requires_grad_())
        half.sum().backward()
        assert torch.allclose(half.double(), act(x), rtol=1e-2, atol=1e-4) and torch.isfinite(half).all()


def test_a_near_miss_is_not_its_native_but_may_hold_others():
    ops = {op.fn for op in lower(parse("Max(0, x) + 2*Min(0, exp(x) - 1)"), natives=True).ops}  # ELU with alpha = 2
    assert "relu" in ops and "elu" not in ops


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, form", FORMS)
def test_native_modules_match_torch_values_and_gradients(name, form, mode):
    act = compile_activation(form, mode=mode).double()
    assert name in {op.fn for op in act.program.ops} and act._function is None  # torch's own backward
    _check(act, TORCH[name], _points())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["silu", "gelu", "mish", "elu", "logsigmoid", "relu6", "hardtanh"])
def test_scaled_and_shifted_natives_use_the_native_op(name, mode):
    scaled = substitute(NATIVES[name].expressions[0], {X: 3 * X})
    act = compile_activation(2 * scaled - sp.Rational(1, 2), mode=mode).double()
    assert [op.fn for op in act.program.ops] == ["mul", name, "mul", "add"]
    _check(act, lambda x: 2 * TORCH[name](3 * x) - 0.5, _points())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "formula, reference",
    [
        (
            "x*sigmoid(x)*tanh(x) + erf(x)/(1 + x**2)",
            lambda x: F.silu(x) * torch.tanh(x) + torch.erf(x) / (1 + x**2),
        ),
        ("mish(x)*silu(x) + Min(1, Max(-1, x))", lambda x: F.mish(x) * F.silu(x) + F.hardtanh(x)),
        ("atan(gelu(2*x)) + x*relu(x)", lambda x: torch.atan(F.gelu(2 * x)) + x * F.relu(x)),
    ],
)
def test_formulas_holding_natives_call_them_and_keep_values_and_gradients(formula, reference, mode):
    act = compile_activation(formula, mode=mode).double()
    fns = [op.fn for op in act.program.ops]
    assert set(fns) & {"silu", "mish", "hardtanh", "gelu", "relu"} and act._function is not None
    assert all(fns.count(n) <= 1 for n in NATIVES)  # each native once, shared where it recurs
    _check(act, reference, _points())


@pytest.mark.parametrize("mode", MODES)
def test_learnable_constants_stay_parameters_around_and_inside_natives(mode):
    act = compile_activation("x*sigmoid(beta*x)", {"beta": 1.7}, mode=mode).double()
    assert "silu" not in {op.fn for op in act.program.ops}
    _check(act, lambda x, b: x * torch.sigmoid(b * x), _points(), list(act.parameters()))
    act = compile_activation("silu(beta*x) + alpha*mish(x)", {"beta": 1.7, "alpha": -0.3}, mode=mode).double()
    assert {"silu", "mish"} <= {op.fn for op in act.program.ops}
    assert [name for name, _ in act.named_parameters()] == ["params.alpha", "params.beta"]
    _check(act, lambda x, a, b: F.silu(b * x) + a * F.mish(x), _points(), list(act.parameters()))


def test_a_native_formula_has_torchs_subgradient_at_a_kink_and_a_larger_one_the_midpoint():
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    for formula, slope in (("relu(x)", 0.0), ("2*Min(6, Max(0, x)) + 1", 0.0), ("x*relu(x) + relu(x)", 0.5)):
        (grad,) = torch.autograd.grad(compile_activation(formula).double()(x).sum(), x)
        assert grad.item() == slope, formula


def test_native_modules_pass_gradcheck_and_gradgradcheck():
    x = (torch.randn(12, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2).requires_grad_()
    for formula in ("2*x/(1 + exp(-x)) + 1", "mish(x)", "Min(6, Max(0, x))", "silu(beta*x)"):
        act = compile_activation(formula).double()
        assert torch.autograd.gradcheck(act, (x,)) and torch.autograd.gradgradcheck(act, (x,)), formula


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mish_keeps_torchs_first_derivative_and_a_finite_second_where_torchs_is_nan(dtype):
    x = torch.tensor([-1e4, -100.0, -3.0, 0.0, 0.5, 3.0, 100.0, 800.0, 1e4], dtype=dtype, requires_grad=True)
    act = compile_activation("2*mish(x)")
    torchs_slope = torch.autograd.grad(2 * F.mish(x).sum(), x)[0]
    assert torch.equal(torch.autograd.grad(act(x).sum(), x)[0], torchs_slope)  # torch's kernel
    (slope,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
    (curve,) = torch.autograd.grad(slope.sum(), x)
    torch.testing.assert_close(slope, torchs_slope)
    y = x.detach().requires_grad_()
    (composed,) = torch.autograd.grad((2 * y * torch.tanh(F.softplus(y))).sum(), y, create_graph=True)
    torch.testing.assert_close(curve, torch.autograd.grad(composed.sum(), y)[0])


def test_mish_differentiates_under_torch_func_and_forward_mode_as_torchs_does():
    x = torch.tensor([-3.0, 0.5, 2.0, 150.0])
    act = compile_activation("2*mish(x)")
    expected = torch.func.vmap(torch.func.grad(lambda u: 2 * F.mish(u)))(x)
    torch.testing.assert_close(torch.func.vmap(torch.func.grad(act))(x), expected)
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x.clone().requires_grad_(), torch.ones(4))
        torch.testing.assert_close(torch.autograd.forward_ad.unpack_dual(act(dual)).tangent, expected)
    assert torch.func.grad(torch.func.grad(act))(torch.tensor(150.0)).item() == 0.0  # torch's: NaN


def test_a_native_module_saves_what_torch_saves():
    x = torch.randn(1000, requires_grad=True)
    for formula, native in (("silu(x)", F.silu), ("2*gelu(3*x) + 1", F.gelu), ("tanh(x) - x", torch.tanh)):
        for fn in (compile_activation(formula, mode="fused"), native):
            saved = []
            with torch.autograd.graph.saved_tensors_hooks(
                lambda t, saved=saved: saved.append(t.numel()) or t, lambda t: t
            ):
                fn(x)
            assert sum(saved) == x.numel(), formula


@pytest.mark.parametrize(
    "formula, mode, backward",
    [
        ("silu(x)", "symbolic", "SiluBackward0"),  # a native formula: torch's op and its own backward
        ("gelu(x)", "fused", "GeluBackward0"),
        ("exp(x)", "symbolic", "SymbolicActivationBackward"),  # one op, but no native: the mode's backward
        ("sin(x)", "fused", "SymbolicActivationBackward"),
        ("exp(x)", "autograd", "ExpBackward0"),
    ],
)
def test_a_one_op_formula_differentiates_as_its_mode_says(formula, mode, backward):
    y = compile_activation(formula, mode=mode)(torch.randn(8, requires_grad=True))
    assert type(y.grad_fn).__name__ == backward


def test_the_screening_programs_hold_only_the_op_tables_ops():
    assert {op.fn for op in lower(parse("silu(x) + mish(x)")).ops} <= set(OPS)


def test_natives_keep_random_trees_exact():
    genome = Genome(load_search_space("default"))
    random.seed(7)
    x = torch.linspace(-6, 6, 97, dtype=torch.float64)
    found = checked = 0
    while checked < 300:
        expr = genome.to_expr(genome.random_tree())
        try:
            plain = lower(expr)
        except CompileError:
            continue
        native = lower(expr, natives=True)
        params = {p: torch.tensor(0.8, dtype=torch.float64) for p in plain.params}
        want, got = run_program(plain, x, params)[0], run_program(native, x, params)[0]
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12, equal_nan=True, msg=sp.sstr(expr))
        found += native.ops != plain.ops
        checked += 1
    assert found > 10


def test_the_exported_module_calls_natives_and_differentiates_as_the_compiled_one():
    source = standalone_source("silu(2*x) + x*tanh(log(exp(x) + 1))")
    assert "torch.nn.functional.silu(" in source and "torch.nn.functional.mish(x)" in source
    x = torch.tensor([-1.0, 0.0, 3.0, 6.0, 7.0], dtype=torch.float64, requires_grad=True)
    for formula in ("2*Min(6, Max(0, x)) + 1", "x*relu(x) + relu(x)", "mish(x)"):
        for fused in (False, True):
            exported = standalone_module(formula).Activation(fused=fused).double()
            compiled = compile_activation(formula, mode="fused" if fused else "symbolic").double()
            (want,), (got,) = (torch.autograd.grad(m(x).sum(), x) for m in (compiled, exported))
            torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
