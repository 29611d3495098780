import json

from click.testing import CliRunner

import evoact.formula
from evoact.cli import main


def test_inspect_parses_the_formula_it_is_given_once(monkeypatch):
    texts = []
    parse = evoact.formula.parse
    monkeypatch.setattr(evoact.formula, "parse", lambda text, *a, **k: texts.append(text) or parse(text, *a, **k))
    for module in ("evoact.cli", "evoact.inspection", "evoact.properties", "evoact.catalog", "evoact.plotting"):
        monkeypatch.setattr(f"{module}.parse", evoact.formula.parse, raising=False)
    shown = CliRunner().invoke(main, ["inspect", "--expr", "x*tanh(beta*x) + x/10", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["formula"] == "x*tanh(beta*x) + x/10"
    assert texts.count("x*tanh(beta*x) + x/10") == 1
