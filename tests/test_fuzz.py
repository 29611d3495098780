"""Property-based fuzzing of the trust boundaries (docs/SECURITY.md): formulas from the grammar, numeric options, and
run files. Every input ends in success or a one-line error within a time bound, and every accepted formula
round-trips through every export format. The budget is fixed (derandomized) so CI runs the same cases each time."""

import json
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
import sympy as sp
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from evoact.checkpoint import CHECKPOINT_DIR
from evoact.cli import main
from evoact.compiler import compile_activation
from evoact.config import make_config
from evoact.export import EXPORTERS, load_activation
from evoact.formula import FUNCTIONS, FormulaError, parse, to_formula


def fixed(examples: int) -> settings:
    """A fixed budget: the same derandomized cases on every run, no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


PROBE = torch.tensor([-3.0, -1.3, -0.4, 0.0, 0.25, 0.9, 2.2, 3.7], dtype=torch.float64)

literals = st.one_of(
    st.integers(0, 10**7).map(str),
    st.floats(0, 1e7, allow_nan=False).map(lambda v: f"{v:.6g}"),
    st.sampled_from(
        [
            "1e-31",
            "1e-30",
            "1e30",
            "1e+400",
            "1e-400",
            "0.1234567890123456789012345678901",
            "1" + "0" * 40,
            "9" * 31,
            "0.0",
            "00001.5",
            "1.e3",
            ".5e-3",
            "2**-1074",
        ]
    ),
)
names = st.sampled_from(
    [
        "x",
        "x",
        "x",
        "beta",
        "alpha",
        "e",
        "E",
        "pi",
        "nan",
        "oo",
        "zoo",
        "inf",
        "training",
        "eval",
        "cuda",
        "lambda",
        "t0",
        "y",
    ]
)


def _calls(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unary = [n for n, (arity, _) in FUNCTIONS.items() if arity == 1]
    return st.one_of(
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(unary), children),
        st.builds(
            lambda op, a, b: f"({a}){op}({b})", st.sampled_from(["+", "-", "*", "/", "**", "^"]), children, children
        ),
        st.builds(
            lambda f, args: f"{f}({', '.join(args)})",
            st.sampled_from(["Max", "Min"]),
            st.lists(children, min_size=1, max_size=40),
        ),
        st.builds(lambda a: f"-{a}", children),
    )


formulas = st.recursive(st.one_of(literals, names), _calls, max_leaves=30)


def _values(module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and gradients at the probe points, in float64."""
    x = PROBE.clone().requires_grad_()
    y = module.double()(x)
    y.sum().backward()
    return y.detach(), x.grad


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    both_nan = torch.isnan(a) & torch.isnan(b)
    close = torch.isclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)
    return bool((close | both_nan).all())


@fixed(150)
@given(formulas)
def test_every_formula_is_refused_in_one_line_or_round_trips_through_every_export(tmp_path, text):
    start = time.perf_counter()
    try:
        expr = parse(text)
    except FormulaError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert time.perf_counter() - start < 2
        return
    formula = to_formula(expr)
    params = {name: 0.7 for name in sorted(s.name for s in expr.free_symbols if s.name != "x")}
    for fmt, export in EXPORTERS.items():
        export(tmp_path / f"a.{fmt}", formula, params, {n: [0.5, 1.5] for n in params})
    reference = _values(compile_activation(expr, params))
    record = json.loads((tmp_path / "a.json").read_text())
    for reloaded in (load_activation(tmp_path / "a.module"), compile_activation(record["formula"], record["params"])):
        for mine, theirs in zip(_values(reloaded), reference):
            assert _same(mine, theirs), (formula, mine, theirs)
    assert time.perf_counter() - start < 20, f"{formula}: {time.perf_counter() - start:.1f} s"


numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
OPTIONS = [
    "population",
    "offspring",
    "generations",
    "epochs",
    "workers",
    "timeout",
    "hurdle_ratio",
    "seed",
    "evaluations_per_hash",
    "stability_depth",
    "stability_width",
    "batch_size",
    "lr",
    "epoch_scale",
    "gpus_per_job",
    "tournament",
    "fingerprint_bits",
    "max_nonfinite",
]


@fixed(300)
@given(st.dictionaries(st.sampled_from(OPTIONS), numbers, min_size=1, max_size=4))
def test_numeric_settings_give_a_config_or_a_one_line_error(settings_):
    start = time.perf_counter()
    try:
        config = make_config("tiny", **settings_)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        stored = json.dumps(config.to_dict(), allow_nan=False)  # what is accepted is stored as valid JSON
        assert type(config).from_dict(json.loads(stored)) == config
    assert time.perf_counter() - start < 1


@pytest.fixture(scope="module")
def run_dir(small_run):
    return small_run


json_values = st.recursive(
    st.one_of(numbers, st.text(max_size=8)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)),
    max_leaves=8,
)


def _cli_ends_cleanly(args: list[str]) -> None:
    start = time.perf_counter()
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
        result.output,
    )
    if result.exit_code != 0:
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert result.exit_code in (1, 2) and len(errors) == 1, result.output
    assert time.perf_counter() - start < 30


@fixed(60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["config", "evolution", "training", "screening", "search_space"]),
            st.sampled_from(
                [
                    "seed",
                    "population",
                    "timeout",
                    "tasks",
                    "text",
                    "address",
                    "stability_depth",
                    "budget",
                    "epochs",
                    "space",
                    "mode",
                    "score",
                ]
            ),
            json_values,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_a_tampered_config_json_ends_in_one_line(run_dir, edits):
    tmp_path = Path(tempfile.mkdtemp())
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    stored = json.loads((run / "config.json").read_text())
    for part, key, value in edits:
        target = stored.get(part) if part in ("config", "search_space") else stored["config"].get(part)
        if isinstance(target, dict):
            target[key] = value
        else:
            stored[part] = value
    (run / "config.json").write_text(json.dumps(stored))
    for args in (
        ["show", str(run)],
        ["show", str(run), "--json"],
        ["report", str(run), "-o", str(tmp_path / "r.html")],
        ["export", str(run), "2", "-o", str(tmp_path / "a.py")],
    ):
        _cli_ends_cleanly(args)


@fixed(40)
@given(
    st.sampled_from(["config.json", "candidates.db", f"{CHECKPOINT_DIR}/gen-00000.json"]),
    st.integers(0, 4000),
    st.binary(max_size=64),
)
def test_damaged_run_files_end_in_one_line(run_dir, name, at, junk):
    tmp_path = Path(tempfile.mkdtemp())
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    data = (run / name).read_bytes()
    (run / name).write_bytes(data[:at] + junk + data[at + len(junk) :])
    for args in (["show", str(run)], ["runs", str(tmp_path)], ["export", str(run), "2", "-o", str(tmp_path / "a.py")]):
        _cli_ends_cleanly(args)


@fixed(40)
@given(
    st.sampled_from(["state", "schema_version", "started_at", "ray_address", "mode", "finished_at"]),
    st.one_of(json_values.map(json.dumps), st.text(max_size=10)),
)
def test_a_tampered_meta_table_ends_in_one_line(run_dir, key, value):
    tmp_path = Path(tempfile.mkdtemp())
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    with sqlite3.connect(run / "candidates.db") as conn:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
    for args in (["show", str(run)], ["show", str(run), "--json"], ["runs", str(tmp_path)]):
        _cli_ends_cleanly(args)


def _accepted(text: str, has: type) -> bool:
    try:
        return parse(text).has(has)
    except FormulaError:
        return False


@pytest.mark.parametrize("kind", [sp.Max, sp.Pow, sp.Symbol, sp.exp])
def test_the_fuzzed_grammar_reaches_accepted_formulas_of_each_kind(kind):
    """Not vacuous: the strategy makes formulas that are accepted and hold Max/Min, powers, constants and exp."""
    assert _accepted(
        find(formulas, lambda t: _accepted(t, kind), settings=settings(derandomize=True, database=None)), kind
    )
