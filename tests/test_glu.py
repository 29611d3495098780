"""GLU tasks (evoact/tasks/glu.py): the function as a gate, at equal parameters, on offline corpora, searched and
confirmed on held-out GLU tasks through the public API."""

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import evoact
from evoact.baselines import BASELINE_PARAMS, BASELINES, GLU_BASELINES
from evoact.cli import main
from evoact.comparison import tables
from evoact.config import make_config
from evoact.confirmation import default_tasks
from evoact.evaluation import evaluate, make_job
from evoact.options import reproduce_command
from evoact.tasks import SUITES, get_task, group_tasks, task_family, task_group
from evoact.tasks.glu import load_docs_windows, load_source_windows, load_sympy_windows, sympy_docstrings
from evoact.tasks.source_code import missing_modules
from evoact.tasks.transformer import GluFfn, gated_width
from evoact.training import TrainConfig

GLU_TASKS = SUITES["glu"] + SUITES["glu-validation"] + SUITES["glu-test"]


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", GLU_TASKS)
def test_a_gated_network_has_the_plain_ones_parameters_and_gates_every_ffn(name):
    task = get_task(name)
    gates: list[nn.Module] = []

    def gate() -> nn.Module:
        gates.append(nn.Sigmoid())
        return gates[-1]

    gated = task.build_model(gate)
    plain = task.plain().build_model(nn.GELU)
    assert abs(_count(gated) - _count(plain)) / _count(plain) < 0.01  # d_ff scaled by 2/3, as in Shazeer 2020
    ffns = [m for m in gated.modules() if isinstance(m, GluFfn)]
    assert ffns and len(gates) == len(ffns) and all(f.v is not None for f in ffns)
    assert all(f.v is None for f in plain.modules() if isinstance(f, GluFfn))  # U act(W x): no gate
    assert task.gated  # plain() is a twin: the task itself stays gated
    assert all(f.w.out_features == gated_width(f.u.out_features * 2) for f in ffns)


def test_the_function_gates_the_linear_path():
    torch.manual_seed(0)
    ffn = GluFfn(lambda: _Zero(), 8, 16)
    x = torch.randn(3, 8)
    assert torch.allclose(ffn(x), ffn.u.bias.expand(3, 8))  # a gate of 0 closes V x entirely
    ffn = GluFfn(nn.Identity, 8, 16)
    assert torch.allclose(ffn(x), ffn.u(ffn.w(x) * ffn.v(x)))  # bilinear: g(Wx) * Vx


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@pytest.mark.skipif(bool(missing_modules()), reason="this Python ships no standard-library source")
def test_real_corpora_are_split_by_file_and_topic_and_shifted_by_one():
    for data in (load_source_windows(), load_docs_windows()):
        assert data.x_train.shape == (4000, 32) and data.x_val.shape == (400, 32) and data.x_test.shape == (400, 32)
        assert torch.equal(data.x_train[:, 1:], data.y_train[:, :-1])  # the next character at every position
        train = {tuple(r.tolist()) for r in data.x_train}
        repeated = sum(tuple(r.tolist()) in train for r in data.x_test)
        assert repeated < 0.05 * len(data.x_test)  # other modules / topics (only boilerplate, indentation, recurs)
    source, docs = load_source_windows(), load_docs_windows()
    assert not torch.equal(source.x_train, docs.x_train)


def test_glu_tasks_are_their_own_family_with_search_and_held_out_groups():
    assert task_family(SUITES["glu"]) == "glu" and task_family(("glu-text", "mnist1d-cnn")) == "pointwise"
    assert group_tasks("validation", "glu") == ("glu-text-wide", "glu-docs")
    assert group_tasks("test", "glu") == ("glu-mnist1d", "glu-sympy-docs")
    assert task_group("glu-docs") == "validation" and task_group("glu-vit") == "search"
    assert task_group("glu-sympy-docs") == "test" and task_family(SUITES["glu-test"]) == "glu"
    families = [set(group_tasks(g, "glu")) for g in ("search", "validation", "test")]
    assert all(not a & b for i, a in enumerate(families) for b in families[i + 1 :])  # disjoint
    assert default_tasks(SUITES["glu"]) == [*SUITES["glu"], "glu-text-wide", "glu-docs"]
    config = make_config("tiny", tasks=SUITES["glu"])
    assert config.baselines == GLU_BASELINES  # ReGLU, GEGLU, SwiGLU, sine, xSiLU
    assert "--suite glu" in reproduce_command(config) and "--baseline" not in reproduce_command(config)
    assert make_config("tiny").baselines == ("relu", "gelu", "silu", "tanh")
    with pytest.raises(ValueError, match="glu-mnist1d, glu-sympy-docs: the test group only reports results"):
        make_config("tiny", tasks=SUITES["glu-test"])  # a search never trains on a test group, GLU or pointwise
    refused = CliRunner().invoke(main, ["search", "--suite", "glu-test"])
    assert refused.exit_code == 2 and "Invalid value for '--suite'" in refused.output  # not even offered
    with pytest.raises(ValueError, match="^glu-text: a GLU task searches a gate .*search them apart"):
        make_config("tiny", tasks=["mnist1d-mlp", "glu-text"])  # one fitness over gates and activations: no


@pytest.mark.slow
def test_a_tiny_glu_search_resumes_confirms_on_held_out_glu_tasks_and_reports(tmp_path):
    settings = dict(
        budget="tiny",
        tasks=["glu-text"],
        population=4,
        offspring=2,
        generations=2,
        name="glu",
        runs_dir=tmp_path,
        workers=2,
        quiet=True,
        guesses=("x",),  # the bilinear GLU: an affine gate, screened as a gate
    )
    stopped = evoact.search(**settings, target_fitness=-1000)  # stops after its first step
    assert stopped.overview().state == "stopped"
    run = stopped.resume()
    assert run.overview().state == "finished"
    (bilinear,) = [r for r in run.store.candidates() if r.formula == "x"]
    assert bilinear.outcome.stage != "static", bilinear.outcome.error  # trained, not "affine: no nonlinearity"
    baselines = {b.candidate.label: b.candidate for b in run.summary().baselines}
    assert set(baselines) == set(GLU_BASELINES) and all(b.outcome.fitness is not None for b in baselines.values())
    assert len(baselines["xsilu"].outcome.learned["alpha"]) == 2  # one alpha per block (Huang 2024)
    summary = run.confirm(top=1, seeds=2, tasks=["glu-docs"], epochs=1)
    result = summary.tasks["glu-docs"]
    plain = {"plain-relu", "plain-gelu"}  # the plain FFN at equal parameters, with ReLU and with GELU
    assert result.group == "validation" and {r.name for r in result.rows if r.baseline} == {*GLU_BASELINES, *plain}
    assert summary.groups is not None and summary.groups["validation"].references == ("gelu", "silu")  # GEGLU, SwiGLU
    rows = {r.name: r for r in result.rows}
    assert all(rows[n].n == 2 and rows[n].mean is not None for n in plain)
    assert rows["plain-relu"].formula == rows["relu"].formula and rows["plain-relu"].mean != rows["relu"].mean
    assert rows["plain-relu"].p_vs_relu is not None  # its formula's, in another network: other trainings, a test
    stored = {(r.name, r.task) for r in run.store.confirmations()}
    assert ("plain-relu", "glu-docs [plain FFN]") in stored and ("relu", "glu-docs") in stored  # kept apart
    title = next(title for title, _, _ in tables(summary) if title.startswith("glu-docs"))
    assert "plain-relu and plain-gelu: the plain FFN at equal parameters" in title
    ratios = next(title for title, _, _ in tables(summary) if title.startswith("validation group"))
    assert "relative to the best of GEGLU and SwiGLU on each task" in ratios
    other = run.confirm(top=1, seeds=2, tasks=["mnist1d-mlp"], epochs=1).tasks["mnist1d-mlp"]
    assert not any(r.name.startswith("plain-") for r in other.rows) and all(r.n == 2 for r in other.rows)
    assert other.best_baseline in GLU_BASELINES  # a pointwise task has no plain twin: nothing failed, none stored
    assert run.report(tmp_path / "report.html").stat().st_size > 0
    kept = run.confirmation()
    assert kept is not None and "mnist1d-mlp" in kept.tasks  # the last confirmation is kept


def test_confirmation_groups_and_fingerprints_keep_the_families_apart():
    from evoact.confirmation import group_of
    from evoact.screening import ScreeningConfig, screen_static

    assert group_of("glu-docs", SUITES["glu"]) == "validation" and group_of("mnist1d-cnn", SUITES["glu"]) is None
    assert (
        group_of("glu-docs", SUITES["general"]) is None and group_of("mnist1d-cnn", SUITES["general"]) == "validation"
    )
    formulas = [BASELINES[b] for b in GLU_BASELINES]
    verdicts = screen_static(
        formulas, [None] * len(formulas), {"beta": 1.0, **BASELINE_PARAMS["xsilu"]}, None, ScreeningConfig()
    )
    assert len({v.fingerprint for v in verdicts}) == len(GLU_BASELINES)  # xSiLU from alpha = 0 is no SiLU


def test_a_plain_ffn_job_trains_the_plain_network_and_a_pointwise_task_has_none():
    train = TrainConfig(epochs=1, seed=3)
    gated, plain = (evaluate(make_job("relu(x)", ("glu-text",), train, {}, plain=p)) for p in (False, True))
    assert gated["status"] == plain["status"] == "ok" and gated["fitness"] != plain["fitness"]
    assert evaluate(make_job("relu(x)", ("glu-text",), train, {}, plain=True))["fitness"] == plain["fitness"]
    failed = evaluate(make_job("relu(x)", ("mnist1d-cnn",), train, {}, plain=True))
    assert failed["status"] == "failed" and "mnist1d-cnn has no GLU layers" in failed["error"]
    with pytest.raises(ValueError, match="task digits-cnn has no GLU layers, so it has no plain-FFN form"):
        get_task("digits-cnn").plain()


def test_the_sympy_corpus_is_split_by_subpackage_and_shifted_by_one():
    texts = sympy_docstrings()
    assert all(len(texts[split]) > 50_000 for split in ("train", "val", "test"))
    assert texts["train"][:2000] not in texts["test"] and texts["test"][:2000] not in texts["train"]
    data = load_sympy_windows()
    assert data.x_train.shape == (6000, 64) and data.x_test.shape == (400, 64)
    assert torch.equal(data.x_train[:, 1:], data.y_train[:, :-1])
