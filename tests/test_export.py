import ast
import functools
import importlib.util
import io
import json
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

import evoact
from evoact import load_activation
from evoact.catalog import CATALOG
from evoact.compiler import CompiledActivation, compile_activation
from evoact.export import (
    export_jax,
    export_json,
    export_latex,
    export_sympy,
    export_torch_module,
    onnx_unsupported,
    read_torch_module,
    torch_module_source,
)
from evoact.formula import FormulaError, parse
from evoact.records import mean_learned
from evoact.store import RunStore

PROBE = [-6.0, -2.5, -1.0, -0.3, 0.0, 0.2, 1.1, 3.0, 7.5]
CHECK = """
import json, sys
sys.modules["evoact"] = None  # prove the file needs no evoact
import importlib.util, torch
spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
x = torch.tensor(json.loads(sys.argv[2]), requires_grad=True)
m = mod.Activation()
y = m(x)
grads = torch.autograd.grad(y.sum(), [x, *m.parameters()])
print(json.dumps({"module": y.tolist(), "function": mod.activation(x).tolist(), "grads": [g.tolist() for g in grads],
                  "params": [n for n, _ in m.named_parameters()], "formula": mod.FORMULA}))
"""


@pytest.mark.parametrize(
    "formula, params",
    [
        ("x*sigmoid(beta*x)", {"beta": 1.5}),
        ("Max(x, tanh(x)) + atan(x)**2 - x", {}),
        ("x*tanh(softplus(x))", {}),
        ("beta*log(Abs(x) + 1/1000) + (1 - beta)*sqrt(Abs(x))", {"beta": 0.25}),
    ],
)
def test_exported_file_runs_without_evoact_and_matches_compiled(tmp_path, formula, params):
    path = export_torch_module(tmp_path / "act.py", formula, params, {"beta": [1.2, 0.8]} if params else None)
    tree = ast.parse(path.read_text())
    imports = {n.names[0].name for n in ast.walk(tree) if isinstance(n, ast.Import)}
    standard = {(n.module, tuple(a.name for a in n.names)) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imports == {"torch"} and standard == {("collections.abc", ("Callable",))}  # for its annotations
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(path), json.dumps(PROBE)], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    act = compile_activation(formula, params)
    x = torch.tensor(PROBE, requires_grad=True)
    y = act(x)
    want_grads = torch.autograd.grad(y.sum(), [x, *act.parameters()])
    assert got["module"] == pytest.approx(y.tolist(), abs=1e-6) and got["function"] == pytest.approx(
        y.tolist(), abs=1e-6
    )
    for g, w in zip(got["grads"], want_grads):
        assert g == pytest.approx(w.tolist(), abs=1e-6)
    assert got["params"] == list(params)


def test_load_activation_reads_exported_files_without_running_them(tmp_path):
    path = export_torch_module(tmp_path / "act.py", "x*sigmoid(beta*x)", {"beta": 1.25})
    loaded = load_activation(path)
    x = torch.linspace(-3, 3, 11)
    torch.testing.assert_close(loaded(x), compile_activation("x*sigmoid(beta*x)", {"beta": 1.25})(x))
    assert load_activation(str(path), {"beta": 2.0}).params["beta"].item() == 2.0
    assert load_activation("relu(x)")(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]

    canary = tmp_path / "CANARY"
    hostile = tmp_path / "hostile.py"
    hostile.write_text(f"import os\nos.system('touch {canary}')\nFORMULA = 'tanh(x)'\nPARAMS = {{}}\n")
    assert torch.equal(load_activation(hostile)(x), torch.tanh(x))
    assert not canary.exists()


@pytest.mark.parametrize(
    "content, problem",
    [
        ("x = 1\n", "no FORMULA string"),
        ("FORMULA = open('f').read()\n", "FORMULA is not a plain literal"),
        ("FORMULA = 'tanh(x)'\nPARAMS = {'beta': 'one'}\n", "PARAMS must map constant names to numbers"),
        ("def broken(:\n", "not a readable Python file"),
    ],
)
def test_load_activation_rejects_files_that_are_not_exports(tmp_path, content, problem):
    path = tmp_path / "bad.py"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem):
        read_torch_module(path)


def test_load_activation_reads_every_export_that_holds_a_formula_under_any_name(tmp_path, monkeypatch):
    """A JSON record and a SymPy file load back as the module file does, by a str path with any suffix; an existing
    file wins over reading its name as a formula; LaTeX, which holds no formula to parse, is refused in one line."""
    monkeypatch.chdir(tmp_path)
    formula, x = "x*sigmoid(beta*x)", torch.linspace(-3, 3, 11)
    expected = compile_activation(formula, {"beta": 1.5})(x)
    for made in (
        export_json(tmp_path / "a.json", formula, {"beta": 1.5}),
        export_sympy(tmp_path / "a_sympy.py", formula, {"beta": 1.5}),
        export_torch_module(tmp_path / "a.out", formula, {"beta": 1.5}),
        export_json(tmp_path / "my_act", formula, {"beta": 1.5}),
    ):
        torch.testing.assert_close(load_activation(made.name)(x), expected)
    assert load_activation("a.json", {"beta": 2.0}).params["beta"].item() == 2.0
    (tmp_path / "tanh").write_text('{"formula": "x*tanh(x)"}')
    torch.testing.assert_close(load_activation("tanh")(x), x * torch.tanh(x))
    with pytest.raises(ValueError, match="a.tex: not a readable Python file"):
        load_activation(str(export_latex(tmp_path / "a.tex", formula, {"beta": 1.5})))
    (tmp_path / "bad.json").write_text('{"formula": 3}')
    with pytest.raises(ValueError, match="bad.json: not an evoact JSON record"):
        load_activation("bad.json")


def test_a_constant_the_formula_lacks_is_ignored_with_a_warning_where_it_looks_like_a_typo(tmp_path):
    """A typo (``bta``) would leave beta at its default unsaid; the command line refuses it, Python warns. One dict of
    values for several formulas, some without a constant of it, is no typo: nothing is said."""
    said = "bta: the formula has no constant 'bta' (its constants: beta); ignored, and beta starts at its default"
    with pytest.warns(UserWarning, match=re.escape(said)):
        act = compile_activation("x*sigmoid(beta*x)", {"bta": 0.5})
    assert act.params["beta"].item() == 1.0
    path = export_torch_module(tmp_path / "act.py", "x*sigmoid(beta*x)")
    with pytest.warns(UserWarning, match="no constant 'gamma'"):
        assert load_activation(path, {"gamma": 2.0}).params["beta"].item() == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile_activation("x*sigmoid(x)", {"beta": 1.5})
        compile_activation("x*sigmoid(beta*x)", {"beta": 1.5, "alpha": 0.1})


def test_load_activation_refuses_a_mistyped_path_or_a_folder_that_would_parse_as_a_constant(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export_torch_module(tmp_path / "my_act.py", "x*sigmoid(beta*x)", {"beta": 1.5})
    (tmp_path / "runs").mkdir()
    for given, said in (
        ("my_act", r"'my_act' is no file, and as a formula it has no x.* \(my_act.py is here: did you mean it\?\)$"),
        ("runs/my_act", "'runs/my_act' is no file, and as a formula it has no x.* a formula in x$"),  # nothing near
        ("runs", r"runs is a folder; give an exported file \(of a run: evoact export RUN -o my_act.py\)"),
        ("", "'' is no file, nor a formula: empty formula"),
        ("x*(", "'x\\*\\(' is no file, nor a formula: position 3"),
    ):
        with pytest.raises(ValueError, match=said):
            load_activation(given)
    assert load_activation("my_act.py").params["beta"].item() == 1.5
    (tmp_path / "tanh(x)").mkdir()  # a formula in x is one, whatever folder bears its name
    assert load_activation("tanh(x)").program.formula == "tanh(x)"
    assert load_activation("x*sigmoid(beta*x)", {"beta": 2.0}).params["beta"].item() == 2.0


def test_load_activation_parses_the_formula_in_a_file_safely(tmp_path):
    path = tmp_path / "sneaky.py"
    path.write_text("FORMULA = \"__import__('os').system('true')\"\n")
    with pytest.raises(FormulaError, match="unexpected character"):
        load_activation(path)


def test_a_networks_checkpoint_moves_between_the_exported_and_the_compiled_module(tmp_path):
    path = export_torch_module(tmp_path / "act.py", "x*sigmoid(beta*x) + alpha*tanh(x)", {"beta": 1.0, "alpha": 0.5})
    spec = importlib.util.spec_from_file_location("exported_act", path)
    exported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exported)

    def net(act: torch.nn.Module) -> torch.nn.Sequential:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(3, 4), act, torch.nn.Linear(4, 1))

    x = torch.randn(5, 3)
    for make_source, make_target in (
        (lambda: exported.Activation(beta=1.7, alpha=-0.2), lambda: load_activation(path)),
        (
            lambda: compile_activation("x*sigmoid(beta*x) + alpha*tanh(x)", {"beta": 1.7, "alpha": -0.2}),
            lambda: exported.Activation(),
        ),
    ):
        source, target = net(make_source()), net(make_target())
        state = source.state_dict()
        target.load_state_dict(state)  # strict: every key found under the other module's names
        torch.testing.assert_close(target(x), source(x))
        assert {n: p.item() for n, p in target[1].named_parameters()} in (
            {"beta": pytest.approx(1.7), "alpha": pytest.approx(-0.2)},
            {"params.beta": pytest.approx(1.7), "params.alpha": pytest.approx(-0.2)},
        )


def test_exported_module_can_use_the_fused_path(tmp_path):
    path = export_torch_module(tmp_path / "act.py", "x*tanh(softplus(x))")
    code = (
        "import importlib.util,sys,torch;sys.modules['evoact']=None;"
        "s=importlib.util.spec_from_file_location('m',sys.argv[1]);m=importlib.util.module_from_spec(s);s.loader.exec_module(m);"
        "x=torch.linspace(-3,3,64,requires_grad=True);a=m.Activation(fused=True)(x);b=m.Activation()(x);"
        "ga,=torch.autograd.grad(a.sum(),x);gb,=torch.autograd.grad(b.sum(),x);"
        "print(float((a-b).abs().max()), float((ga-gb).abs().max()))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    value_gap, grad_gap = map(float, out.stdout.split())
    assert value_gap < 1e-6 and grad_gap < 1e-6


@pytest.mark.slow
def test_every_hall_of_fame_entry_of_a_real_run_exports_and_matches_the_run(tmp_path, run_cli):
    run_cli(
        "search", "--budget", "tiny", "--seed", "4", "--workers", "2", "--name", "hof", "--space", "ramachandran2017"
    )
    run = evoact.open_run(tmp_path / "runs" / "hof")
    entries = run.store.hall_of_fame()
    assert entries
    for row in entries:
        out = tmp_path / f"act{row.id}.py"
        run_cli("export", "runs/hof", str(row.id), "-o", str(out))
        got = json.loads(
            subprocess.run(
                [sys.executable, "-c", CHECK, str(out), json.dumps(PROBE)], capture_output=True, text=True, check=True
            ).stdout
        )
        params = run.constants(row)  # the means over every task's layers, as the export starts from
        assert params == mean_learned(row.outcome.every_layer) or not row.outcome.learned
        module = compile_activation(row.formula, params)
        x = torch.tensor(PROBE, requires_grad=True)
        y = module(x)
        grads = torch.autograd.grad(y.sum(), [x, *module.parameters()])
        assert got["module"] == pytest.approx(y.tolist(), rel=1e-6, abs=1e-6), row.formula
        for mine, theirs in zip(grads, got["grads"]):
            assert theirs == pytest.approx(mine.tolist(), rel=1e-6, abs=1e-6), row.formula


@pytest.mark.parametrize("fused", [False, True])
def test_an_exported_nan_input_gets_a_nan_gradient(tmp_path, fused):
    """As the compiled module's: NaN where the input is NaN (as autograd gives it), a mended slope elsewhere."""
    act = _load(export_torch_module(tmp_path / "act.py", "sinc(x) + x*tanh(exp(beta*x))", {"beta": 1.0}))
    act = act.Activation(fused=fused)
    x = torch.tensor([float("nan"), 0.0, 92.0], requires_grad=True)
    gx, gb = torch.autograd.grad(act(x).sum(), [x, act.beta])
    assert torch.isnan(gx[0]) and torch.isfinite(gx[1:]).all() and torch.isnan(gb)
    gx, gb = torch.autograd.grad(act(x[1:]).sum(), [x, act.beta])
    assert torch.isfinite(gx[1:]).all() and torch.isfinite(gb)


@pytest.mark.parametrize("fused", [False, True])
def test_an_exported_slope_that_overflows_on_the_way_is_the_functions(tmp_path, fused):
    """As the compiled module's: TanhExp's symbolic slope is inf*0 above x = 88 in float32, 710 in float64."""
    out = export_torch_module(tmp_path / "act.py", "x*tanh(exp(beta*x))", {"beta": 1.0})
    spec = importlib.util.spec_from_file_location("act_slope", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for dtype, large in ((torch.float32, 92.0), (torch.float64, 800.0)):
        act = mod.Activation(fused=fused).to(dtype)
        x = torch.tensor([large, 1e4], dtype=dtype, requires_grad=True)
        grads = torch.autograd.grad(act(x).sum(), [x, act.beta])
        assert grads[0].tolist() == pytest.approx([1.0, 1.0]) and grads[1].item() == 0.0, dtype
    act = mod.Activation(fused=fused)
    x = torch.tensor([1.0, 92.0, 200.0], requires_grad=True)  # differentiated again: the function's, not NaN
    gx, gb = torch.autograd.grad(act(x).sum(), [x, act.beta], create_graph=True)
    second = torch.autograd.grad(gx.sum() + gb, [x, act.beta])
    assert second[0].tolist() == pytest.approx([-0.2243, 0.0, 0.0], abs=1e-4)  # as float64 autograd of the formula
    assert second[1].item() == pytest.approx(-0.3182, abs=1e-4)
    for i, (formula, points, expected) in enumerate(
        (("sin(x)/x", [0.0], [-1 / 3]), ("x*tanh(exp(x)) + x**2/2", [100.0], [1.0]))
    ):
        out = export_torch_module(tmp_path / f"second{i}.py", formula)
        spec = importlib.util.spec_from_file_location(f"act_second{i}", out)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        x = torch.tensor(points, requires_grad=True)  # a mended slope's own slope: f'' there, not 0 or NaN
        (slope,) = torch.autograd.grad(mod.Activation(fused=fused)(x).sum(), x, create_graph=True)
        assert torch.autograd.grad(slope.sum(), x)[0].tolist() == pytest.approx(expected, rel=1e-3), formula


def test_an_exported_mish_is_differentiated_twice_as_compile_activations_is_not_nan_as_torchs(tmp_path):
    """Torch's Mish has a NaN second derivative above 100 in float32; the exported file, calling it, does not."""
    x = torch.tensor([-200.0, -3.0, 0.5, 3.0, 100.0, 200.0, 1e4], requires_grad=True)

    def second(act):
        (slope,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
        return torch.autograd.grad(slope.sum(), x)[0]

    for i, formula in enumerate(("mish(x)", "x + 2*mish(x)")):
        mod = _load(export_torch_module(tmp_path / f"act{i}.py", formula))
        compiled = compile_activation(formula)
        assert mod.NATIVE and torch.isfinite(second(compiled)).all()
        for act in (mod.Activation(), mod.Activation(fused=True), torch.compile(mod.Activation()), mod.activation):
            slope = torch.autograd.grad(act(x).sum(), x)[0]  # a first derivative alone: torch's kernel
            assert torch.equal(slope, torch.autograd.grad(compiled(x).sum(), x)[0]), formula
            torch.testing.assert_close(second(act), second(compiled))
        scripted = torch.jit.script(mod.Activation())  # TorchScript: torch's op, differentiated as torch does
        torch.testing.assert_close(scripted(x), compiled(x))


def test_an_exported_sinc_is_differentiated_twice_as_compile_activations_is(tmp_path):
    """Torch's sinc slope cancels near 0 (a second derivative of x*sinc(x) at 1e-4 was -7e-5 for -1e-4, and NaN through
    ``activation``): the exported file differentiates its stable form, as the compiled module does."""
    x = torch.tensor([-1e4, -3.0, -1e-4, 1e-20, 0.0, 1e-4, 0.5, 2.0, 1e3], requires_grad=True)

    def second(act):
        (slope,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
        return torch.autograd.grad(slope.sum(), x)[0]

    for i, formula in enumerate(("x*sinc(x)", "silu(x)*sinc(x)", "mish(x) + sinc(3*x)")):
        mod = _load(export_torch_module(tmp_path / f"act{i}.py", formula))
        compiled = compile_activation(formula)
        fused = (mod.Activation(fused=True),) if i == 0 else ()  # its compile is slow; the same program otherwise
        for act in (mod.Activation(), *fused, mod.activation):
            torch.testing.assert_close(second(act), second(compiled), rtol=1e-5, atol=1e-6, msg=formula)
        if formula == "x*sinc(x)":  # sin(x), whose second derivative is -sin(x)
            torch.testing.assert_close(second(mod.Activation()), -torch.sin(x.detach()), rtol=1e-5, atol=1e-6)
        scripted = torch.jit.script(mod.Activation())
        torch.testing.assert_close(scripted(x), compiled(x))
        torch.testing.assert_close(torch.jit.script(mod.activation)(x), compiled(x))  # its plain form scripts too


def test_an_exported_module_compiles_whole_in_a_fresh_import(tmp_path, monkeypatch):
    """torch.compile(fullgraph=True) before any eager call: the autograd.Function exists from the import on (made
    lazily, its class statement broke the graph: 'Invalid call to __build_class__')."""
    out = export_torch_module(tmp_path / "act.py", "tanh(Min(beta*x, beta + x))", {"beta": 1.5})
    spec = importlib.util.spec_from_file_location("act_fresh", out)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "act_fresh", mod)  # as an import leaves it: dynamo looks modules up by name
    spec.loader.exec_module(mod)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), mod.Activation(), torch.nn.Linear(4, 1))
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(net, fullgraph=True)(x)
    (grad,) = torch.autograd.grad(compiled.sum(), net[0].weight)
    eager = net(x)
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(grad, torch.autograd.grad(eager.sum(), net[0].weight)[0])


@pytest.mark.parametrize(
    "formula",
    [
        "x*sigmoid(beta*x)",
        "gelu(x)",
        "mish(x)",
        "Max(0, x) + Min(0, exp(x) - 1)",
        "asinh(x)*x",
        "x + sin(x)/x",  # computed as sinc, which torch's exporter lacks: exported as the quotient, 1 at 0
    ],
)
def test_exported_modules_script_compile_and_export_to_onnx_or_say_why_not(tmp_path, formula):
    out = export_torch_module(tmp_path / "act.py", formula, {"beta": 1.5})
    spec = importlib.util.spec_from_file_location("act", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = mod.Activation()
    x = torch.linspace(-4, 4, 31).reshape(1, 31)  # 0 among them
    expected = m(x).detach()
    assert torch.allclose(torch.jit.script(m)(x), expected, atol=1e-6)
    assert torch.allclose(torch.compile(m)(x), expected, atol=1e-6)
    buffer = io.BytesIO()
    models = []
    if importlib.util.find_spec("onnxscript") is not None:  # the default exporter needs it (not installed in CI)
        models.append(torch.onnx.export(m.eval(), (x,), dynamo=True).model_proto)  # exports every op of the table
    missing = onnx_unsupported(formula)
    if missing:
        assert f"with dynamo=False, torch's older exporter cannot export {', '.join(missing)}" in " ".join(
            out.read_text().split()
        )
        with pytest.raises(Exception, match="export"):
            torch.onnx.export(m.eval(), (x,), buffer, dynamo=False)
    else:
        torch.onnx.export(m.eval(), (x,), buffer, dynamo=False)
        models.append(onnx.load_from_string(buffer.getvalue()))
    for model in models:
        onnx.checker.check_model(model)
        result = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x.numpy()})[0]
        assert torch.allclose(torch.from_numpy(result), expected, atol=1e-5)


def test_an_exported_files_derivatives_are_the_formulas_and_nan_where_the_module_mends_them(tmp_path):
    """``activation_derivatives`` (d/dx, then d/d each constant) as autograd has them; where a factor overflows
    against one that underflows (x*tanh(exp(x)) at 100 in float32) a NaN, where the module's backward takes the
    function's slope."""
    import importlib.util

    def load(name: str, formula: str):
        path = export_torch_module(tmp_path / f"{name}.py", formula, {"beta": 1.5})
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    swish = load("swish", "x*sigmoid(beta*x)")
    x = torch.linspace(-4, 4, 9, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    want = torch.autograd.grad(x * torch.sigmoid(beta * x), (x, beta), torch.ones_like(x))
    by_x, by_beta = swish.activation_derivatives(x.detach(), 1.5)
    torch.testing.assert_close(by_x, want[0])
    assert torch.isclose(by_beta.sum(), want[1])
    far = load("far", "x*tanh(exp(x))")
    at = torch.full((1,), 100.0, requires_grad=True)  # float32: exp(100) overflows, tanh's slope underflows
    assert torch.isnan(far.activation_derivatives(at.detach())).all()
    (mended,) = torch.autograd.grad(far.Activation()(at).sum(), at)
    assert mended.item() == pytest.approx(1.0)


def test_sympy_latex_and_json_exports_read_back(tmp_path):
    formula = "x*sigmoid(beta*x)"
    namespace: dict = {}
    exec((export_sympy(tmp_path / "a_sympy.py", formula, {"beta": 1.5})).read_text(), namespace)  # our own output
    assert namespace["EXPR"] == parse(formula) and namespace["PARAMS"] == {"beta": 1.5}
    latex = export_latex(tmp_path / "a.tex", formula, {"beta": 1.5}).read_text()
    assert r"f(x) = \frac{x}{1 + e^{- \beta x}}" in latex and r"\beta = 1.5" in latex
    record = json.loads(export_json(tmp_path / "a.json", formula, {"beta": 1.5}, {"beta": [1.4, 1.6]}).read_text())
    assert parse(record["formula"]) == parse(formula) and record["params"] == {"beta": 1.5}
    assert record["learned_per_layer"] == {"beta": [1.4, 1.6]}
    resaved = tmp_path / "resaved.json"  # as an editor or json.dump(indent) saves it again: a BOM, a blank line
    resaved.write_text("\ufeff\n  " + json.dumps(record, indent=2), encoding="utf-8")
    loaded = load_activation(resaved)
    assert loaded.program.formula == "x/(1 + exp(-beta*x))" and float(loaded.params["beta"]) == 1.5
    (tmp_path / "broken.json").write_text("formula: x\n")  # named a record: told as one, not as a Python file
    with pytest.raises(ValueError, match="broken.json: not a readable JSON record"):
        load_activation(tmp_path / "broken.json")


def test_a_hostile_run_directory_cannot_write_code_into_an_exported_module():
    hostile = {'z"""\nimport os; os.system("touch PWNED")\n"""': [1.0], "beta": [1.25, 1.75]}
    source = torch_module_source("x*sigmoid(beta*x)", {"beta": 1.5}, hostile)
    assert "PWNED" not in source and "beta = 1.25, 1.75" in source
    ast.parse(source)
    with pytest.raises(ValueError, match="beta = nan: must be a finite number"):
        torch_module_source("x*sigmoid(beta*x)", {"beta": float("nan")})


HANDLING = Path(__file__).with_name("module_handling.py")
WITHOUT_EVOACT = (
    "import runpy, sys; sys.modules['evoact'] = None; sys.argv = sys.argv[1:];"
    " runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.mark.parametrize("formula", ["x*sigmoid(beta*x)", "Max(x, alpha*x) + beta*tanh(x)"])
def test_exported_module_works_in_networks_the_way_users_handle_them(tmp_path, formula):
    path = export_torch_module(tmp_path / "act.py", formula, {"alpha": 0.1, "beta": 1.5})
    proc = subprocess.run(
        [sys.executable, "-I", "-c", WITHOUT_EVOACT, str(HANDLING), str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    checks = json.loads(proc.stdout.splitlines()[-1])
    assert checks and all(checks.values()), checks


def test_no_generated_name_shadows_an_nn_module_attribute():
    module_names = set(dir(torch.nn.Module())) - {"__init__", "forward", "extra_repr"}
    tree = ast.parse(torch_module_source("x*sigmoid(beta*x) + alpha", {"alpha": 0.5}))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assigned = {
        t.attr
        for n in ast.walk(cls)
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
    }
    assert defined | assigned and not (defined | assigned) & module_names
    own = {name for name in vars(CompiledActivation) if not name.startswith("__")} - {"forward", "extra_repr"}
    assert not own & module_names


@pytest.mark.parametrize("name", sorted(set(dir(torch.nn.Module())) - {"__class__"}))
def test_every_nn_module_attribute_name_is_refused_as_a_constant(name):
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        pytest.skip("not a constant-shaped name: the parser reads it as something else")
    with pytest.raises(FormulaError, match="reserved"):
        parse(f"x*{name}")


def test_non_finite_or_foreign_constants_are_refused_everywhere(tmp_path):
    with pytest.raises(FormulaError, match="needs a formula"):
        compile_activation(None)
    for bad in (float("inf"), float("nan"), 1e40):
        with pytest.raises(FormulaError, match="must be a finite number"):
            compile_activation("x*beta", {"beta": bad})
    path = tmp_path / "m.py"
    path.write_text(
        torch_module_source("x*beta", {"beta": 2.0}).replace("PARAMS = {'beta': 2.0}", "PARAMS = {'beta': 1e999}")
    )
    with pytest.raises(
        ValueError, match="PARAMS must map constant names to numbers .constant beta = inf: must be a finite number"
    ):
        load_activation(path)
    for learned in ({"beta": ["__import__('os')"]}, {"beta": [float("nan")]}, {"beta": "1,2"}, ["beta"]):
        with pytest.raises(FormulaError):
            export_json(tmp_path / "a.json", "x*beta", None, learned)
    export_json(tmp_path / "a.json", "x*beta", None, {"beta": [1, 2.5], "not_a_constant_of_it": [3]})
    assert json.loads((tmp_path / "a.json").read_text())["learned_per_layer"] == {"beta": [1.0, 2.5]}


def _load(path: Path):
    """An exported file, imported as a module."""
    spec = importlib.util.spec_from_file_location(f"act_{abs(hash(path))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _conv_norm_activation(channels: int, activation_layer, inplace: bool | None = True) -> torch.nn.Sequential:
    """torchvision's Conv2dNormActivation, as it builds its activation: ``activation_layer(inplace=inplace)``, or
    ``activation_layer()`` when inplace is None."""
    layers = [torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False), torch.nn.BatchNorm2d(channels)]
    layers.append(activation_layer() if inplace is None else activation_layer(inplace=inplace))
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("formula", ["x*sigmoid(beta*x)", "(x + tanh(x) + atan(x))/(1 + exp(-x))", "silu(x)"])
def test_exported_and_compiled_modules_drop_into_models_that_build_activations_inplace(tmp_path, formula):
    exported = _load(export_torch_module(tmp_path / "act.py", formula, {"beta": 1.5}))
    compiled = functools.partial(compile_activation, formula, {"beta": 1.5})
    x = torch.randn(2, 4, 6, 6)
    for make in (exported.Activation, compiled):
        outputs, grads = [], []
        for inplace in (None, False, True):  # torchvision's three ways; timm calls act_layer(inplace=True)
            torch.manual_seed(0)
            block = _conv_norm_activation(4, make, inplace)
            inputs = x.clone().requires_grad_()
            out = block(inputs)
            (grad,) = torch.autograd.grad(out.square().sum(), [inputs])
            outputs.append(out)
            grads.append(grad)
        assert all(torch.allclose(o, outputs[0]) and torch.allclose(g, grads[0]) for o, g in zip(outputs, grads))
        act = make(inplace=True)
        assert "inplace=True" in repr(act)
        with torch.no_grad():  # where autograd does not need the input, the input holds the result, as torch's do
            t = torch.randn(5)
            expected = make()(t.clone())
            assert act(t) is t and torch.allclose(t, expected)


def test_learnable_constants_are_keywords_so_a_positional_true_means_inplace(tmp_path):
    mod = _load(export_torch_module(tmp_path / "act.py", "x*sigmoid(beta*x)", {"beta": 1.5}))
    act = mod.Activation(True)  # nn.ReLU(True) is inplace=True; it once set beta = 1.0 silently
    assert act.inplace and act.beta.item() == 1.5 and mod.Activation(beta=0.5).beta.item() == 0.5
    with pytest.raises(TypeError):
        mod.Activation(True, 0.5)  # a constant given by position
    with pytest.raises(TypeError, match="inplace must be True or False.*Activation\\(beta=...\\)"):
        mod.Activation(0.5)
    with pytest.raises(TypeError, match="inplace must be True or False"):
        compile_activation("x*sigmoid(beta*x)", inplace=1)


def test_the_exported_file_says_what_torch_onnx_export_needs_and_it_is_true(tmp_path):
    path = export_torch_module(tmp_path / "act.py", "x*sigmoid(beta*x)", {"beta": 1.5})
    assert "its default exporter needs the\nonnxscript package; without it, pass dynamo=False" in path.read_text()
    m, x = _load(path).Activation().eval(), torch.randn(3, 4)
    torch.onnx.export(m, (x,), io.BytesIO(), dynamo=False)
    if importlib.util.find_spec("onnxscript") is None:
        with pytest.raises(ModuleNotFoundError, match="onnxscript"):
            torch.onnx.export(m, (x,), io.BytesIO())


def test_inplace_keeps_the_input_when_only_a_learnable_constant_needs_gradients(tmp_path):
    exported = _load(export_torch_module(tmp_path / "act.py", "x*tanh(beta*x)", {"beta": 1.5}))
    for make in (exported.Activation, functools.partial(compile_activation, "x*tanh(beta*x)", {"beta": 1.5})):
        grads = []
        for inplace in (False, True):  # a frozen backbone: the input needs no gradient, beta does
            act, x = make(inplace=inplace), torch.linspace(-2, 2, 9)
            act(x).square().sum().backward()
            grads.append(next(act.parameters()).grad)
            assert torch.equal(x, torch.linspace(-2, 2, 9))  # autograd needed x: it was left alone
        assert torch.allclose(grads[0], grads[1])


def test_every_op_of_the_table_has_a_jax_form():
    from evoact.ops import OPS

    assert all(op.jax for op in OPS.values()), [name for name, op in OPS.items() if not op.jax]


@pytest.mark.parametrize("known", CATALOG, ids=[k.name for k in CATALOG])
def test_the_jax_export_of_every_published_function_matches_torch(tmp_path, known):
    jax = pytest.importorskip("jax")  # the dev install has it; a user without jax never needs it
    jax.config.update("jax_enable_x64", True)
    # values exact in float32, as torch keeps constants
    params = {"beta": 1.25} if "beta" in known.formula else {k: float(torch.tensor(v)) for k, v in known.params.items()}
    mod = _load(export_jax(tmp_path / "act_jax.py", known.formula, params))
    x = torch.linspace(-4.0, 4.0, 161, dtype=torch.float64, requires_grad=True)
    torch_y = compile_activation(known.formula, params)(x)
    (slope,) = torch.autograd.grad(torch_y.sum(), x)
    jax_x = jax.numpy.asarray(x.detach().numpy())
    jax_y = jax.jit(mod.activation)(jax_x)
    jax_slope = jax.vmap(jax.grad(mod.activation))(jax_x)
    assert jax_y.dtype == jax_x.dtype and jax_y.shape == jax_x.shape and mod.PARAMS == params
    got_y, got_slope = (torch.from_numpy(jax.device_get(a).copy()) for a in (jax_y, jax_slope))
    assert (got_y - torch_y.detach()).abs().max() < 1e-9
    assert torch.allclose(got_slope, slope, rtol=1e-7, atol=1e-7, equal_nan=True)  # kinks included


def test_the_jax_export_of_sinc_has_its_slope_near_0_as_torchs_module(tmp_path):
    """JAX's own slope of jnp.sinc cancels near 0: -0.0078 at 1e-5 in float32, where the slope is -x/3."""
    jax = pytest.importorskip("jax")
    mod = _load(export_jax(tmp_path / "sinc_jax.py", "x*sinc(2*x) + sinc(x)"))
    points = [1e-2, 1e-4, 1e-5, 1e-8, 0.0, -3.0, 50.0]
    x = torch.tensor(points, requires_grad=True)
    (slope,) = torch.autograd.grad(compile_activation("x*sinc(2*x) + sinc(x)")(x).sum(), x)
    got = jax.vmap(jax.grad(mod.activation))(jax.numpy.asarray(points, dtype=jax.numpy.float32))
    assert torch.allclose(torch.tensor(jax.device_get(got).tolist()), slope, rtol=1e-5, atol=1e-7)
    second = jax.grad(jax.grad(mod.activation))(jax.numpy.float32(0.0))  # (x sinc(2x))'' is 4 sinc'(0) = 0 there
    assert float(second) == pytest.approx(-1 / 3, rel=1e-6)


def test_a_run_candidate_exports_to_jax_from_the_command_line(run_cli, small_run, tmp_path):
    jax = pytest.importorskip("jax")
    run_cli("export", str(small_run), "2", "--format", "jax", "-o", "act.py")
    mod = _load(tmp_path / "act.py")
    assert mod.FORMULA == "x*tanh(x)"
    assert float(mod.activation(jax.numpy.float32(2.0))) == pytest.approx(2.0 * math.tanh(2.0), rel=1e-6)


def test_the_jax_export_works_whatever_its_constants_are_called(tmp_path):
    jax = pytest.importorskip("jax")
    for name in ("jax", "jnp"):  # a constant is a parameter of the function: it must not hide the modules
        mod = _load(export_jax(tmp_path / f"act_{name}.py", f"x*sigmoid({name}*x)", {name: 2.0}))
        assert float(mod.activation(jax.numpy.float32(1.0))) == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-6)


def test_a_constants_mean_over_layers_is_written_with_the_digits_each_layer_was_stored_with(tmp_path):
    params = mean_learned({"beta": (0.1, 0.2, 0.3)})  # the plain mean is 0.20000000000000004
    assert params == {"beta": 0.2}
    export_torch_module(tmp_path / "act.py", "x*sigmoid(beta*x)", params)
    assert "PARAMS = {'beta': 0.2}" in (tmp_path / "act.py").read_text()


def test_notes_fit_a_run_s_candidate_a_rejected_one_exported_and_its_constants_shown(cli, small_run, tmp_path):
    """Both ways of exporting a rejected candidate say it has no fitness (the API said nothing); inspect names a run
    candidate's constants with their trained values, without the typed formula's note on names that become constants."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    store = RunStore.reopen(run)
    cid = store.add_candidate("sin(x)", "random", genome="sin(x)", generation=0, nodes=2)
    store.record_result(cid, {"status": "rejected", "stage": "stability", "error": "exploding gradients"})
    store.close()
    said = f"candidate #{cid} rejected at stability (exploding gradients); exported as asked, but it has no fitness"
    out = cli("export", str(run), str(cid), "-o", "a.py")
    assert f"note: {said}" in " ".join(out.stdout.split())
    with pytest.warns(UserWarning, match=re.escape(said)):
        evoact.open_run(run).export(tmp_path / "b.py", candidate=cid)
    store = RunStore.reopen(run)
    beta = store.add_candidate("x*tanh(beta*x)", "random", genome="mul(x, tanh(mul(beta, x)))", generation=0, nodes=6)
    store.record_result(beta, {"status": "ok", "fitness": 0.7, "learned": {"beta": [1.5, 2.5]}})
    store.close()
    shown = " ".join(cli("inspect", str(run), str(beta)).stdout.split())
    assert "learnable constants: beta = 2 (its starting values: as trained in the run, or --param's)" in shown
    assert "neither x nor a function" not in shown  # the note for a typed formula, whose names may be typos


def test_the_exported_files_function_is_differentiated_as_its_module(tmp_path):
    """``activation(x)``, the file's plain form, took autograd's slope of the ops: NaN for TanhExp above x = 88 in
    float32 (the README's example; the module mends it), and no graph at all for a constant formula."""
    tanhexp = _load(export_torch_module(tmp_path / "tanhexp.py", "x*tanh(exp(x))"))
    x = torch.tensor([10.0, 89.0, 100.0], requires_grad=True)
    (plain,) = torch.autograd.grad(tanhexp.activation(x).sum(), x)
    (module,) = torch.autograd.grad(tanhexp.Activation()(x).sum(), x)
    assert plain.tolist() == module.tolist() == pytest.approx([1.0, 1.0, 1.0])
    learned = _load(export_torch_module(tmp_path / "swish.py", "x*sigmoid(beta*x)", {"beta": 1.5}))
    x = torch.linspace(-3, 3, 7, requires_grad=True)
    (plain,) = torch.autograd.grad(learned.activation(x, beta=0.5).sum(), x)
    (module,) = torch.autograd.grad(learned.Activation(beta=0.5)(x).sum(), x)
    assert torch.allclose(plain, module)
    constant = _load(export_torch_module(tmp_path / "constant.py", "x - x"))
    x = torch.randn(2, 3, requires_grad=True)
    constant.activation(x).sum().backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2
    assert torch.jit.script(tanhexp.activation)(torch.tensor([1.0])).item() == pytest.approx(math.tanh(math.e))


def test_a_constant_with_no_learned_values_writes_no_line_of_them(tmp_path):
    """An empty list wrote "...each raced seed's): beta = ." into the file's docstring."""
    text = export_torch_module(tmp_path / "a.py", "x*sigmoid(beta*x)", {"beta": 1.0}, {"beta": []}).read_text()
    assert "Values learned per layer" not in text and "beta = ." not in text
    text = export_torch_module(tmp_path / "b.py", "x*sigmoid(beta*x)", {"beta": 1.0}, {"beta": [1.5]}).read_text()
    assert "seed's): beta = 1.5." in text


def test_the_exported_files_annotations_name_only_what_it_imports(tmp_path):
    """The backward's source it holds is annotated with Callable: a type checker or get_type_hints in a user's
    project read an undefined name."""
    import typing

    for i, formula in enumerate(("x*sigmoid(beta*x)", "sinc(x)", "silu(x)")):
        mod = _load(export_torch_module(tmp_path / f"a{i}.py", formula))
        for name in ("plain_backward", "_mended_backward", "autograd_function", "slope_function"):
            if hasattr(mod, name):
                typing.get_type_hints(getattr(mod, name))
