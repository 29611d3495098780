"""The README's Python API example and its runs commands, run as a user would run them (a tiny budget)."""

import json
import re
import shlex
import subprocess
import sys


def _block(readme: str, marker: str) -> str:
    """The fenced code block that follows ``<!-- marker -->`` in the README."""
    match = re.search(rf"<!-- {marker} -->\s*```(?:python|bash)\n(.*?)```", readme, re.S)
    assert match, f"the README has no block marked {marker}"
    return match.group(1)


def test_the_readme_python_api_example_and_runs_commands_work(repo_root, tmp_path):
    readme = (repo_root / "README.md").read_text()
    for _ in range(2):  # a second time opens the runs the first made
        proc = subprocess.run(
            [sys.executable, "-c", _block(readme, "api-example")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "my_act.py").is_file() and (tmp_path / "runs" / "api-demo" / "candidates.db").is_file()
    printed = proc.stdout.splitlines()
    assert printed[0].startswith("best: #") and any(line.startswith("on mnist1d-mlp:") for line in printed), proc.stdout
    commands = [line.split("  #")[0].split() for line in _block(readme, "runs-example").splitlines()]
    for command in filter(None, commands):
        assert command[0] == "evoact"
        run = subprocess.run(
            [sys.executable, "-m", "evoact.cli", *command[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, (command, run.stderr)
        if command[1] == "runs" and "--json" in command:
            assert [r["name"] for r in json.loads(run.stdout)] == ["api-demo", "api-demo-2"]


def test_the_readme_budget_table_is_what_the_code_runs(repo_root):
    from evoact.config import BUDGETS

    readme = (repo_root / "README.md").read_text()
    rows = {
        m.group(1): m.groups()[1:]
        for m in re.finditer(
            r"^\| `(\w+)` \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) x[^|]*\| (off|\d+, \d+) \|", readme, re.M
        )
    }
    assert set(rows) == set(BUDGETS)
    for name, (population, offspring, generations, evaluations, scale, race) in rows.items():
        b = BUDGETS[name]
        assert race == ("off" if b["race_top"] == 0 else f"{b['race_top']}, {b['race_seeds']}")
        assert (int(population), int(offspring), int(generations), float(scale)) == (
            b["population"],
            b["offspring"],
            b["generations"],
            b["epoch_scale"],
        )
        assert int(evaluations) == b["population"] + b["offspring"] * (b["generations"] - 1)  # what a run evaluates


def test_the_readme_glu_example_trains_a_gated_block_with_an_exported_gate(repo_root, tmp_path):
    readme = (repo_root / "README.md").read_text()
    export = shlex.split(_block(readme, "glu-export"), comments=True)
    assert export[:2] == ["evoact", "export"]
    subprocess.run([sys.executable, "-m", "evoact.cli", *export[1:]], cwd=tmp_path, check=True)
    proc = subprocess.run(
        [sys.executable, "-c", _block(readme, "glu-example")], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, last = (float(line.rsplit(" ", 1)[1]) for line in proc.stdout.splitlines())
    assert last < 0.5 * first  # the gated block learned with the exported gate
