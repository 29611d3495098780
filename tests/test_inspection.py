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


def test_inspecting_a_run_candidate_gives_its_outcome_and_both_sizes(small_run):
    shown = CliRunner().invoke(main, ["inspect", str(small_run), "2", "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert (info["id"], info["status"], info["fitness"], info["genome"]) == (2, "ok", 0.9, "mul(x, tanh(x))")
    assert info["metrics"] == {"mnist1d-cnn": "accuracy"} and info["scores"] == {}  # its result names no task
    assert (info["nodes"], info["tree_nodes"]) == (4, 4)  # x*tanh(x): the formula's nodes, the genome tree's
    assert info["baselines"] == {"relu": 0.8}


def test_inspecting_a_run_candidate_prints_a_line_per_task_not_its_curves_or_empty_fields(small_run, tmp_path):
    import shutil

    from evoact.store import RunStore

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    store = RunStore.reopen(run)
    cid = store.add_candidate("x*sigmoid(x)", "random", genome="mul(x, sigmoid(x))", generation=0, nodes=4)
    curve = [1.5, 1.25, 1.125]
    score = {"val_acc": 0.91, "test_acc": 0.875, "val_loss": 1.125, "curve": curve}
    store.record_result(cid, {"status": "ok", "fitness": 0.91, "scores": {"mnist1d-cnn": score}})
    store.close()
    shown = CliRunner().invoke(main, ["inspect", str(run), str(cid)])
    assert shown.exit_code == 0, shown.output
    assert '"mnist1d-cnn": "val acc 0.91 test acc 0.875"' in shown.output
    assert "1.25" not in shown.output  # the curve is --json's
    assert not any(line.split()[-1] == "None" for line in shown.output.splitlines() if line.strip())
    sizes = [" ".join(line.split()) for line in shown.output.splitlines() if line.split()[1:2] == ["nodes"]]
    assert sizes == [  # which size is which, said (show's column: the tree's)
        "formula nodes 10 (of the formula as written here)",
        "tree nodes 4 (of the tree the search built, as show counts)",
    ]
    full = json.loads(CliRunner().invoke(main, ["inspect", str(run), str(cid), "--json"]).output)
    assert full["scores"]["mnist1d-cnn"]["curve"] == curve and full["error"] is None
