"""The one table of search options: the command line is made from it, and every option round-trips through the
command a run records for running it again."""

import re
import shlex
from pathlib import Path

import click
import pytest

from evoact.cli import search
from evoact.config import SearchConfig, make_config
from evoact.options import (
    FLAG,
    MULTIPLE,
    NUMBERS,
    RACE,
    SEARCH_OPTIONS,
    STOP_OPTIONS,
    reproduce_command,
    settings_from,
)
from evoact.tasks import SUITES

#: A value other than the quick budget's default for every option, by flag.
CHANGED = {
    "--budget": "tiny",
    "--seed": 7,
    "--space": "ramachandran2017",
    "--suite": "heldout",
    "--task": ("mnist1d-cnn", "digits-cnn"),
    "--baseline": ("relu", "pau"),
    "--weights": "1,2.5",
    "--selection": "pareto",
    "--score": "loss",
    "--aggregate": "mean",  # the default; weights need the mean: --aggregate is changed in its own case below
    "--complexity": True,
    "--algorithm": "random",
    "--shard": "2/3",  # with --algorithm enumeration (its own case below)
    "--mode": "async",
    "--data-dir": "/tmp/some data",
    "--gpus-per-job": 0.25,
    "--population": 9,
    "--offspring": 5,
    "--generations": 3,
    "--epochs": 2,
    "--epoch-scale": 0.37,
    "--replacement": "truncation",
    "--workers": 3,
    "--timeout": 123.456789,
    "--address": "127.0.0.1:6380",
    "--activation-mode": "fused",
    "--no-screening": True,
    "--no-cache": True,
    "--evaluations-per-hash": 2,
    "--stability-depth": 5,
    "--guess": ("mul(x, sigmoid(x))", "tanh(x)"),
    "--warm-start": "runs/an old run",
    "--min-rank-correlation": 0.5,
    "--max-tail-reversal": 0.75,
    "--hurdle-ratio": 0.123456789,
    "--surrogate": 0.3,
    "--surrogate-pool": 8,
    "--no-surrogate": True,
    "--race": "2,4",
}


def _parse(command: str) -> dict:
    """The settings the command line makes of a recorded ``evoact search ...`` command."""
    words = shlex.split(command)
    assert words[:2] == ["evoact", "search"]
    context = search.make_context("search", words[2:])
    values = dict(context.params)
    values.pop("name"), values.pop("runs_dir")
    settings = settings_from(values)
    return make_config(settings.pop("budget"), **settings)


def _args(flag: str, value) -> list[str]:
    if value is True:
        return [flag]
    if isinstance(value, tuple):
        return [part for v in value for part in (flag, v)]
    return [flag, str(value)]


def test_every_table_option_is_a_search_option_of_the_command_line():
    flags = {opt for param in search.params for opt in param.opts}
    assert {o.flag for o in SEARCH_OPTIONS} <= flags
    session = {"--name", "--runs-dir", "--log-to"} | {o.flag for o in STOP_OPTIONS}
    assert flags - {o.flag for o in SEARCH_OPTIONS} == session
    assert set(CHANGED) == {o.flag for o in SEARCH_OPTIONS}  # this test covers every option


@pytest.mark.parametrize("option", SEARCH_OPTIONS, ids=lambda o: o.flag)
def test_each_option_round_trips_through_the_rerun_command(option):
    base = ["--workers", "2"] if option.flag != "--workers" else []
    extra = ["--selection", "pareto"] if option.flag == "--complexity" else []
    if option.flag == "--weights":
        extra = ["--task", "mnist1d-cnn", "--task", "digits-cnn"]
    if option.flag == "--shard":
        extra = ["--algorithm", "enumeration", "--space", "core_unit"]
    config = _parse("evoact search " + shlex.join([*base, *extra, *_args(option.flag, CHANGED[option.flag])]))
    default = _parse("evoact search " + shlex.join([*base, *extra]))
    if option.flag not in ("--aggregate", "--no-surrogate"):  # these say the default
        assert config != default, f"{option.flag} changed nothing"
    assert _parse(reproduce_command(config)) == config


def test_a_stored_run_with_settings_its_others_leave_unused_gets_a_command_that_runs():
    """A run stored before such pairs were refused: `show`'s command to run it again was refused in its turn."""
    stored = make_config("quick", tasks=("mnist1d-mlp",), active=False).to_dict()
    stored["screening"]["hurdle_ratio"] = 0.5  # taken and ignored by that version
    stored["training"] |= {"epochs": 3, "epoch_scale": 0.5}
    config = SearchConfig.from_dict(stored)
    command = reproduce_command(config)
    assert "--hurdle-ratio" not in command and "--epoch-scale" not in command and "--epochs 3" in command
    again = _parse(command)
    assert again.screening.active is False and again.training.epochs == 3


def test_all_options_at_once_round_trip():
    args = ["--aggregate", "mean"]
    own = ("--suite", "--aggregate", "--no-surrogate", "--surrogate-pool", "--shard")  # their own tests
    # each of these leaves others unused (pareto the cache and the surrogate, random the replacement, ...): refused
    unusing = ("--selection", "--complexity", "--algorithm", "--no-screening", "--epoch-scale")
    for flag, value in CHANGED.items():
        if flag not in own + unusing:
            args += _args(flag, value)
    config = _parse("evoact search " + shlex.join(args))
    assert config.tasks == CHANGED["--task"] and config.task_weights == (1.0, 2.5)
    assert config.timeout == 123.456789 and config.screening.hurdle_ratio == 0.123456789
    assert _parse(reproduce_command(config)) == config


def test_a_suite_is_recorded_by_name_and_the_run_name_is_suggested(tmp_path):
    config = make_config("quick", tasks=SUITES["heldout"], workers=2)
    command = reproduce_command(config, tmp_path / "my-run")
    assert "--suite heldout" in command or "--suite validation" in command
    assert command.endswith(f"--name my-run-again --runs-dir {tmp_path}")  # the folder it was in, not runs/
    assert _parse(command.rsplit(" --name", 1)[0]) == config
    assert reproduce_command(config, Path("runs") / "mine").endswith("--name mine-again")  # the default folder


def test_race_zero_turns_racing_off_and_round_trips():
    config = _parse("evoact search --workers 2 --race 0")
    assert config.race_top == 0 and not config.racing
    assert _parse(reproduce_command(config)) == config
    assert _parse("evoact search --workers 2").racing  # quick races by default
    assert _parse("evoact search --workers 2 --race 0,5") == config  # the top 0 races nothing: stored as off


def test_bad_numbers_and_a_suite_with_tasks_are_one_line_errors():
    with pytest.raises(ValueError, match="--weights '1,x': expected comma-separated numbers"):
        settings_from({"weights": "1,x"})
    with pytest.raises(ValueError, match="give --suite or --task, not both"):
        settings_from({"suite": "general", "task": ("mnist1d-cnn",)})
    with pytest.raises(ValueError, match="--race '3,x': expected K,N"):
        settings_from({"race": "3,x"})


def test_kinds_map_to_click_parameters():
    params = {p.opts[0]: p for p in search.params}
    for option in SEARCH_OPTIONS:
        param = params[option.flag]
        if option.kind == FLAG:
            assert param.is_flag
        elif option.kind == MULTIPLE:
            assert param.multiple
        elif isinstance(option.kind, tuple):
            assert isinstance(param.type, click.Choice) and list(param.type.choices) == list(option.kind)
        elif option.kind in (NUMBERS, RACE):
            assert param.type == click.STRING


def test_settings_with_no_option_are_named_beside_the_command():
    config = make_config("quick", workers=2, lr=0.01, tournament=3)
    command = reproduce_command(config)
    assert command.endswith("# and from Python: tournament=3, lr=0.01")
    assert _parse(command.split("  #")[0]) == make_config("quick", workers=2)  # what the options alone give
    assert "#" not in reproduce_command(make_config("quick", workers=2))


def test_no_surrogate_is_the_default_and_contradicts_a_surrogate_fraction():
    assert _parse("evoact search --no-surrogate").screening.surrogate == 0.0
    assert _parse("evoact search --no-surrogate") == _parse("evoact search")
    assert _parse("evoact search --surrogate 0.3").screening.surrogate == 0.3
    with pytest.raises(ValueError, match="--no-surrogate contradicts another option that sets surrogate"):
        _parse("evoact search --surrogate 0.3 --no-surrogate")


def test_a_surrogate_pool_is_its_own_mode_of_the_surrogate_and_needs_generations_and_one_fitness():
    assert _parse("evoact search --surrogate-pool 8").screening.surrogate_pool == 8
    assert _parse("evoact search").screening.surrogate_pool == 1
    for clash, named in (
        ("--surrogate 0.3", "--surrogate"),
        ("--selection pareto", "--selection pareto"),
        ("--mode async", "asynchronous mode"),
        ("--no-screening", "--no-screening"),
    ):
        with pytest.raises(ValueError, match=f"--surrogate-pool ranks each generation's proposals: .*{named}"):
            _parse(f"evoact search --surrogate-pool 8 {clash}")
    with pytest.raises(ValueError, match="--surrogate-pool must be at least 1"):
        _parse("evoact search --surrogate-pool 0")


def test_a_setting_given_by_its_command_line_name_says_the_python_name():
    """`evoact.search(race="3,2")` is the command line's spelling: refused in one line naming the settings to give,
    before anything is made."""
    import evoact

    for given, expected in (
        ({"race": "3,2"}, "race: that is the command line's --race; in Python give race_top=K, race_seeds=N"),
        ({"weights": "1,2"}, "weights: that is the command line's --weights; in Python give task_weights=..."),
    ):
        with pytest.raises(ValueError, match=re.escape(expected)):
            evoact.search(budget="tiny", **given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"max_time": "10 minutes"}, "max_time='10 minutes': give a duration such as 90s"),
        ({"guesses": ["x*sigmod(x)"]}, "guesses='x*sigmod(x)': neither a tree of the space"),
        ({"warm_start": "nowhere"}, "warm_start: nowhere: no such run directory"),
        ({"patience": 0}, "patience must be at least 1, got 0"),
        ({"epochs": 3, "epoch_scale": 0.5}, "epoch_scale: unused with epochs, which sets every task's length"),
        ({"active": False, "hurdle_ratio": 0.5}, "hurdle_ratio: screening setting(s), unused with active=False"),
        ({"active": False, "hurdle_ratio": 0.5, "surrogate": 0.3}, "hurdle_ratio, surrogate: screening setting(s)"),
        ({"active": False, "vanish_rms": 1e-3}, "vanish_rms: screening setting(s), unused with active=False"),
        ({"warm_start": "old--seed"}, "warm_start: old--seed: no such run directory"),  # a name's dashes: no flag
    ],
)
def test_a_python_caller_is_told_the_keyword_not_the_command_line_flag(tmp_path, given, expected):
    """A notebook that gave ``guesses=`` was told about ``--guess``: the message names what the caller wrote."""
    import evoact

    with pytest.raises(ValueError, match=f"^{re.escape(expected)}"):
        evoact.search(budget="tiny", tasks=["mnist1d-mlp"], runs_dir=tmp_path, **given)
    assert not any(tmp_path.iterdir())  # refused before anything was made


def test_help_on_search_lists_every_setting_of_the_options_table():
    """``help(evoact.search)`` named a few settings; the rest were only in ``evoact search --help``."""
    import evoact

    doc = evoact.search.__doc__
    assert all(f"``{o.setting}" in doc for o in SEARCH_OPTIONS if o.setting not in ("budget", "race"))
    assert "``race_top=K, race_seeds=N``: Racing the elite" in doc and "``active=False``: Disable the rejection" in doc
    assert "``epochs=...``: " in doc
    assert "importlib" not in dir(evoact) and "search" in dir(evoact)
