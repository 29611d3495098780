import math
import random
import re
import shutil

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evoact.compiler import CompiledActivation, CompileError, compile_activation, lower, program_source
from evoact.genome import Genome, load_search_space
from evoact.primitives import X

KNOWN = [
    ("relu(x)", F.relu),
    ("silu(x)", F.silu),
    ("gelu(x)", F.gelu),
    ("mish(x)", F.mish),
    ("softplus(x)", F.softplus),
    ("tanh(x)", torch.tanh),
    ("x/(1 + Abs(x))", F.softsign),
    ("Min(1, Max(-1, x))", F.hardtanh),
]


@pytest.mark.parametrize("formula, native", KNOWN)
def test_known_activations_match_torch_values_and_gradients(formula, native):
    x = (torch.randn(4096, dtype=torch.float64) * 4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = compile_activation(formula).double()(x), native(x_ref)
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-12)
    y.sum().backward()
    y_ref.sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("shape", [(), (0,), (7,), (2, 3, 5), (4, 1, 3, 2)])
def test_any_tensor_shape(shape):
    act = compile_activation("x*sigmoid(beta*x) + 1")
    x = torch.randn(shape)
    assert act(x).shape == x.shape


def test_constant_and_parameter_only_formulas_broadcast_to_input():
    x = torch.randn(3, 4)
    assert torch.equal(compile_activation("2")(x), torch.full_like(x, 2.0))
    assert compile_activation("beta")(x).shape == x.shape


def test_learnable_constants_are_parameters_that_train():
    act = compile_activation("x*sigmoid(beta*x)", {"beta": 1.702})
    ((name, beta),) = act.named_parameters()
    assert name == "params.beta" and beta.item() == pytest.approx(1.702)
    act(torch.linspace(-3, 3, 50)).pow(2).sum().backward()
    assert beta.grad is not None and beta.grad.abs().item() > 0


def test_shared_subexpressions_are_computed_once():
    program = lower(sp.tanh(X) ** 2 + sp.sin(sp.tanh(X)))
    assert sum(op.fn == "tanh" for op in program.ops) == 1


def test_generated_source_matches_the_interpreted_program():
    program = lower(X * sp.tanh(sp.log(1 + sp.exp(X))))
    assert program_source(program) == [
        "t0 = torch.nn.functional.softplus(x)",
        "t1 = torch.tanh(t0)",
        "t2 = x * t1",
        "return t2",
    ]


@pytest.mark.parametrize("space", ["default", "ramachandran2017"])
def test_random_trees_match_sympy_evaluation(space):
    genome = Genome(load_search_space(space))
    random.seed(5)
    beta = sp.Symbol("beta", real=True)
    points = [-2.3, -0.6, 0.4, 1.7]
    checked = 0
    for _ in range(120):
        expr = genome.to_expr(genome.random_tree())
        try:
            act = compile_activation(expr, {"beta": 0.75}).double()
        except CompileError:
            continue
        got = act(torch.tensor(points, dtype=torch.float64)).tolist()
        for p, g in zip(points, got):
            want = complex(expr.subs(beta, 0.75).subs(X, p).evalf())
            if abs(want.imag) > 0 or abs(want) > 1e12:
                continue
            assert g == pytest.approx(want.real, rel=1e-7, abs=1e-9), sp.sstr(expr)
        checked += 1
    assert checked > 100


def test_unsupported_functions_are_clear_errors():
    with pytest.raises(CompileError, match="cannot compile gamma"):
        lower(sp.gamma(X))
    with pytest.raises(CompileError, match="not a real number"):
        lower(X + sp.log(-2))
    for formula, part in (("Abs(sqrt(x))", "atan2"), ("x*sign(log(x))", "Derivative"), ("Abs(x**(1/3))", "atan2")):
        with pytest.raises(CompileError, match=re.escape(f"the slope of {formula} takes complex parts ({part}): a")):
            compile_activation(formula)  # it named SymPy's atan2(0, x), which the user never wrote
    compile_activation("sqrt(Abs(x))")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    act = compile_activation("x*sigmoid(beta*x)").cuda()
    x = torch.randn(1000, device="cuda")
    torch.testing.assert_close(act(x).cpu(), F.silu(x.cpu()))


# --- symbolic backward, memory, fused path (issue: the compiler) -----------------------------------------------
BENCH_FUNCTIONS = [
    "silu(x)",
    "x/2*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))",
    "mish(x)",
    "softplus(x)",
    "Max(0, x) + Min(0, exp(x) - 1)",
    "atan(x)**2 - x",
    "x*asinh(x)**2",
    "Max(x, tanh(x))",
    "x*sigmoid(x)*tanh(x) + erf(x)/(1 + x**2)",
    "x*sigmoid(beta*x)",
]


def _kink_free_input(n: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 2
    return (x + torch.sign(x) * 0.05).requires_grad_()  # keep clear of kinks at 0


@pytest.mark.parametrize("formula", BENCH_FUNCTIONS)
def test_symbolic_backward_passes_gradcheck_with_constants(formula):
    act = compile_activation(formula, {"beta": 1.3}).double()
    params = list(act.parameters())

    assert torch.autograd.gradcheck(
        lambda x, *p: _apply(act, x, p), (_kink_free_input(), *[q.detach().clone().requires_grad_() for q in params])
    )


def _apply(act, x, params):
    """The module's Function on explicit constants; a native formula (no constants) is the module itself."""
    return act(x) if act._function is None else act._function.apply(x, *params)


def test_symbolic_backward_passes_gradcheck_on_300_random_trees():
    genome = Genome(load_search_space("default"))
    random.seed(12)
    checked = 0
    while checked < 300:
        expr = genome.to_expr(genome.random_tree())
        try:
            act = compile_activation(expr, {"beta": 0.9}).double()
        except CompileError:
            continue
        x = _kink_free_input(8, checked)
        with torch.no_grad():
            y = act(x)
        if X not in expr.free_symbols or not torch.isfinite(y).all() or y.abs().max() > 1e6:
            continue
        params = [p.detach().clone().requires_grad_() for p in act.parameters()]
        assert torch.autograd.gradcheck(lambda x, *p, act=act: _apply(act, x, p), (x, *params), atol=1e-5, rtol=1e-3), (
            sp.sstr(expr)
        )
        checked += 1


def _saved_numel(act, x) -> int:
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        act(x)
    return sum(saved)


@pytest.mark.parametrize("formula", BENCH_FUNCTIONS)
def test_backward_saves_only_the_input(formula):
    x = torch.randn(1000, requires_grad=True)
    act = compile_activation(formula, {"beta": 1.0})
    assert _saved_numel(act, x) == x.numel() + len(act.program.params)  # the input and 0-d constants
    if formula.startswith("x*sigmoid(x)*tanh"):
        assert _saved_numel(compile_activation(formula, mode="autograd"), x) > 4 * x.numel()


def test_no_nan_gradient_where_the_forward_is_finite():
    x = torch.tensor([0.0, 1e-30, -2.0], dtype=torch.float64, requires_grad=True)
    for formula in ("sqrt(Abs(x))", "sinc(x)", "log(Abs(x) + 1/1000)", "x/(Abs(x) + 1/1000)", "Abs(x)*Max(x, 0)"):
        y = compile_activation(formula).double()(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(y).all() and not torch.isnan(grad).any(), formula


@pytest.mark.parametrize("mode", ["symbolic", "fused"])
def test_a_nan_input_gets_a_nan_gradient_as_torchs_own_give(mode):
    """A NaN reaching the activation shows in the gradients it touches (torch's SiLU gives NaN there), while a NaN
    slope at a finite input (sinc's 0/0 at 0, an overflow against an underflow) is still mended."""
    nan = float("nan")
    for formula in ("x*sigmoid(beta*x)", "sinc(x) + beta*x", "x*tanh(exp(beta*x))"):
        act = compile_activation(formula, {"beta": 1.0}, mode=mode)
        x = torch.tensor([nan, 0.0, 1.0, 92.0], requires_grad=True)
        gx, gb = torch.autograd.grad(act(x).sum(), [x, act.params["beta"]])
        assert torch.isnan(gx[0]) and torch.isfinite(gx[1:]).all(), formula
        assert torch.isnan(gb), formula
        x = torch.tensor([0.0, 1.0, 92.0], requires_grad=True)
        gx, gb = torch.autograd.grad(act(x).sum(), [x, act.params["beta"]])
        assert torch.isfinite(gx).all() and torch.isfinite(gb), formula
    act = compile_activation("sin(x)/x + beta", {"beta": 0.1}, mode=mode)  # beta's slope does not depend on x
    x = torch.tensor([nan, 1.0, -2.0], requires_grad=True)
    (gb,) = torch.autograd.grad((act(x) * torch.tensor([0.0, 1.0, 1.0])).sum(), act.params["beta"])
    assert gb.item() == 2.0  # as autograd gives it: the masked NaN does not reach beta


@pytest.mark.parametrize("mode", ["symbolic", "fused"])
@pytest.mark.parametrize(
    "formula, slope",
    [
        ("x*tanh(exp(x))", 1.0),  # TanhExp: exp(x)*(1 - tanh(exp(x))**2) is inf*0 above x = 88 in float32
        ("x*Min(1/(exp(-1) + 1), exp(x))/(1 + exp(-x))", 1 / (math.exp(-1) + 1)),  # the README's capped SiLU
    ],
)
def test_a_slope_that_overflows_on_the_way_is_the_functions_not_zero(formula, slope, mode):
    act = compile_activation(formula, mode=mode)
    for dtype, large in ((torch.float16, [12.0, 20.0]), (torch.float32, [92.0, 1e3]), (torch.float64, [800.0, 1e4])):
        x = torch.tensor([1.0, *large], dtype=dtype, requires_grad=True)
        (grad,) = torch.autograd.grad(act.to(dtype)(x).sum(), x)
        assert grad[1:].tolist() == pytest.approx([slope, slope], rel=1e-3), (dtype, mode)
    beta = compile_activation("x*tanh(exp(beta*x))", {"beta": 1.0}, mode=mode)
    x = torch.tensor([1.0, 92.0, 200.0], requires_grad=True)
    grads = torch.autograd.grad(beta(x).sum(), [x, *beta.parameters()])
    wide = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)  # only x = 1 moves the function with beta
    (expected,) = torch.autograd.grad((wide * torch.tanh(torch.exp(wide))).sum(), wide)
    assert grads[0].tolist() == pytest.approx([expected.item(), 1.0, 1.0], rel=1e-5)
    assert grads[1].item() == pytest.approx(expected.item() - math.tanh(math.e), rel=1e-4)  # d/dbeta = x**2*...


@pytest.mark.parametrize("mode", ["symbolic", "fused"])
def test_a_mended_slope_differentiates_again_to_the_functions_second_derivative(mode):
    """create_graph through points whose slope was mended (TanhExp above x = 88 in float32): the second derivatives
    are the function's, not NaN from the ops' inf*0 reaching them through autograd's zeros."""
    act = compile_activation("x*tanh(exp(beta*x))", {"beta": 1.0}, mode=mode)
    x = torch.tensor([1.0, 92.0, 200.0], requires_grad=True)
    gx, gb = torch.autograd.grad(act(x).sum(), [x, *act.parameters()], create_graph=True)
    second = torch.autograd.grad(gx.sum() + gb, [x, *act.parameters()])
    wide, beta = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x.tolist(), 1.0))
    ex, eb = torch.autograd.grad((wide * torch.tanh(torch.exp(beta * wide))).sum(), [wide, beta], create_graph=True)
    expected = torch.autograd.grad(ex.sum() + eb, [wide, beta])
    assert second[0].tolist() == pytest.approx(expected[0].tolist(), rel=1e-4, abs=1e-6)
    assert second[1].item() == pytest.approx(expected[1].item(), rel=1e-4)


@pytest.mark.parametrize("mode", ["symbolic", "fused"])
@pytest.mark.parametrize(
    "formula, points, of_constant, expected",
    [
        ("sin(x)/x", [0.0, 1.0], False, [-1 / 3, 2 * math.sin(1) - 2 * math.cos(1) - math.sin(1)]),  # f'' at 0: -1/3
        ("x*tanh(exp(x)) + x**2/2", [100.0, 1.0], False, [1.0, None]),  # not 0: the mended slope's own slope
        ("sin(x)/x + a*x", [0.0, 1.0], True, [1.0, 1.0]),  # d(dy/da)/dx: a slope without NaN keeps its graph
        ("x*tanh(exp(x)) + a**2*x**2/2", [100.0, 1.0], True, [200.0, 2.0]),
    ],
)
def test_second_derivatives_where_one_slope_is_mended(formula, points, of_constant, expected, mode):
    act = compile_activation(formula, {"a": 1.0}, mode=mode)
    x = torch.tensor(points, requires_grad=True)
    first = torch.autograd.grad(act(x).sum(), [x, *act.parameters()], create_graph=True)
    (second,) = torch.autograd.grad(first[1] if of_constant else first[0].sum(), x, retain_graph=True)
    for got, want, at in zip(second.tolist(), expected, points):
        if want is None:  # at an ordinary point: as autograd of the formula in float64
            wide = torch.tensor(at, dtype=torch.float64, requires_grad=True)
            (slope,) = torch.autograd.grad(wide * torch.tanh(torch.exp(wide)) + wide**2 / 2, wide, create_graph=True)
            want = torch.autograd.grad(slope, wide)[0].item()
        assert got == pytest.approx(want, rel=1e-3, abs=1e-5), (formula, at)
    if of_constant and "a**2" in formula:  # d2y/da2 = x**2 summed: 10001, the mended point's too
        (twice,) = torch.autograd.grad(first[1], act.parameters())
        assert twice.item() == pytest.approx(10001.0, rel=1e-4)


def test_kinks_get_the_midpoint_subgradient():
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    for formula, slope in (("Max(x, x/10)", 0.55), ("Abs(x)", 0.0), ("Max(x, -x)", 0.0), ("Min(0, x)", 0.5)):
        (grad,) = torch.autograd.grad(compile_activation(formula).double()(x).sum(), x)
        assert grad.item() == slope, formula


def test_double_backward_works():
    for formula in ("silu(x)", "x*asinh(x)**2", "Max(x, tanh(x))"):
        act = compile_activation(formula).double()
        assert torch.autograd.gradgradcheck(lambda x, act=act: act(x), (_kink_free_input(6),))


def test_fused_mode_matches_symbolic_values_and_gradients():
    x = torch.randn(3000, requires_grad=True)
    fused, eager = (
        compile_activation("x*sigmoid(beta*x)", {"beta": 1.2}, mode="fused"),
        compile_activation("x*sigmoid(beta*x)", {"beta": 1.2}),
    )
    y1, y2 = fused(x), eager(x)
    g1 = torch.autograd.grad(y1.sum(), [x, *fused.parameters()])
    g2 = torch.autograd.grad(y2.sum(), [x, *eager.parameters()])
    torch.testing.assert_close(y1, y2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_auto_mode_fuses_only_long_trainings():
    from evoact.compiler import choose_mode
    from evoact.compiler.module import FUSED_MIN_STEPS

    assert choose_mode("auto", 800) == "symbolic" and choose_mode("auto", FUSED_MIN_STEPS) == "fused"
    assert choose_mode("auto", 10 * FUSED_MIN_STEPS, "cuda") == "symbolic"  # slower fused on CUDA: cuda_paths.md
    assert choose_mode("autograd", 10) == "autograd"
    assert choose_mode("jit", 10) == "jit"  # never chosen by auto: not yet measured on a GPU
    with pytest.raises(ValueError, match="unknown activation mode 'triton'"):
        choose_mode("triton", 10)


@pytest.mark.parametrize("formula", ["x*sigmoid(beta*x)", "Max(x, alpha*x) + beta*tanh(x)"])
def test_compiled_module_works_in_networks_the_way_users_handle_them(formula):
    from module_handling import handle

    checks = handle(lambda: compile_activation(formula, {"alpha": 0.1, "beta": 1.5}))
    assert checks and all(checks.values()), checks


def test_a_pickled_module_comes_back_with_its_expression_not_its_rounded_text():
    import pickle

    act = compile_activation(X * sp.Float(1 / 3) + sp.Max(0, X)).double()  # to_formula rounds the float's text
    back = pickle.loads(pickle.dumps(act))
    x = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    assert torch.equal(back(x), act(x)) and back.mode == act.mode and back.inplace is False
    grads = [torch.autograd.grad(m(x).sum(), x)[0] for m in (act, back)]
    assert torch.equal(*grads)


def test_a_network_scripted_in_place_still_pickles_as_its_compiled_modules():
    """torch.jit.script(net) puts each module's TorchScript twin in its place in net (torch's own doing): torch.save,
    pickle and deepcopy of net failed to name the twin's class; they give the compiled module back, its mode and
    constants kept."""
    import copy
    import io

    act = compile_activation("x*sigmoid(beta*x)", {"beta": 1.3}, mode="autograd")
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), act)
    scripted = torch.jit.script(net)
    x = torch.randn(4, 3)
    saved = io.BytesIO()
    torch.save(net, saved)
    for back in (torch.load(io.BytesIO(saved.getvalue()), weights_only=False), copy.deepcopy(net)):
        assert type(back[1]) is CompiledActivation and back[1].mode == "autograd"
        assert float(back[1].params["beta"]) == pytest.approx(1.3)
        torch.testing.assert_close(back(x), scripted(x))
    assert copy.deepcopy(net.eval())[1].training is False  # as the twin is now, not as it was when scripted


def test_scripting_networks_of_compiled_modules_is_reliable():
    """torch.jit.script remembers prepared modules by id(); a freed original must not lend its id to a twin's part."""
    for _ in range(30):
        net = torch.nn.Sequential(
            torch.nn.Linear(2, 2),
            compile_activation("Max(x, alpha*x) + beta*tanh(x)"),
            torch.nn.Linear(2, 2),
            compile_activation("Max(x, alpha*x) + beta*tanh(x)"),
        )
        torch.jit.script(net)


# --- CUDA kernels written at run time (jit mode) --------------------------------------------------------------------
#: Formulas whose forward and backward programs use every op of the table and every native (checked in the test).
CUDA_FORMULAS = [
    "x - x**2/(beta + 2) + 1/(1 + x**2)",
    "sqrt(1 + x**2) + 1/sqrt(1 + x**2) + Abs(x)**1.5 + (1 + x**2)**beta",
    "log(1 + exp(-x**2)) + sin(x) + cos(2*x) + tan(x/4)",
    "sinh(x/3)*cosh(x/5) + tanh(x)*asinh(x) + atan(x)",
    "erf(x) - erfc(x/2) + Abs(x)*sign(x)",
    "x/(1 + exp(-x)) + log(1 + exp(x)) + sinc(x)",
    "Max(0, x) + Min(1, x) + Max(x, sin(x)) + Min(x, tanh(x))",
    "beta*x",
    "x + beta",
    "Max(0, beta*x) + Heaviside(x)*x",
    # torch's own activations, which the forward computes in torch's stable forms
    "silu(x) + gelu(x) + mish(x)*beta",
    "x/2*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))",
    "log(sigmoid(x))*beta + Max(0, x) + Min(0, exp(x) - 1)",
    "Min(6, Max(0, x)) + Min(1, Max(-1, x))*beta",
    "beta*Max(0, x) + tanh(x) + sigmoid(x) + softplus(x)",
]
CUDA_PARAMS = {"beta": 0.7}


def _cuda_programs():
    from evoact.compiler import derivatives, lower_many
    from evoact.formula import parse

    out = []
    for formula in CUDA_FORMULAS:
        expr = parse(formula)
        out.append((lower(expr, natives=True), lower_many(derivatives(expr), expr)))  # as the modules lower
    return out


def _cuda_sources(device: str = "") -> str:
    from evoact.compiler.cuda import GUARD, backward_source, forward_source

    parts = [GUARD]
    for i, (fwd, bwd) in enumerate(_cuda_programs()):
        parts += [forward_source(fwd, fwd.params, f"f{i}"), backward_source(bwd, fwd.params, f"b{i}")[len(GUARD) :]]
    return "\n".join(parts).replace("template <typename T>", f"template <typename T> {device}")


def test_the_cuda_sources_use_every_op_of_the_table_and_every_native():
    from evoact.native import PROGRAM_OPS

    used = {op.fn for fwd, bwd in _cuda_programs() for program in (fwd, bwd) for op in program.ops}
    assert used == set(PROGRAM_OPS)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler")
def test_the_cuda_kernels_compute_what_the_interpreted_programs_compute(tmp_path):
    """The kernels' C++ (compiled here by g++: NVRTC needs a GPU) gives the forward values and the gradients (by x and
    by the constant) that the interpreter gives (torch's own ops and natives), in double and in float (the compute type
    of float, bfloat16 and half tensors), for formulas using every op of the table and every native, far out on both
    sides too (logsigmoid stays finite at -100 in float only in its stable form)."""
    import subprocess

    from evoact.compiler import run_program

    xs = [-100.0, -7.0, -2.5, -1.0, -0.3, 0.0, 0.2, 1.0, 1.7, 3.0, 25.0, 300.0, math.nan]  # 300: slopes beyond float's
    types = {"double": (torch.float64, "%.17g", 1e-9, 1e-12), "float": (torch.float32, "%.9g", 1e-4, 1e-5)}
    calls = []
    for ctype, (_, fmt, _, _) in types.items():
        for i, (fwd, bwd) in enumerate(_cuda_programs()):
            args = "".join(f", {ctype}({CUDA_PARAMS[p]!r})" for p in fwd.params)
            outs = ", ".join(f"o{j}" for j in range(len(bwd.outputs)))
            calls.append(
                f"for (double v : xs) {{ {ctype} x = v, {outs}; b{i}(x, {ctype}(1){args}, {outs});"
                f' printf("{fmt}' + f" {fmt}" * len(bwd.outputs) + f'\\n", double(f{i}(x{args})), {outs}); }}'
            )
    numbers = ", ".join("NAN" if math.isnan(v) else repr(v) for v in xs)
    main = "int main() {\n  double xs[] = {" + numbers + "};\n  " + "\n  ".join(calls) + "\n}\n"
    source = tmp_path / "kernels.cpp"
    source.write_text("#include <cmath>\n#include <cstdio>\n" + _cuda_sources() + "\n" + main)
    subprocess.run(["g++", "-O1", "-o", tmp_path / "kernels", source], check=True, capture_output=True)
    lines = iter(subprocess.run([tmp_path / "kernels"], check=True, capture_output=True, text=True).stdout.split("\n"))
    for ctype, (dtype, _, rtol, atol) in types.items():
        x = torch.tensor(xs, dtype=dtype)
        for i, (fwd, bwd) in enumerate(_cuda_programs()):
            rows = torch.tensor([[float(v) for v in next(lines).split()] for _ in xs], dtype=dtype)
            params = {p: torch.tensor(CUDA_PARAMS[p], dtype=dtype) for p in fwd.params}
            want = [run_program(fwd, x, params)[0]]
            slopes = run_program(bwd, x, params)
            want += [torch.where(x.isnan(), s, torch.nan_to_num(s, nan=0.0)).expand_as(x) for s in slopes]
            for column, values in enumerate(want):
                torch.testing.assert_close(
                    rows[:, column],
                    values,
                    rtol=rtol,
                    atol=atol,
                    equal_nan=True,
                    msg=lambda m, i=i, c=column, t=ctype: f"{CUDA_FORMULAS[i]} output {c} in {t}: {m}",
                )


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs CUDA's nvcc")
def test_the_cuda_kernels_compile_as_cuda_device_code(tmp_path):
    """nvcc compiles every kernel as device code for float, the compute type of float, bfloat16 and half tensors (what
    jiterator's NVRTC compile takes; here without a GPU)."""
    import subprocess

    calls = []
    for i, (fwd, bwd) in enumerate(_cuda_programs()):
        params = "".join(", x" for _ in fwd.params)
        outs = [f"o{j}" for j in range(len(bwd.outputs))]
        calls.append(
            f"{{ float {', '.join(outs)}; b{i}(x, x{params}, {', '.join(outs)}); y[k] += f{i}(x{params})"
            + "".join(f" + {o}" for o in outs)
            + "; }"
        )
    kernel = "__global__ void all(float* y, const float* xs) {\n  int k = threadIdx.x; float x = xs[k];\n  "
    source = tmp_path / "kernels.cu"
    source.write_text(_cuda_sources("__device__") + "\n" + kernel + "\n  ".join(calls) + "\n}\n")
    done = subprocess.run(["nvcc", "-c", source, "-o", tmp_path / "kernels.o"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_jit_mode_is_the_symbolic_mode_off_cuda():
    """On the CPU (and for more constants than a kernel takes) ``jit`` computes exactly what ``symbolic`` does."""
    x = _kink_free_input()
    for formula in ("x*atan(beta*x) + sinc(x)", "a*x + b*x**2 + c*x**3 + d*sin(x) + e*cos(x) + f*tanh(x) + g"):
        jit, symbolic = compile_activation(formula, mode="jit"), compile_activation(formula, mode="symbolic")
        (gj,) = torch.autograd.grad(jit(x).sum(), x)
        (gs,) = torch.autograd.grad(symbolic(x).sum(), x)
        torch.testing.assert_close((jit(x), gj), (symbolic(x), gs), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_jit_mode_matches_symbolic_on_cuda(dtype):
    for formula in CUDA_FORMULAS:
        x = torch.randn(4096, device="cuda", dtype=dtype, requires_grad=True)
        jit = compile_activation(formula, CUDA_PARAMS, mode="jit").cuda()
        symbolic = compile_activation(formula, CUDA_PARAMS, mode="symbolic").cuda()
        outs = []
        for act in (jit, symbolic):
            y = act(x)
            outs.append((y, *torch.autograd.grad(y.square().sum(), [x, *act.parameters()])))
        tol = dict(rtol=2e-2, atol=2e-2) if dtype == torch.bfloat16 else dict(rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(outs[0], outs[1], equal_nan=True, msg=formula, **tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_jit_mode_differentiates_twice_on_cuda():
    """Under ``create_graph`` the backward is the symbolic one, whose graph differentiates again."""
    x = torch.randn(256, device="cuda", dtype=torch.float64, requires_grad=True)
    seconds = []
    for mode in ("jit", "symbolic"):
        act = compile_activation("x*atan(beta*x)", CUDA_PARAMS, mode=mode).cuda().double()
        (g,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
        seconds.append(torch.autograd.grad(g.sum(), x)[0])
    torch.testing.assert_close(seconds[0], seconds[1])


@pytest.mark.parametrize("mode", ["symbolic", "fused", "jit", "autograd"])
def test_sincs_slopes_are_the_functions_near_0_and_far_out_in_every_type(tmp_path, mode):
    """sinc (core_unit, ramachandran2017): its slope written (cos(u) - sinc(u))/u gave -5e14 in float32 at 1e-20; a
    series and a quotient side by side must not overflow (u**2 in float16 from 256) nor make a second derivative NaN
    (torch.where's backward of an infinite branch)."""
    import importlib.util

    from evoact.export import export_torch_module

    points = [1e-30, 1e-20, 1e-8, 1e-4, 0.0, 0.3, 0.999, 1.0, 1.001, 3.0, -2.0, 40.0, 300.0, 1000.0]
    u = torch.tensor(points, dtype=torch.float64)  # x*sinc(x) is sin(x): its slopes are cos(x) and -sin(x)
    truth = {"sinc(x)": (torch.where(u == 0, 0.0, (torch.cos(u) - torch.sinc(u / math.pi)) / u), None)}
    truth["x*sinc(x)"] = (torch.cos(u), -torch.sin(u))
    truth["sinc(x)"][0][u.abs() < 1e-3] = -u[u.abs() < 1e-3] / 3  # the series, where the quotient cancels in float64
    for formula, (slope_truth, curve_truth) in truth.items():
        path = export_torch_module(tmp_path / f"{mode}.py", formula)
        spec = importlib.util.spec_from_file_location(f"sinc_{mode}_{len(formula)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for act in (compile_activation(formula, mode=mode), module.Activation()):
            for dtype, tolerance in ((torch.float32, 2e-6), (torch.float16, 4e-3)):
                x = torch.tensor(points, dtype=dtype, requires_grad=True)
                (slope,) = torch.autograd.grad(act.to(dtype)(x).sum(), x, create_graph=True)
                expected = slope_truth.to(dtype).double()  # the inputs as the type holds them
                torch.testing.assert_close(slope.double(), expected, rtol=tolerance * 10, atol=tolerance, msg=formula)
                curve = torch.autograd.grad(slope.sum(), x)[0]
                assert torch.isfinite(curve).all(), (formula, dtype, curve)
                if curve_truth is not None and isinstance(act, type(compile_activation("x"))):  # the module's: exact
                    torch.testing.assert_close(curve.double(), curve_truth, rtol=tolerance * 10, atol=tolerance)


def test_sin_of_u_over_u_written_as_a_quotient_is_differentiated_as_sinc(tmp_path):
    """sin(x)/x's symbolic slope cos(x)/x - sin(x)/x**2 cancels near 0 (-5e14 in float32 at 1e-20, -3.4e38 at
    1e-30); written so, with its argument scaled, or times a factor, it is differentiated as sinc(u) is, and its
    value at 0 is sinc's (the quotient as written is 0/0: NaN)."""
    import importlib.util

    from evoact.export import export_torch_module

    points = [1e-30, 1e-20, 1e-8, 1e-4, 0.3, 3.0, -2.0]
    for i, (formula, same) in enumerate(
        (("sin(x)/x", "sinc(x)"), ("sin(3*x)/(3*x)", "sinc(3*x)"), ("x + 2*sin(x)/x", "x + 2*sinc(x)"))
    ):
        path = export_torch_module(tmp_path / f"quotient{i}.py", formula)
        spec = importlib.util.spec_from_file_location(f"quotient_{i}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        x = torch.tensor(points, requires_grad=True)
        reference = compile_activation(same)
        (slope,) = torch.autograd.grad(reference(x).sum(), x, create_graph=True)
        curve = torch.autograd.grad(slope.sum(), x)[0]
        for act in (compile_activation(formula), module.Activation()):  # fused: the same derivative program
            zero = torch.tensor([0.0, *points])
            torch.testing.assert_close(act(zero), reference(zero), msg=formula)
            (mine,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
            torch.testing.assert_close(mine, slope, rtol=1e-5, atol=1e-7, msg=formula)
            torch.testing.assert_close(torch.autograd.grad(mine.sum(), x)[0], curve, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["symbolic", "fused", "autograd"])
def test_an_expression_of_plain_sympy_symbols_compiles_as_its_text_does(mode):
    """``sp.Symbol("x")`` is not evoact's real x: the module's values were right and every slope was 0, so a
    network trained nothing and beta never moved."""
    x, beta = sp.Symbol("x"), sp.Symbol("beta")
    built = compile_activation(beta * x * sp.tanh(x), {"beta": 0.7}, mode=mode)
    written = compile_activation("beta*x*tanh(x)", {"beta": 0.7}, mode=mode)
    grads = []
    for act in (built, written):
        t = torch.tensor([-1.5, 0.5, 2.0], requires_grad=True)
        grads.append(torch.autograd.grad(act(t).sum(), [t, act.params["beta"]]))
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0][0].abs().min() > 0.1 and built.program.formula == written.program.formula


@pytest.mark.parametrize("mode", ["symbolic", "fused"])
def test_an_infinite_slope_is_floats_largest_whatever_else_the_batch_holds(mode, tmp_path):
    """sqrt(x)'s slope at 0 was inf in a batch with nothing to mend and float's largest beside a NaN slope (at -1)."""
    import importlib.util

    from evoact.export import export_torch_module

    path = export_torch_module(tmp_path / "m.py", "sqrt(x) + x")
    spec = importlib.util.spec_from_file_location(f"sqrt_{mode}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for act in (compile_activation("sqrt(x) + x", mode=mode), module.Activation()):
        slopes = []
        for points in ([0.0, 1.0], [0.0, 1.0, -1.0]):
            x = torch.tensor(points, requires_grad=True)
            slopes.append(torch.autograd.grad(act(x).sum(), x)[0][:2].tolist())
        assert slopes[0] == slopes[1] == [torch.finfo(torch.float32).max, 1.5]
