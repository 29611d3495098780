import json
import os
import re
from dataclasses import fields

import pytest

from evoact.config import BOUNDS, BUDGETS, DEFAULT_BUDGET, SearchConfig, check, make_config
from evoact.evolution import EvolutionConfig
from evoact.screening import ScreeningConfig
from evoact.training import TrainConfig


def test_budget_presets_and_settings_reach_their_config():
    config = make_config("quick", seed=7, epochs=3, population=10, replacement="truncation", space="ramachandran2017")
    assert config.generations == BUDGETS["quick"]["generations"] and config.space == "ramachandran2017"
    assert config.evolution.population == 10 and config.evolution.offspring == BUDGETS["quick"]["offspring"]
    assert config.evolution.replacement == "truncation"
    assert config.training.epochs == 3 and config.training.seed == config.seed == 7
    assert (
        make_config("tiny", epochs=None).training.epoch_scale == BUDGETS["tiny"]["epoch_scale"]
    )  # None keeps the preset
    assert make_config("tiny").training.epochs is None  # each task trains its own epochs, scaled by the budget
    assert make_config("tiny").workers == (os.cpu_count() or 1) and make_config("tiny", workers=3).workers == 3
    assert SearchConfig(workers=3) == make_config(DEFAULT_BUDGET, workers=3)  # a bare config is the default preset's


def test_config_round_trips_to_json_ready_dict():
    data = make_config("tiny").to_dict()
    assert (
        data["evolution"]["population"] == 6
        and data["training"]["epoch_scale"] == 0.1
        and data["baselines"][0] == "relu"
    )
    config = make_config("tiny", seed=7, hurdle_ratio=0.5)
    assert SearchConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config  # what resume reads back
    with pytest.raises(ValueError, match="not a search config this evoact understands"):
        SearchConfig.from_dict({**data, "training": {"epochz": 3}})
    # a hand-edited config.json: each mistake named (they said "KeyError: 'task'", or split the text into letters)
    with pytest.raises(
        ValueError, match=re.escape("tasks must be one or more distinct task names (at most 32), got []")
    ):
        SearchConfig.from_dict({**data, "tasks": []})
    with pytest.raises(ValueError, match=re.escape("tasks must be a list, got the text 'mnist1d-mlp'")):
        SearchConfig.from_dict({**data, "tasks": "mnist1d-mlp"})
    with pytest.raises(ValueError, match="it names no tasks"):
        SearchConfig.from_dict({k: v for k, v in data.items() if k != "tasks"})


@pytest.mark.parametrize(
    "budget, settings, message",
    [
        ("huge", {}, "unknown budget 'huge'"),
        ("quick", {"colour": "red"}, "unknown setting(s): colour"),
        ("quick", {"epochs": 0}, "epochs must be at least 1"),
        ("quick", {"timeout": -1.0}, "timeout must be at least 1 (seconds a training may take), got -1.0"),
        ("quick", {"timeout": 0}, "timeout must be at least 1 (seconds a training may take), got 0"),  # not "positive"
        ("quick", {"timeout": 1e-9}, "timeout must be at least 1 (seconds a training may take), got 1e-09"),
        ("quick", {"epoch_scale": 1e-300}, "epoch_scale must be at least 0.01 (it multiplies each task's epochs"),
        ("quick", {"activation_mode": "triton"}, "unknown activation mode 'triton'"),
        ("quick", {"tasks": "digits-cnn"}, "tasks must be a list, got the text 'digits-cnn'"),
        ("quick", {"guesses": "x*tanh(x)"}, "guesses must be a list, got the text 'x*tanh(x)'"),  # not 9 guesses
        ("quick", {"guesses": [""]}, "--guess '': a formula or a tree of the space, of 1 to 4096 characters"),
        ("quick", {"guesses": ["x" * 5000]}, "--guess 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...': a formula"),
        ("quick", {"guesses": [1]}, "--guess 1: a formula or a tree of the space"),
        ("tiny", {"guesses": ["x"] * 7}, "7 guess(es) make 7, more than the population (6) they start"),
        ("quick", {"baselines": 3}, "baselines must be a list, got int"),
        ("quick", {"baselines": ["relu", "gelu", "relu"]}, "baselines name 'relu' twice; each trains once"),
        ("quick", {"race_seeds": 1}, "race_seeds 1 races nothing"),  # quick races its top 5
        # settings a search took and then ignored, without a word
        ("quick", {"epochs": 3, "epoch_scale": 0.5}, "--epoch-scale: unused with --epochs, which sets every task's"),
        ("quick", {"active": False, "hurdle_ratio": 0.5}, "--hurdle-ratio: screening setting(s), unused with --no-"),
        ("quick", {"active": False, "surrogate": 0.5, "stability_depth": 4}, "--stability-depth, --surrogate: scree"),
        ("quick", {"selection": "pareto", "surrogate": 0.5}, "--surrogate: unused with --selection pareto (it keeps"),
        ("quick", {"selection": "pareto", "evaluations_per_hash": 2}, "--evaluations-per-hash: unused with --sel"),
        ("quick", {"algorithm": "random", "replacement": "truncation"}, "--replacement: unused with --algorithm ra"),
    ],
)
def test_bad_settings_are_named(budget, settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_config(budget, **settings)


def test_settings_that_go_together_are_taken_and_a_stored_pair_that_would_be_unused_still_reads():
    assert make_config("quick", active=False, surrogate=0.0, use_cache=False).screening.active is False  # asks less
    assert make_config("quick", epochs=3).training.epochs == 3 and make_config("quick", epoch_scale=0.5)
    assert make_config("quick", algorithm="random", selection="pareto").algorithm == "random"
    data = make_config("tiny").to_dict()
    stored = {**data, "training": {**data["training"], "epochs": 3, "epoch_scale": 0.5}}
    assert SearchConfig.from_dict(stored).training.epochs == 3


def test_a_stored_run_with_a_timeout_under_a_second_or_a_tiny_epoch_scale_still_reads():
    """The minima are a new run's (make_config's), as race_seeds 1's refusal is: a stored config keeps opening."""
    data = make_config("tiny").to_dict()
    assert SearchConfig.from_dict({**data, "timeout": 0.5}).timeout == 0.5
    training = {**data["training"], "epoch_scale": 1e-4}
    assert SearchConfig.from_dict({**data, "training": training}).training.epoch_scale == 1e-4


_FIELDS = {f.name for cls in (SearchConfig, EvolutionConfig, TrainConfig, ScreeningConfig) for f in fields(cls)}


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bounded_number_refuses_nan_infinity_and_values_out_of_range_on_every_way_in(name):
    bound = BOUNDS[name]
    bad = [float("nan"), float("inf"), -float("inf"), bound.high * 10 + 10, bound.low - 1, "3", True, 10**400]
    for value in bad:
        with pytest.raises(ValueError, match=name):
            check(name, value)
        if name in _FIELDS:
            with pytest.raises(ValueError, match=name):
                make_config("tiny", **{name: value})  # the CLI and the Python API
            stored = make_config("tiny").to_dict()  # a resumed config.json
            part = next((p for p in ("evolution", "training", "screening") if name in stored[p]), None)
            (stored[part] if part else stored)[name] = value
            with pytest.raises(ValueError, match=name):
                SearchConfig.from_dict(stored)
    check(name, bound.high)  # the ends of the range are inside it


def test_runs_made_before_the_sign_and_tail_checks_resume_without_them():
    stored = make_config("tiny").to_dict()
    assert stored["screening"]["min_rank_correlation"] == 0.8 and stored["screening"]["max_tail_reversal"] == 0.5
    del stored["screening"]["min_rank_correlation"], stored["screening"]["max_tail_reversal"]
    screening = SearchConfig.from_dict(stored).screening
    assert screening.min_rank_correlation == 0.0 and screening.max_tail_reversal == 0.0


def test_a_space_file_is_kept_by_its_absolute_path_so_the_command_to_run_it_again_works_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my").mkdir()
    (tmp_path / "my" / "space.toml").write_text("")
    assert make_config("tiny", space="my/space.toml").space == str(tmp_path / "my" / "space.toml")
    assert make_config("tiny", space="default").space == "default"  # a shipped space keeps its name
