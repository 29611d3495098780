"""Baselines (evoact/baselines.py): their formulas and starting constants; PAU and the rational space end to end."""

import numpy as np
import pytest
import torch
from torch import nn

import evoact
from evoact.baselines import BASELINES, PAU_FORMULA, PAU_INIT, baseline_formula, baseline_params
from evoact.catalog import nearest_known
from evoact.compiler import values_at
from evoact.config import make_config
from evoact.formula import constant_names, parse
from evoact.genome import load_search_space


def test_pau_starts_as_leaky_relu_on_the_fitted_range_and_the_rational_space_starts_alike():
    x = np.linspace(-3, 3, 601)
    pau = values_at(parse(PAU_FORMULA), x, dict(PAU_INIT))
    error = pau - np.where(x > 0, x, 0.01 * x)
    assert np.sqrt(np.mean(error**2)) < 0.01 and np.abs(error).max() < 0.04
    assert set(constant_names(parse(PAU_FORMULA))) == set(PAU_INIT)
    space = load_search_space("rational")
    assert {k: space.learnable[k] for k in PAU_INIT} == dict(PAU_INIT)  # one set of numbers, two places: kept equal
    assert nearest_known(PAU_FORMULA, dict(PAU_INIT))[0].name == "PAU"


def test_a_baseline_takes_its_own_constants_over_the_spaces():
    assert baseline_params("xsilu", {"beta": 1.0}) == {"beta": 1.0, "alpha": 0.0}
    assert baseline_params("relu", {"beta": 2.0}) == {"beta": 2.0}
    assert baseline_params("pau", {})["b2"] == PAU_INIT["b2"]
    assert all(baseline_formula(name) for name in BASELINES)
    with pytest.raises(ValueError, match="unknown baseline 'nope'; known: relu"):
        baseline_formula("nope")
    with pytest.raises(ValueError, match="baselines must be some of"):
        make_config("tiny", baselines=("relu", "nope"))


@pytest.mark.slow
def test_pau_and_a_rational_candidate_train_end_to_end_and_export_every_coefficient(tmp_path):
    run = evoact.search(
        "tiny",
        space="rational",
        tasks=["mnist1d-mlp"],
        baselines=["relu", "pau"],
        population=6,
        offspring=4,
        generations=2,
        name="rational",
        runs_dir=tmp_path,
        workers=2,
        quiet=True,
    )
    rows = run.store.candidates()
    pau = next(r for r in rows if r.label == "pau")
    assert pau.status == "ok" and set(pau.outcome.learned) == set(PAU_INIT)
    assert any(abs(v[0] - PAU_INIT[k]) > 1e-6 for k, v in pau.outcome.learned.items())  # the coefficients trained
    evolved = next((r for r in run.ranking(20) if r.outcome.learned), None)
    assert evolved is not None, "no evolved rational candidate trained its coefficients"
    for row in (pau, evolved):
        path = run.export(tmp_path / f"act_{row.id}.py", row.id)
        module = evoact.load_activation(path)
        names = {n.split(".")[-1] for n, p in module.named_parameters() if isinstance(p, nn.Parameter)}
        assert names == set(constant_names(parse(row.formula)))  # every coefficient stays a parameter
        x = torch.linspace(-2, 2, 9, requires_grad=True)
        module(x).sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())
