"""Property-based: no text, however hostile, executes code, hangs or exhausts memory in the parser or the CLI."""

import re
import time
import tracemalloc

import pytest
import sympy as sp
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evoact.cli import main
from evoact.formula import FormulaError, parse, to_formula

TOKENS = [
    "x",
    "beta",
    "(",
    ")",
    "+",
    "-",
    "*",
    "/",
    "**",
    "^",
    ",",
    ".",
    "0",
    "1",
    "9",
    "1e5",
    "1e308",
    "e",
    "E",
    "pi",
    "exp",
    "log",
    "sin",
    "Max",
    "sigmoid",
    "relu",
    "abs",
    "_",
    "__",
    "__class__",
    "__import__",
    "lambda",
    "import",
    "os",
    "open",
    "eval",
    "f'",
    "'",
    '"',
    "{",
    "}",
    "[",
    "]",
    ":",
    ";",
    "=",
    "!",
    "@",
    "\\",
    "\x00",
    "\u0445",
    "\u2212",
    " ",
    "\n",
    "\t",
    "#",
    "`",
    "$",
]
hostile = st.one_of(st.lists(st.sampled_from(TOKENS), max_size=200).map("".join), st.text(max_size=300))


def canary_payloads(canary: str) -> list[str]:
    return [
        f"__import__('os').system('touch {canary}')",
        f"open('{canary}', 'w')",
        f"(lambda: open('{canary}', 'w'))()",
        f"f\"{{open('{canary}', 'w')}}\"",
        f"x.__class__.__init__.__globals__['os'].system('touch {canary}')",
        f"exec(\"open('{canary}','w')\")",
        f'eval(\'open("{canary}","w")\')',
        f"import os; os.system('touch {canary}')",
        "x" + "**(10**10)",
        "(" * 10000 + "x" + ")" * 10000,
        "9" * 5000,
        "exp(" * 40 + "x" + ")" * 40,
    ]


def _bounded_parse(text: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = parse(text)
        assert isinstance(result, sp.Expr)
    except FormulaError as exc:
        assert str(exc) and "\n" not in str(exc)
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 1.0, f"{text[:60]!r} took {elapsed:.2f} s"
    assert peak < 64 * 2**20, f"{text[:60]!r} used {peak / 2**20:.0f} MiB"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
@example("x" + "**x" * 600)
@example("Max(" * 500 + "x" + ")" * 500)
def test_parser_answers_any_text_quickly_with_an_expression_or_a_clear_error(text):
    _bounded_parse(text)


def test_code_in_formulas_never_runs(tmp_path):
    canary = tmp_path / "CANARY"
    for text in canary_payloads(str(canary)):
        _bounded_parse(text)
    assert not canary.exists()


@settings(max_examples=60, deadline=None)
@given(hostile)
def test_inspect_expr_gives_a_description_or_a_one_line_error(text):
    result = CliRunner().invoke(main, ["inspect", "--expr", text, "--json"])
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.output.startswith("Error: invalid formula: ")
        assert result.output.count("\n") == 1


def _inspected_safely(proc, canary) -> None:
    """An error is one clear line; a valid formula (an exp chain of x) is described; no payload ran."""
    if proc.returncode != 0:
        assert (
            proc.returncode == 1 and proc.stderr.startswith("Error: invalid formula:") and proc.stderr.count("\n") == 1
        )
    else:
        assert "formula" in proc.stdout
    assert not canary.exists()


def test_inspect_expr_never_runs_code(cli, tmp_path):
    canary = tmp_path / "CANARY"
    for payload in canary_payloads(str(canary)):
        _inspected_safely(cli("inspect", "--expr", payload, check=False), canary)


@pytest.mark.parametrize("index", [0, len(canary_payloads("C")) - 1])  # a shell command; the valid exp chain
def test_inspect_expr_in_a_real_process_never_runs_code(run_cli, tmp_path, index):
    canary = tmp_path / "CANARY"
    _inspected_safely(run_cli("inspect", "--expr", canary_payloads(str(canary))[index], check=False), canary)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("0.1234567890123456789012345678901*x", "more than 30 significant digits"),
        ("1e400*x", "larger than 1e+30"),
        ("1e-400*x", "smaller than 1e-30"),
        ("1e-31*x", "smaller than 1e-30"),
        ("1e31*x", "larger than 1e+30"),
        ("1000000**6*x", "magnitude at most 1e+30"),
        ("Max(" + ", ".join(["x"] * 9) + ")", "Max has 9 arguments; the limit is 8"),
        ("x**x**x**x**x", "stacks 4 powers with exponents in x; the limit is 3"),
        ("x**(2**x**x**x)", "stacks 4 powers"),
        ("nan*x", "'nan' is not allowed"),
        ("x + oo", "'oo' is not allowed"),
        ("zoo", "'zoo' is not allowed"),
        ("inf", "'inf' is not allowed"),
    ],
)
def test_formulas_that_would_cost_without_bound_are_refused_at_parse_time(text, problem):
    start = time.perf_counter()
    with pytest.raises(FormulaError, match=re.escape(problem)):
        parse(text)
    assert time.perf_counter() - start < 1


def test_e_is_eulers_number_and_whatever_is_accepted_parses_again_from_its_canonical_form():
    assert parse("e*x") == parse("E*x") == sp.E * parse("x") and not parse("e*x").free_symbols - {parse("x")}
    for text in ["2101401974710961*Max(0, x)/2000000000000000", "518*1931*x", "x*exp(x - 28)", "Max(0, x)**2"]:
        assert to_formula(parse(to_formula(parse(text)))) == to_formula(parse(text))
