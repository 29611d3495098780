import random

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from evoact.compiler import CompileError, CompiledActivation, compile_activation, lower, program_source
from evoact.genome import Genome
from evoact.primitives import X
from evoact.search_space import load_search_space

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
    (name, beta), = act.named_parameters()
    assert name == "params.beta" and beta.item() == pytest.approx(1.702)
    act(torch.linspace(-3, 3, 50)).pow(2).sum().backward()
    assert beta.grad is not None and beta.grad.abs().item() > 0


def test_shared_subexpressions_are_computed_once():
    program = lower(sp.tanh(X) ** 2 + sp.sin(sp.tanh(X)))
    assert sum(op.fn == "tanh" for op in program.ops) == 1


def test_generated_source_matches_the_interpreted_program():
    program = lower(X * sp.tanh(sp.log(1 + sp.exp(X))))
    assert program_source(program) == [
        "t0 = torch.nn.functional.softplus(x)", "t1 = torch.tanh(t0)", "t2 = x * t1", "return t2"]


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
            act = CompiledActivation(lower(expr), {"beta": 0.75}).double()
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    act = compile_activation("x*sigmoid(beta*x)").cuda()
    x = torch.randn(1000, device="cuda")
    torch.testing.assert_close(act(x).cpu(), F.silu(x.cpu()))
