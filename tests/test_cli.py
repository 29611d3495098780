"""End to end through the real console script: a tiny real search, show, export, and bad input."""

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import edited_copy

import evoact
from evoact.cli import main
from evoact.config import make_config
from evoact.genome import load_search_space
from evoact.store import RunStore


def test_tiny_search_then_show_and_export(run_cli, cli, tmp_path):
    """The real console script searches, shows and exports; the other commands on its run go in this process."""
    out = run_cli("search", "--budget", "tiny", "--seed", "1", "--name", "e2e", "--workers", "2")
    assert "runs/e2e" in out.stdout and "baseline relu" in out.stdout
    nexts = [line for line in out.stdout.splitlines() if line.startswith("next: evoact show runs/e2e")]
    assert nexts and nexts[0].endswith("evoact runs runs")  # commands to copy stay on one line, however long
    assert "[gen 1 of 0-1]" in out.stderr and "ETA" in out.stderr  # plain progress lines when not a terminal
    assert "[baselines] baseline 4/4 " in out.stderr and " 10/10 #" in out.stderr  # tiny: 6 + 4 evaluations
    store = RunStore.open(tmp_path / "runs" / "e2e")
    lines = [line for line in out.stderr.splitlines() if line.startswith("[")]
    counts = store.counts()  # as show counts them: those screened out before training too
    assert f"| rejected {counts['rejected']} | failed {counts['failed']} |" in lines[-1]  # rejections add up
    done = [line.split("]")[1].split()[0] for line in lines if "screened out" not in line.split(" | ")[0]]
    assert done[-1] == "10/10" and done.count("baseline") == 4  # 6 + 4 evaluations: the budget; baselines apart
    assert all(len(line) <= 200 for line in lines) and all(
        "…" in line or len(line.split(" | ")[0]) < 120 for line in lines
    )
    store.close()

    shown = json.loads(run_cli("show", "runs/e2e", "--json").stdout)
    assert shown["state"] == "finished" and shown["counts"]["pending"] == 0
    assert sum(shown["counts"].values()) == shown["cascade"]["proposed"] + 4
    assert shown["cascade"]["proposed"] >= 6 + 4 and "train_seconds_saved" in shown["cascade"]
    fitness = [r["fitness"] for r in shown["ranking"]]
    assert fitness == sorted(fitness, reverse=True) and [r["rank"] for r in shown["ranking"]] == list(
        range(1, len(fitness) + 1)
    )
    assert {b["label"] for b in shown["baselines"]} == {"relu", "gelu", "silu", "tanh"}
    listed = json.loads(cli("runs", "runs", "--json").stdout)
    proposed = shown["cascade"]["proposed"]
    assert [r["candidates"] for r in listed] == [proposed]  # `runs` and `show` count alike
    assert f"candidates: {proposed} proposed and 4 baselines; pending 0, ok " in cli("show", "runs/e2e").stdout

    best = next(r for r in shown["ranking"] if r["label"] is None)
    assert "wrote runs/e2e/report.html" in cli("report", "runs/e2e").stdout  # beside the run, unless -o says
    assert (tmp_path / "runs" / "e2e" / "report.html").read_text().startswith("<!doctype html>")
    run_cli("export", "runs/e2e", str(best["id"]), "-o", "best.py")
    code = (
        "import importlib.util,sys,torch;sys.modules['evoact']=None;"
        "s=importlib.util.spec_from_file_location('m',sys.argv[1]);m=importlib.util.module_from_spec(s);"
        "s.loader.exec_module(m);print(m.FORMULA);print(m.Activation()(torch.randn(2,3)).shape)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "best.py")], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.splitlines() == [best["formula"], "torch.Size([2, 3])"]
    top = cli("export", "runs/e2e", "-o", "top.py")  # RUN alone: its best, as `show` ranks it
    assert (tmp_path / "top.py").read_text() == (tmp_path / "best.py").read_text()
    verdict = shown["verdict"] or {}
    assert ("note: " in top.stderr) == bool(verdict.get("note"))  # the run's own verdict on it, if it has one
    again = cli("export", "runs/e2e", "-o", "top.py", check=False)  # refused before its notes are printed
    assert again.returncode == 1 and "top.py exists" in again.stderr and "note: " not in again.stderr

    refused = cli("search", "--budget", "tiny", "--name", "e2e", check=False)
    assert refused.returncode != 0 and "already holds a run" in refused.stderr
    assert "evoact: evolution over" not in refused.stdout  # refused before it is announced
    refused = cli("resume", "runs/e2e", check=False)
    assert refused.returncode == 1 and "runs/e2e already finished; there is nothing to resume" in refused.stderr
    assert "resuming" not in refused.stdout  # refused before it is announced
    assert json.loads(cli("show", "runs/e2e", "--json").stdout)["counts"] == shown["counts"]  # nothing lost
    with sqlite3.connect(tmp_path / "runs" / "e2e" / "candidates.db") as db:  # unfinished, as a killed run is
        db.execute("UPDATE meta SET value = '\"running\"' WHERE key = 'state'")
    writer = RunStore.reopen(tmp_path / "runs" / "e2e")  # and its search running in another process
    try:
        refused = cli("resume", "runs/e2e", check=False)
    finally:
        writer.close()
    assert refused.returncode == 1 and "runs/e2e is being written by another evoact process" in refused.stderr
    assert "resuming" not in refused.stdout  # refused before it is announced


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "runs/none"], "runs/none: no such run directory"),
        (["show", "runs/none", "--top", "0"], "--top must be at least 1"),
        (["runs", "nope"], "nope: no such folder"),
        (["compare", "runs/a", "runs/b", "--top", "1000"], "--top must be at most 100"),
        (["search", "--space", "nonexistent"], "unknown search space"),
        (["search", "--space", "broken.toml"], "broken.toml: no such search-space file"),
        (["search", "--task", "imagenet"], "unknown task 'imagenet'"),
        (["search", "--task", "mnist1d-mpl"], "unknown task 'mnist1d-mpl'; did you mean 'mnist1d-mlp'?"),
        (["search", "--task", "wine.py"], "task 'wine.py': name the function in it too, FILE.py:FUNCTION"),
        (["search", "--task", "two.py"], "FILE.py:FUNCTION (two.py:net); it defines net, build with a make_activation"),
        (["search", "--runs-dir", "runs/made"], "runs folder runs/made: a run, not a folder of runs (give its parent"),
        (["show", "."], ".: not an evoact run directory (no candidates.db); it holds runs: evoact runs . lists them"),
        (["show", "made"], "made: no such run directory (did you mean runs/made?)"),
        (["show", "notes.txt"], "notes.txt: a file, not a run directory"),
        (["search", "--population", "0"], "--population must be at least 1"),
        (["search", "--surrogate", "1.5"], "--surrogate must be at most 1, got 1.5"),
        (["search", "--patience", "0"], "--patience must be at least 1, got 0"),
        (["search", "--target-fitness", "nan"], "--target-fitness must be a finite number, got nan"),
        (["inspect", "--expr", "x +"], "invalid formula: position 3: formula ends too early"),
        (["inspect"], "give either RUN [ID] or --expr FORMULA"),
        (["export", "--expr", "import os", "-o", "a.py"], "invalid formula: position 0: unknown name 'import'"),
        (["export", "--expr", "x*beta", "--param", "beta", "-o", "a.py"], "expected NAME=VALUE"),
        (
            ["export", "--expr", "x*beta", "--param", "beta=1", "--param", "beta=2", "-o", "a.py"],
            "--param 'beta=2': beta was given a value already; give each constant once",
        ),
        (["export", "runs/none", "3", "-o", "a.py"], "runs/none: no such run directory"),
        (["export", "--expr", "x", "--format", "pdf", "-o", "a.pdf"], "Invalid value for '--format'"),
        (["export", "--expr", "2*sigmoid(y)", "-o", "a.py"], "--expr '2*sigmoid(y)': no x in it (a constant function)"),
        (["plot", "--expr", "x", "--range", "1", "0", "-o", "p.png"], "--range 1 0: the start must be below the end"),
        (["plot", "--expr", "x", "--range", "-1e308", "1e308", "-o", "p.png"], "give finite numbers within ±10000"),
        (["plot", "--expr", "x", "--range", "nan", "1", "-o", "p.png"], "--range nan 1: give finite numbers"),
        (["report", "runs/none", "-o", "r.html"], "runs/none: no such run directory"),
        (["report", "runs/none", "--top", "-1"], "--top must be at least 1, got -1"),
        (["export", "--expr", "x", "-o", "missing/a.py"], "missing: no such folder"),
        (["plot", "--expr", "x", "-o", "missing/p.png"], "missing: no such folder"),
        (["plot", "--expr", "x", "-o", "p.tiff"], "p.tiff: a plot is written as .png, .svg, .pdf, .jpg, .jpeg; end"),
        (["inspect", "--expr", "x", "--plot", "p"], "p: a plot is written as .png, .svg, .pdf, .jpg, .jpeg; end the"),
        (["export", "--expr", "x", "-o", "newdir/"], "newdir/: a folder's name; give a file name"),
        (["resume", "runs/none"], "runs/none: no such run directory"),
        (
            ["resume", "runs/none", "--workers", "4"],
            "No such option '--workers': resume takes the run's settings from its config.json, where workers may be",
        ),
        (["search", "--task", "mnist1d-cnn", "--weights", "1,x"], "--weights '1,x': expected comma-separated numbers"),
        (["search", "--task", "mnist1d-cnn", "--weights", "1,2"], "give one finite non-negative weight per task (1)"),
        (["search", "--complexity"], "the complexity objective needs --selection pareto"),
        (["search", "--name", "../escape"], "run name '../escape': a run's name is one folder's name"),
        (["search", "--name", "a/b"], "run name 'a/b': a run's name is one folder's name"),
        (["search", "--race", "3,0"], "--race 3,0: N must be at least 1, got 0"),
        (["search", "--runs-dir", "notes.txt"], "runs folder notes.txt: a file, not a folder"),
        (["search", "--race", "3,1"], "--race 3,1: N must be at least 2 to race (every candidate trains on 1 seed)"),
        (["search", "--guess", "x*erf(2*x)", "--task", "imagenet"], "unknown task 'imagenet'"),  # the guess passes
        (
            ["search", "--task", "mnist1d-cnn", "--task", "digits-cnn", "--weights", "1,nan"],
            "give one finite non-negative weight",
        ),
        (
            ["search", "--task", "mnist1d-cnn", "--task", "digits-cnn", "--weights", "2,1", "--aggregate", "worst"],
            "--aggregate worst would ignore them",
        ),
        (["search", "--task", "digits-cnn", "--task", "digits-cnn"], "tasks must be one or more distinct task names"),
        (["search", "--task", "cifar10-resnet20"], "cifar10-resnet20 reads CIFAR-10 from disk: pass --data-dir DIR"),
        (["search", "--task", "cifar10-resnet20", "--data-dir", "nowhere"], "nowhere: no such folder"),
        (["search", "--task", "cifar10-resnet20", "--data-dir", "."], "not CIFAR-10 in torchvision's layout"),
        (["search", "--task", "no_module_here:f"], "cannot import no_module_here"),
        (["confirm", "runs/none"], "runs/none: no such run directory"),
        (["search", "--warm-start", "runs/none"], "--warm-start: runs/none: no such run directory"),
    ],
)
@pytest.mark.own_ray  # Ray must not be up before or after
def test_bad_input_gets_a_one_line_error(tmp_path, monkeypatch, small_run, args, message):
    """In this process (the console script's own entry point, without a process start per case); the real process
    is checked below."""
    monkeypatch.chdir(tmp_path)
    if args in (["show", "made"], ["show", "."]) or "runs/made" in args:  # a run where a hurried user looks beside it
        shutil.copytree(small_run, tmp_path / "runs" / "made")
        monkeypatch.chdir(tmp_path / "runs" if args[1] == "." else tmp_path)
    (tmp_path / "notes.txt").write_text("not a run")
    (tmp_path / "two.py").write_text(  # a helper that builds, then the task: the task is the one to name
        "def build(make_activation):\n    pass\n\ndef net(make_activation, seed, epochs):\n    pass\n"
    )
    result = CliRunner().invoke(main, args)
    assert result.exit_code not in (0, None) and not isinstance(result.exception, AssertionError)
    _assert_one_line_error(result.stdout, result.stderr, message)
    ray = sys.modules.get("ray")  # looked up, not imported: this test starts nothing
    assert ray is None or not ray.is_initialized()  # refused before any worker started


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "runs/none"], "runs/none: no such run directory"),
        (["search", "--space", "nonexistent"], "unknown search space"),
    ],
)
def test_bad_input_in_a_real_process_exits_non_zero_with_one_line(run_cli, args, message):
    proc = run_cli(*args, check=False)
    assert proc.returncode != 0
    _assert_one_line_error(proc.stdout, proc.stderr, message)


def _assert_one_line_error(stdout: str, stderr: str, message: str) -> None:
    error_lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and message in error_lines[0], stderr
    if message.startswith(
        ("unknown", "give", "population", "tasks must", "cifar10", "not CIFAR", "runs/none", "--warm")
    ):
        assert " into " not in stdout and "resuming" not in stdout  # refused before a run is announced


@pytest.mark.slow
def test_multi_task_pareto_search_shows_its_front(run_cli, tmp_path):
    out = run_cli(
        "search",
        "--budget",
        "tiny",
        "--task",
        "mnist1d-mlp",
        "--task",
        "digits-cnn",
        "--selection",
        "pareto",
        "--complexity",
        "--replacement",
        "truncation",
        "--generations",
        "2",
        "--name",
        "mo",
    )
    assert "Pareto front" in out.stdout
    shown = json.loads(run_cli("show", "runs/mo", "--json", "--top", "100").stdout)
    baselines = [b for b in shown["baselines"] if b["status"] == "ok"]
    for task in ("mnist1d-mlp", "digits-cnn"):  # the best baseline on each task is the reference: score 1.0
        best = max(b["scores"][task]["val_acc"] for b in baselines)
        assert all(b["fitness"] <= 1.0 for b in baselines) and best > 0
    evolved = [r for r in shown["ranking"] if r["label"] is None and r["scores"]]
    refs = {t: max(b["scores"][t]["val_acc"] for b in baselines) for t in ("mnist1d-mlp", "digits-cnn")}

    def point(r):
        return (
            r["scores"]["mnist1d-mlp"]["val_acc"] / refs["mnist1d-mlp"],
            r["scores"]["digits-cnn"]["val_acc"] / refs["digits-cnn"],
            -r["nodes"],
        )

    def dominated(a, b):
        return all(x <= y for x, y in zip(a, b)) and a != b

    front = {r["id"] for r in shown["pareto_front"]}
    assert front == {r["id"] for r in evolved if not any(dominated(point(r), point(o)) for o in evolved)} and front
    assert all(r["fitness"] == pytest.approx(sum(point(r)[:2]) / 2) for r in evolved)
    run_cli("report", "runs/mo", "-o", "mo.html")  # the report and the dashboard's run page show the same front
    section = (tmp_path / "mo.html").read_text().split("<h2 id='pareto'>", 1)[1].split("<h2", 1)[0]
    assert {int(i) for i in re.findall(r"<tr><td>(\d+)</td>", section)} == front


def test_tasks_lists_the_built_in_tasks(run_cli):
    out = run_cli("tasks").stdout
    assert all(name in out for name in ("mnist1d-cnn", "mnist1d-mlp", "digits-cnn", "cifar10-resnet20"))
    row = next(line for line in out.splitlines() if "mnist1d-mlp " in line)
    assert [c.strip() for c in row.split("│")[1:5]] == ["mnist1d-mlp", "-", "accuracy", "25"]  # its quick length
    assert "which the others scale (tiny 0.1, standard 2, thorough 4)" in " ".join(out.split())


@pytest.mark.slow
def test_random_search_on_the_paper_space(run_cli, tmp_path):
    run_cli(
        "search",
        "--budget",
        "tiny",
        "--task",
        "mnist1d-mlp",
        "--space",
        "ramachandran2017",
        "--name",
        "paper",
        "--generations",
        "2",
        "--algorithm",
        "random",
    )
    shown = json.loads(run_cli("show", "runs/paper", "--json", "--status", "ok").stdout)
    assert shown["config"]["space"] == "ramachandran2017" and shown["config"]["algorithm"] == "random"
    evolved = [r for r in RunStore.open(tmp_path / "runs" / "paper").candidates() if not r.label]
    assert {r.generation for r in evolved} == {0, 1} and {r.origin for r in evolved} <= {"seed", "random"}
    assert any("beta" in r["formula"] for r in shown["candidates"] if not r["label"])


def test_inspect_and_export_a_formula(run_cli, cli, tmp_path):
    info = json.loads(run_cli("inspect", "--expr", "x*sigmoid(beta*x)", "--json").stdout)  # a real process's stdout
    assert info["formula"] == "x/(1 + exp(-beta*x))" and info["constants"] == ["beta"] and "beta" in info["latex"]
    cli("export", "--expr", "swish(x)", "-o", "swish.py")
    assert "FORMULA = 'x/(1 + exp(-x))'" in (tmp_path / "swish.py").read_text()
    refused = cli("export", "--expr", "mish(x)", "-o", "swish.py", check=False)  # a user's file is never overwritten
    assert refused.returncode == 1 and "swish.py exists; nothing was written" in refused.stderr
    assert "FORMULA = 'x/(1 + exp(-x))'" in (tmp_path / "swish.py").read_text()
    cli("export", "--expr", "mish(x)", "-o", "swish.py", "--force")
    assert "FORMULA = 'x*tanh(log(exp(x) + 1))'" in (tmp_path / "swish.py").read_text()
    mish = json.loads(cli("inspect", "--expr", "x*tanh(log(1 + exp(x)))", "--json", "--plot", "mish.png").stdout)
    assert mish["nearest_known"][0]["name"] == "Mish" and mish["nearest_known"][0]["rediscovery"]
    assert mish["properties"]["monotonic"] == {"value": False, "how": "numeric"}
    assert (tmp_path / "mish.png").read_bytes().startswith(b"\x89PNG")
    shown = cli("inspect", "--expr", "x*sigmoid(b*x)", "--param", "b=1.702").stdout
    assert "rediscovery" in shown and "GELU" in shown and "Lipschitz" in shown
    cli("plot", "--expr", "x*sigmoid(x)", "--range", "-8", "8", "-o", "silu.png")
    assert (tmp_path / "silu.png").read_bytes().startswith(b"\x89PNG")
    for name, magic in (("silu.svg", b"<?xml"), ("silu.PDF", b"%PDF"), ("silu.jpg", b"\xff\xd8")):  # were all PNG
        cli("plot", "--expr", "x*sigmoid(x)", "-o", name)
        assert (tmp_path / name).read_bytes().startswith(magic)
    cli("export", "--expr", "gelu(x)", "--format", "latex", "-o", "gelu.tex")
    assert "\\operatorname{erf}" in (tmp_path / "gelu.tex").read_text()


def _stop_cluster(port: int) -> None:
    """Stop the processes of the cluster on ``port`` only: `ray stop` would also kill any other Ray on the machine."""
    import psutil

    marks = (f"127.0.0.1:{port}", f"--gcs_server_port={port}")
    procs = [p for p in psutil.process_iter(["cmdline"]) if any(m in " ".join(p.info["cmdline"] or []) for m in marks)]
    for p in procs:
        p.terminate()
    for p in psutil.wait_procs(procs, timeout=30)[1]:
        p.kill()


@pytest.mark.slow
def test_search_on_an_existing_ray_cluster(run_cli, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
    }
    start = [
        "ray",
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:  # a driver uses the cluster's authentication mode
        run_cli(
            "search",
            "--budget",
            "tiny",
            "--task",
            "mnist1d-mlp",
            "--generations",
            "1",
            "--name",
            "cluster",
            "--address",
            f"127.0.0.1:{port}",
            env={"RAY_AUTH_MODE": "token"},
        )
        run_cli(
            "search", "--budget", "tiny", "--task", "mnist1d-mlp", "--generations", "1", "--name", "private"
        )  # not this cluster
    finally:
        _stop_cluster(port)
    shown = json.loads(run_cli("show", "runs/cluster", "--json").stdout)
    store = RunStore.open(tmp_path / "runs" / "cluster")
    assert store.meta()["ray_address"] == f"127.0.0.1:{port}"  # the cluster's workers, not a private local Ray
    private = RunStore.open(tmp_path / "runs" / "private").meta()["ray_address"]
    assert private.startswith("127.0.0.1:") and private != f"127.0.0.1:{port}"
    assert shown["state"] == "finished" and shown["counts"]["ok"] >= 4 + 1 and shown["counts"]["pending"] == 0


@pytest.mark.slow
def test_a_runs_stored_ray_address_and_data_dir_are_never_used_on_their_own(run_cli, tmp_path):
    run_cli("search", "--budget", "tiny", "--task", "mnist1d-mlp", "--generations", "1", "--name", "shared")
    with socket.socket() as listener:  # the cluster a tampered run points to: it must never be contacted
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        config_file = tmp_path / "runs" / "shared" / "config.json"
        stored = json.loads(config_file.read_text())
        stored["config"].update(address=f"127.0.0.1:{listener.getsockname()[1]}", data_dir=str(tmp_path / "elsewhere"))
        config_file.write_text(json.dumps(stored))
        with sqlite3.connect(tmp_path / "runs" / "shared" / "candidates.db") as db:
            db.execute("UPDATE meta SET value = '\"interrupted\"' WHERE key = 'state'")
        env = {"RAY_ADDRESS": ""}
        resumed = run_cli("resume", "runs/shared", env=env)
        confirmed = run_cli(
            "confirm", "runs/shared", "--top", "1", "--seeds", "2", "--epochs", "1", "--task", "mnist1d-mlp", env=env
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    for proc in (resumed, confirmed):
        said = proc.stdout + proc.stderr
        assert (
            "a run's stored address is never contacted on its own" in said and "running on a private local Ray" in said
        )
        assert f"the run read its data from {tmp_path / 'elsewhere'}" in said
    store = RunStore.open(tmp_path / "runs" / "shared")
    assert store.meta()["state"] == "finished" and store.meta()["ray_address"].startswith("127.0.0.1:")
    assert store.meta()["confirmation"]["tasks"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["inspect", "--expr", "x*sigmoid(beta*x)", "--param", "gamma=2"],
            "--param gamma: the formula has no constant 'gamma' (its constants: beta)",
        ),
        (
            ["export", "--expr", "tanh(x)", "--param", "beta=2", "-o", "a.py"],
            "--param beta: the formula has no constant 'beta' (it has no learnable constants)",
        ),
        (
            ["export", "--expr", "x*beta", "--param", "beta=nan", "-o", "a.py"],
            "--param 'beta=nan': param must be a finite number, got nan",
        ),
        (["search", "--suite", "general", "--task", "mnist1d-cnn"], "give --suite or --task, not both"),
    ],
)
def test_nothing_is_silently_accepted(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code not in (0, None) and not isinstance(result.exception, AssertionError)
    _assert_one_line_error(result.stdout, result.stderr, message)


def test_a_free_name_is_shown_as_the_learnable_constant_it_becomes(run_cli, cli, tmp_path):
    for verb in (["inspect", "--expr", "y + x*x"], ["export", "--expr", "y + x*x", "-o", "typo.py"]):
        shown = cli(*verb).stdout
        assert (
            "learnable constants: y = 1 (every name that is neither x nor a function is a learnable constant)" in shown
        )
    assert "RuntimeWarning" not in run_cli("inspect", "--expr", "x**2*exp(x**2/20)").stderr  # no NumPy noise
    assert "RuntimeWarning" not in run_cli("plot", "--expr", "exp(exp(x))", "-o", "p.png").stderr  # real stderr


def test_a_search_that_fails_before_its_first_evaluation_leaves_no_run_directory(run_cli, tmp_path):
    (tmp_path / "bad.toml").write_text('name = "bad"\nseeds = ["tanh(y)"]\n[primitives]\nunary = ["tanh"]\n')
    for args, message in (
        (["--space", "bad.toml"], "seeds[0]"),
        (["--task", "nope"], "unknown task 'nope'"),
        (["--population", "0"], "--population must be at least 1"),
    ):
        refused = run_cli("search", "--budget", "tiny", "--name", "stuck", *args, check=False)
        assert refused.returncode != 0 and message in refused.stderr
        assert not (tmp_path / "runs" / "stuck").exists()
    assert not list(tmp_path.rglob("*stuck*"))  # no directory, lock or file of it anywhere: the name stays free


def test_show_respects_top_for_a_status_and_export_names_a_rejected_candidate(cli, small_run, tmp_path):
    shutil.copytree(small_run, tmp_path / "runs" / "r")
    store = RunStore.reopen(tmp_path / "runs" / "r")
    for formula, stage in (("exp(x)", "stability"), ("sin(x)", "quality")):
        cid = store.add_candidate(formula, "mutation", genome=formula, generation=1, nodes=2)
        store.record_result(cid, {"status": "rejected", "stage": stage, "error": "test: rejected here"})
    rejected = store.candidates("rejected")
    store.close()
    assert len(rejected) == 2
    listed = json.loads(cli("show", "runs/r", "--status", "rejected", "--top", "1", "--json").stdout)["candidates"]
    assert [r["id"] for r in listed] == [rejected[0].id]
    table = cli("show", "runs/r", "--status", "rejected", "--top", "1").stdout
    assert "rejected candidates (first 1)" in table
    header = next(line for line in table.splitlines() if "formula" in line and "┃" in line)
    assert [c.strip() for c in header.split("┃")[1:3]] == ["id", "formula"]  # no rank: the list is in id order
    out = cli("export", "runs/r", str(rejected[0].id), "-o", "rej.py").stdout
    assert (
        f"note: candidate #{rejected[0].id} rejected at {rejected[0].outcome.stage}" in out
        and "it has no fitness" in out
    )


def test_show_names_a_winner_and_nothing_overwrites_a_runs_saved_results(cli, small_run, tmp_path):
    """A run whose best leads beyond the seeds' spread is said to win in words (as the report and --json do); exports
    and reports refuse to write over a run's database or config, even with --force, and a folder's name with a
    trailing separator is not taken for a file's."""
    run = tmp_path / "runs" / "r"
    shutil.copytree(small_run, run)
    store = RunStore.reopen(run)
    mine = next(r for r in store.ranked() if not r.label)
    store.set_raced(mine.id, 0.9, 0.02, 3, 0)
    store.set_raced(next(r.id for r in store.candidates() if r.label == "relu"), 0.8, 0.01, 3, 0)
    store.close()
    shown = " ".join(cli("show", "runs/r").stdout.split())
    assert f"winner: #{mine.id} {mine.formula} leads the best baseline relu by +0.1000 in fitness" in shown
    assert "(0.9000 against 0.8000, more than their seeds' spread, sd 0.0200)" in shown and "note:" not in shown
    assert json.loads(cli("show", "runs/r", "--json").stdout)["verdict"]["wins"]
    saved = {f: (run / f).read_bytes() for f in ("candidates.db", "config.json")}
    (run / "checkpoints").mkdir(exist_ok=True)
    (run / ".writer.lock").touch()
    for args in (
        ["export", "runs/r", "-o", "runs/r/candidates.db", "--force"],
        ["export", "runs/r", "-o", "runs/r/config.json", "--format", "json", "--force"],
        ["export", "runs/r", "-o", "runs/r/.writer.lock", "--force"],  # a second writer would go unseen
        ["export", "runs/r", "-o", "runs/r/checkpoints/gen-00000.json", "--format", "json"],
        ["report", "runs/r", "-o", "runs/r/candidates.db"],
    ):
        refused = cli(*args, check=False)
        assert refused.returncode == 1 and "a run directory's own file; nothing was written" in refused.stderr, args
    (tmp_path / "db.sqlite").write_bytes((run / "candidates.db").read_bytes())  # anyone's database
    refused = cli("export", "runs/r", "-o", "db.sqlite", "--force", check=False)
    assert refused.returncode == 1 and "holds saved results (a database or its log)" in refused.stderr
    for log in ("db.sqlite-wal", "db.sqlite-journal"):  # not there yet: SQLite would delete it at the next opening
        refused = cli("export", "runs/r", "-o", log, "--force", check=False)
        assert refused.returncode == 1 and f"{log}: the name of a database's log" in refused.stderr
        assert not (tmp_path / log).exists()
    (tmp_path / "notes-journal").write_text("mine")  # a name like a log's, of no database: written over when forced
    assert cli("export", "runs/r", "-o", "notes-journal", "--force").returncode == 0
    assert {f: (run / f).read_bytes() for f in saved} == saved
    (run / "report.html").symlink_to("candidates.db")  # as a received run directory may hold
    refused = cli("report", "runs/r", check=False)
    assert refused.returncode == 1 and "report.html: a symbolic link; nothing was written" in refused.stderr
    (run / "report.html").unlink()
    os.mkfifo(run / "report.html")  # would block the write
    refused = cli("report", "runs/r", check=False)
    assert refused.returncode == 1 and "report.html: not a regular file" in refused.stderr
    assert {f: (run / f).read_bytes() for f in saved} == saved
    for name in ("out/", "out/."):
        refused = cli("export", "runs/r", "-o", name, check=False)
        assert refused.returncode == 2 and f"{name}: a folder's name" in refused.stderr, name
    assert not (tmp_path / "out").exists()


def test_text_from_a_run_directory_reaches_the_terminal_escaped(run_cli, small_run, tmp_path):
    spoof = "\x1b]0;owned\x07\x1b[2J[bold red]spoofed[/]"
    run = edited_copy(small_run, tmp_path / "copied", lambda stored: stored["config"].update(space=spoof))
    out = run_cli("show", str(run))
    assert "\x1b" not in out.stdout + out.stderr and "\\x1b]0;owned\\x07" in out.stdout, out.stdout
    assert "[bold red]spoofed[/]" in out.stdout  # markup shown as text, not interpreted
    listed = run_cli("runs", str(tmp_path))
    assert (
        "\x1b" not in listed.stdout and "copied" in listed.stdout and "│ 1 " in listed.stdout
    )  # one proposed candidate


def test_errors_are_one_line_with_the_documented_exit_code(run_cli, small_run, tmp_path):
    run = tmp_path / "copied"
    shutil.copytree(small_run, run)
    (run / "config.json").write_text(json.dumps({"config": {"seed": float("nan")}}).replace("NaN", "1e999"))
    proc = run_cli("show", str(run), check=False)
    assert (
        proc.returncode == 1
        and proc.stderr.count("\n") == 1
        and proc.stderr.startswith(f"Error: {run / 'config.json'}")
    )
    usage = run_cli("show", "--no-such-option", check=False)  # a usage error: one line, not click's four
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1, usage.stderr
    assert usage.stderr.startswith("Error: No such option '--no-such-option'. (see '")
    assert usage.stderr.endswith(" show --help')\n")
    for args, told in (
        (["list"], "No such command 'list'; `evoact runs` lists runs (see 'evoact --help')"),  # another tool's name
        (["run"], "No such command 'run'; `evoact search` starts a search (see 'evoact --help')"),
        (["shw"], "No such command 'shw'. Did you mean 'show'? (see 'evoact --help')"),  # click's own otherwise
        (["--bad"], "No such option '--bad'. (see 'evoact --help')"),
        (["export", "--expr"], "Option '--expr' requires an argument. (see 'evoact export --help')"),
        (
            ["search", "--workers", "two"],
            "Invalid value for '--workers': 'two' is not a valid integer. (see 'evoact search --help')",
        ),
    ):
        result = CliRunner().invoke(main, args, prog_name="evoact")
        assert result.exit_code == 2 and result.output == f"Error: {told}\n", (args, result.output)
    assert "Commands:" in CliRunner().invoke(main, []).output  # plain `evoact` shows the help


def test_an_unexpected_error_says_where_it_was_raised_in_its_one_line(small_run, monkeypatch):
    """A fault in evoact's own code (the ETA's division by zero) was blamed on "a damaged or unexpected file"."""
    import evoact.run

    def faulty(*args, **kwargs):
        return 1 / 0

    monkeypatch.delenv("EVOACT_DEBUG", raising=False)
    monkeypatch.setattr(evoact.run.RunReader, "summary", faulty)
    result = CliRunner().invoke(main, ["show", str(small_run)])
    said = result.output
    assert result.exit_code == 1 and said.count("\n") == 1, said
    assert said.startswith("Error: division by zero (ZeroDivisionError, at ") and "in faulty;" in said, said
    assert said.endswith("a damaged file, or a fault in evoact or in your code; EVOACT_DEBUG=1 shows the traceback)\n")


def test_export_to_dash_writes_the_file_on_stdout_and_the_notes_on_stderr(run_cli, small_run, tmp_path):
    piped = run_cli("export", "--expr", "x*sigmoid(beta*x)", "--param", "beta=1.5", "-o", "-")
    namespace: dict = {}
    exec(compile(piped.stdout, "piped.py", "exec"), namespace)  # the whole module, and nothing else
    assert namespace["FORMULA"] == "x/(1 + exp(-beta*x))" and namespace["PARAMS"] == {"beta": 1.5}
    assert "learnable constants: beta = 1.5" in piped.stderr and not (tmp_path / "-").exists()
    best = run_cli("export", str(small_run), "--format", "json", "-o", "-")
    assert json.loads(best.stdout)["formula"] and "wrote" not in best.stdout + best.stderr
    run_cli("export", "--expr", "tanh(x)", "-o", "./-")  # a file of that name, as a shell user writes it
    assert "FORMULA = 'tanh(x)'" in (tmp_path / "-").read_text()


def test_export_into_a_missing_folder_or_onto_a_folder_is_one_line_before_any_note(small_run, tmp_path):
    for target, message in (
        (tmp_path / "nowhere" / "a.py", f"Error: {tmp_path / 'nowhere'}: no such folder"),
        (tmp_path, f"Error: {tmp_path}: a folder; give a file name"),
    ):
        refused = CliRunner().invoke(main, ["export", str(small_run), "-o", str(target)])
        assert refused.exit_code == 1 and refused.output == message + "\n", refused.output


def test_a_refused_confirmation_is_one_line_without_the_notes_a_confirmation_would_print(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)  # a tiny run: a confirmation would note its shortened epochs first
    for args, message in (
        (["--task", "nope"], "unknown task 'nope'"),
        (["--also", "x +"], "--also"),
        (["--also", "foo"], "--also 'foo': no x in it (a constant function)"),  # a typo: 440 trainings of a constant
    ):
        refused = CliRunner().invoke(main, ["confirm", str(run), "--seeds", "2", *args])
        assert refused.exit_code == 1 and refused.output.count("\n") == 1 and message in refused.output, refused.output


def test_a_damaged_row_or_fact_ends_in_one_line_and_a_long_ancestry_stays_cheap(run_cli, small_run, tmp_path):
    for n, (sql, args) in enumerate(
        [
            ("UPDATE candidates SET parents = '5' WHERE id = 2", ["show"]),
            ("UPDATE candidates SET learned = '{\"a\": [1e999]}' WHERE id = 2", ["show"]),
            ("UPDATE meta SET value = '{\"a\": 1}' WHERE key = 'state'", ["show"]),
            (
                "UPDATE candidates SET parents = '[2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]' WHERE id = 2",
                ["report"],
            ),
        ]
    ):
        run = tmp_path / f"run{n}"
        shutil.copytree(small_run, run)
        with sqlite3.connect(run / "candidates.db") as db:
            db.execute(sql)
        command = [args[0], str(run)] + (["-o", str(tmp_path / "r.html")] if args[0] == "report" else [])
        proc = run_cli(*command, check=False)
        if args[0] == "report":  # its own ancestor 16 times over: listed a bounded number of times, quickly
            assert proc.returncode == 0 and (tmp_path / "r.html").read_text().count("<li") <= 64
        else:
            assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_a_full_disk_ends_in_one_line_and_loses_nothing(run_cli, small_run, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("needs permission to mount a small tmpfs (root)")
    try:
        run = full / "run"
        shutil.copytree(small_run, run)
        before = run_cli("show", str(run), "--json").stdout
        try:  # fill the disk to the last byte
            with open(full / "filler", "wb", buffering=0) as filler:
                while True:
                    filler.write(b"\0" * 4096)
        except OSError:
            pass
        for args in (
            ["report", str(run), "-o", str(full / "r.html")],
            ["export", str(run), "2", "-o", str(full / "a.py")],
            ["show", str(run)],
        ):
            proc = run_cli(*args, check=False)
            assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
            if args[0] != "show":  # even reading may need room (SQLite's shared-memory file): then one line too
                assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "No space left" in proc.stderr, (
                    proc.stderr
                )
            else:
                assert proc.returncode == 0 or proc.stderr.count("\n") == 1, proc.stderr
        (full / "filler").unlink()
        assert run_cli("show", str(run), "--json").stdout == before  # nothing saved was lost
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)


def test_after_ctrl_c_the_hint_resumes_with_trust_for_user_code_and_a_finished_run_is_not_sent_to_resume(tmp_path):
    """What a search prints on Ctrl-C: the resume command to copy (with --trust-task where the run trains user code,
    without which resume refuses) and exit code 130, or, where the run had just finished, that there is nothing to
    resume, and success (it exited 130 for a complete run)."""
    import evoact
    from evoact.cli import _after_interrupt, _run_to_end

    def interrupted():
        raise KeyboardInterrupt

    example = os.path.join(os.path.dirname(__file__), "..", "docs", "examples", "spirals_task.py") + ":spirals"
    settings = dict(budget="tiny", runs_dir=tmp_path, workers=2, quiet=True, generations=2, epoch_scale=0.2)
    stopped = evoact.search(name="mine", tasks=[example], target_fitness=-1e9, **settings)
    assert stopped.state == "stopped"
    said, finished = _after_interrupt(stopped.path)
    assert said.endswith(f"continue with: evoact resume {stopped.path} --trust-task") and not finished
    with pytest.raises(SystemExit) as stopped_exit:
        _run_to_end(stopped.path, interrupted, (example,))
    assert stopped_exit.value.code == 130
    refused = CliRunner().invoke(main, ["resume", str(stopped.path)])  # without it: refused before it is announced
    assert refused.exit_code == 1 and "resume runs it only with --trust-task" in refused.stderr
    assert "resuming" not in refused.stdout
    done = evoact.search(name="done", tasks=["mnist1d-mlp"], **settings)
    assert done.state == "finished"
    assert _after_interrupt(done.path) == (
        f"interrupted after the run had finished; it is complete: evoact show {done.path}",
        True,
    )
    _run_to_end(done.path, interrupted, ("mnist1d-mlp",))  # no SystemExit: the command exits 0
    for run in (stopped, done):
        run.close()


def test_a_search_says_it_imports_your_task_before_its_code_runs(tmp_path):
    """A task whose import hangs kept the command silent; one that fails is told in one line after the notice."""
    task = tmp_path / "broken_task.py"
    task.write_text("raise ValueError('boom at import')\n\ndef f(make_activation, seed, epochs):\n    return {}\n")
    said = CliRunner().invoke(main, ["search", "--budget", "tiny", "--task", f"{task}:f", "--runs-dir", str(tmp_path)])
    assert said.exit_code == 1 and said.stderr.startswith(f"evoact: importing your task {task}:f to check\n")
    assert "boom at import" in said.stderr and not (tmp_path / "runs").exists()


def test_the_next_steps_after_a_search_on_your_own_tasks_confirm_there():
    from pathlib import Path

    from evoact.cli import next_steps

    run = Path("runs/a")
    assert "evoact confirm runs/a --group search --trust-task" in next_steps(run, ("/me/task.py:fit",))
    assert "evoact confirm runs/a --task my_task.py:fn (your own network)" in next_steps(run, ("digits-cnn",))
    odd = next_steps(Path("live/C<b>&x"), ("digits-cnn",))  # every command in it pastes into a shell alike
    assert "evoact show 'live/C<b>&x'" in odd and "evoact export 'live/C<b>&x' ID" in odd
    assert "evoact confirm 'live/C<b>&x'" in odd and odd.endswith("evoact runs live")


def test_show_and_runs_print_a_regressions_small_losses_with_their_digits(tmp_path, cli):
    """Losses of about 2e-06 (a regression on normalised targets) showed as -0.0000 against -0.0000."""
    config, space = make_config("tiny", seed=1, tasks=("feynman-mlp",)), load_search_space("default")
    meta = {"config": config.to_dict(), "search_space": {"text": space.text, "source": space.source}}
    store = RunStore.create(tmp_path / "runs" / "small", meta)
    for formula, kind, loss in (("Max(0, x)", "baseline", 2.5e-6), ("x*tanh(x)", "random", 2.2e-6)):
        cid = store.add_candidate(formula, kind, **({"label": "relu"} if kind == "baseline" else {"generation": 0}))
        scores = {"feynman-mlp": {"val_loss": loss, "test_loss": loss}}
        store.record_result(cid, {"status": "ok", "fitness": -loss, "scores": scores})
    store.set_meta("state", "finished")
    store.close()
    shown = cli("show", "runs/small").stdout
    assert "-2.2e-06" in shown and "leads the baseline relu by 3e-07" in shown and "0.0000" not in shown
    assert "-2.2e-06 #2" in cli("runs", "runs").stdout


def test_a_search_that_auto_mode_makes_asynchronous_says_so_and_show_names_its_mode(tmp_path, cli):
    """--workers 5 with tiny's 4 children per generation ran asynchronously, not repeatable by its seed, and neither
    the search nor `show` said so."""
    (tmp_path / "wrong.py").write_text("def net(make_activation, seed, epochs):\n    return {'accuracy': 0.9}\n")
    args = ["search", "--budget", "tiny", "--task", "wrong.py:net", "--name", "a", "--workers", "5"]
    out = cli(*args, check=False)  # the task breaks its contract: the search stops at its first baseline
    said = " ".join(out.stdout.split())
    assert (
        "; asynchronous, as its 5 workers outnumber a generation's 4 children: a rerun of the seed may differ" in said
    )
    assert "mode: async (results in the order they arrived)" in " ".join(cli("show", "runs/a").stdout.split())
    out = cli(*args[:-4], "--name", "g", "--workers", "4", check=False)
    assert "asynchronous" not in out.stdout and "mode: async" not in cli("show", "runs/g").stdout


def test_report_and_plot_never_write_over_a_file_of_another_kind(small_run, tmp_path, monkeypatch):
    """`report -o RUN/candidates.db` destroyed the run; an earlier report or image is written over as before."""
    run = tmp_path / "copied"
    shutil.copytree(small_run, run)
    monkeypatch.chdir(tmp_path)
    kept = {name: (run / name).read_bytes() for name in ("candidates.db", "config.json")}
    for args in (
        ["report", str(run), "-o", str(run / "candidates.db")],
        ["plot", "--expr", "x", "-o", str(run / "config.json")],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "a run directory's own file; nothing was written" in result.stderr
    assert {name: (run / name).read_bytes() for name in kept} == kept
    (tmp_path / "old.html").write_text("an earlier report")
    assert CliRunner().invoke(main, ["report", str(run), "-o", "old.html"]).exit_code == 0
    assert (tmp_path / "old.html").read_text().startswith("<!doctype html>")
    assert "a folder" in CliRunner().invoke(main, ["plot", "--expr", "x", "-o", str(tmp_path)]).stderr


def test_a_report_into_a_run_on_a_read_only_disk_says_where_else_to_write_it(run_cli, small_run, tmp_path):
    disk = tmp_path / "ro"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("needs permission to mount a small tmpfs (root)")
    try:
        shutil.copytree(small_run, disk / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        proc = run_cli("report", str(disk / "run"), check=False)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert "report.html: Read-only file system; write the report elsewhere with -o FILE.html" in proc.stderr
        assert run_cli("report", str(disk / "run"), "-o", str(tmp_path / "r.html")).returncode == 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.parametrize("command", [["runs"], ["runs", "--json"], ["dashboard"]])
def test_runs_and_dashboard_pointed_at_one_run_say_so(small_run, command):
    result = CliRunner().invoke(main, [*command, str(small_run)])
    assert result.exit_code == 1 and f"{small_run} is a run, not a folder of runs: evoact " in result.output


def test_runs_in_a_folder_without_runs_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    said = CliRunner().invoke(main, ["runs"], terminal_width=300)
    assert said.exit_code == 0 and " ".join(said.output.split()) == (
        f"no runs: no runs folder in {tmp_path} (searches make their runs in ./runs of the folder they run in;"
        " give another folder: evoact runs FOLDER)"
    )
    (tmp_path / "runs").write_text("a file")
    assert CliRunner().invoke(main, ["runs"]).output == "Error: runs: not a folder\n"
    (tmp_path / "runs").unlink()
    (tmp_path / "runs").mkdir()
    assert CliRunner().invoke(main, ["runs"]).output == "no runs in runs\n"


def test_a_search_made_smaller_than_its_budget_says_so_and_how_to_turn_its_racing_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["search", "--task", "feynman-mlp", "--address", "127.0.0.1:1"]  # refused after the announcement
    small = CliRunner().invoke(main, [*common, "--population", "8", "--offspring", "6", "--generations", "3"])
    assert (
        "(quick budget with population 8, offspring 6, generations 3; racing the top 5 on 3 seeds, which --race 0"
        " turns off, seed 0)" in " ".join(small.output.split())
    )
    plain = CliRunner().invoke(main, [*common, "--budget", "tiny", "--generations", "3"])
    assert "(tiny budget with generations 3, seed 0)" in plain.output  # larger than tiny, which races nothing
    assert "(quick budget, seed 0)" in CliRunner().invoke(main, common).output


def test_show_says_why_a_run_may_hold_no_candidate_a_copy_without_its_database_log(cli, small_run, tmp_path):
    from evoact.config import make_config

    writing = RunStore.create(tmp_path / "writing", {"config": make_config("tiny").to_dict()})
    writing.record_result(writing.add_candidate("Max(0, x)", "baseline", label="relu"), {"status": "ok", "fitness": 1})
    logged = lambda folder, names: [n for n in names if n.endswith(("-wal", "-shm", ".lock"))]  # noqa: E731
    shutil.copytree(tmp_path / "writing", tmp_path / "copied", ignore=logged)  # while the search writes its log
    writing.close()
    said = " ".join(cli("show", "copied").stdout.split())
    assert "candidates: 0 proposed and 0 baselines" in said
    assert "note: no candidate is stored" in said and "copied without candidates.db-wal" in said
    assert "no candidate is stored" not in cli("show", str(small_run)).stdout


def test_a_first_ctrl_c_gives_the_resume_command_only_where_the_run_keeps_something(small_run, tmp_path, capsys):
    import signal

    from evoact.cli import _run_to_end
    from evoact.config import make_config

    def signalled() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # its handler raises KeyboardInterrupt here

    fresh = RunStore.create(tmp_path / "fresh", {"config": make_config("tiny").to_dict()})
    fresh.add_candidate("Max(0, x)", "baseline", label="relu")  # proposed, not evaluated: nothing to keep
    fresh.close()
    kept = tmp_path / "kept"
    shutil.copytree(small_run, kept)
    for run, said in (
        (tmp_path / "fresh", "(nothing is finished yet, so nothing is kept)"),
        (tmp_path / "not-made-yet", "(nothing is finished yet, so nothing is kept)"),
        (kept, f"(what is finished is saved either way; go on later with evoact resume {kept})"),
    ):
        with pytest.raises(SystemExit):
            _run_to_end(run, signalled, ("mnist1d-cnn",))
        assert f"stopping; Ctrl-C again to stop at once {said}" in capsys.readouterr().err


def test_runs_gives_a_command_that_runs_again_beside_the_run_from_wherever_it_is_listed(small_run, tmp_path):
    """The command recorded at the start named the folder from where that search ran (runs/, no --runs-dir): pasted
    elsewhere it searched into another folder."""
    work = tmp_path / "work"
    recorded = "evoact search --budget tiny --seed 1 --task mnist1d-cnn --name mine-again"  # as made in work/
    edited_copy(small_run, work / "runs" / "mine", lambda stored: stored.update(command=recorded))
    store = RunStore.reopen(work / "runs" / "mine")
    store.set_meta("state", "finished")
    store.close()
    listed = CliRunner().invoke(main, ["runs", str(work / "runs")], terminal_width=400).output
    said = " ".join(listed.split())
    assert f"--name mine-again --runs-dir {work / 'runs'}" in said, said
    cwd = os.getcwd()
    os.chdir(work)
    try:
        here = " ".join(CliRunner().invoke(main, ["runs"]).output.split())
    finally:
        os.chdir(cwd)
    assert "--name mine-again" in here and "--runs-dir" not in here, here
    os.chdir(work / "runs" / "mine")
    try:  # a run opened as "." (a report written from inside it) has a name and a folder too
        inside = evoact.open_run(".").command()
    finally:
        os.chdir(cwd)
    assert inside.endswith(f"--name mine-again --runs-dir {work / 'runs'}"), inside


def test_compare_names_runs_of_one_name_in_two_folders_by_their_paths(small_run, tmp_path, monkeypatch):
    for folder in ("a", "b"):
        shutil.copytree(small_run, tmp_path / folder / "run")
    monkeypatch.chdir(tmp_path)  # short paths: a column never folds them
    shown = CliRunner().invoke(main, ["compare", "a/run", "b/run"])
    assert shown.exit_code == 0, shown.output
    assert "┃ a/run" in shown.output and "┃ b/run" in shown.output, shown.output
