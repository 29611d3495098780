"""Reading runs: the runs list and its states, side-by-side comparison, variants in the hall of fame, the Python API."""

import json
import re
import sqlite3
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

import evoact
from evoact.api import open_run
from evoact.cli import main
from evoact.config import make_config
from evoact.genome import load_search_space
from evoact.records import Outcome, RaceResult, TaskScore
from evoact.report import render_report
from evoact.run_files import CONFIRM, RunStoreError
from evoact.store import RunStore
from evoact.views import run_row


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    """A real search through the Python API, as the README shows it (tiny budget, one cheap task)."""
    folder = tmp_path_factory.mktemp("api")
    return evoact.search(
        budget="tiny",
        seed=1,
        tasks=["mnist1d-cnn"],
        epochs=2,
        workers=2,
        name="api",
        runs_dir=folder / "runs",
        quiet=True,
    )


def test_the_python_api_runs_a_search_and_reads_exports_and_confirms_it(api_run, tmp_path, capfd):
    assert api_run.state == "finished" and api_run.config.seed == 1
    proposed = api_run.overview().candidates  # as `evoact runs` counts: baselines not among them
    assert repr(api_run) == f"Run({str(api_run.path)!r}, state='finished', candidates={proposed})"
    ranking = api_run.ranking(3)
    assert api_run.ranking(np.int64(2)) == ranking[:2]  # NumPy's whole numbers are counts too
    for wrong in (-1, 2.5, True):  # not a slice: ranking(-1) gave all but the last
        with pytest.raises(ValueError, match=f"top must be a whole number, 0 or more .*got {wrong!r}"):
            api_run.ranking(wrong)
    assert ranking and ranking[0] == api_run.best and all(r.label is None for r in ranking)
    fitness = [r.outcome.fitness for r in api_run.ranking()]
    assert fitness == sorted(fitness, reverse=True)
    module = api_run.export(tmp_path / "best.py")
    assert f"FORMULA = {api_run.best.formula!r}" in module.read_text()
    assert (
        json.loads(api_run.export(tmp_path / "best.json", format="json").read_text())["formula"] == api_run.best.formula
    )
    capfd.readouterr()
    summary = api_run.confirm(top=1, seeds=2, tasks=["mnist1d-cnn"], epochs=1, workers=2, quiet=True)
    assert "| ETA" not in capfd.readouterr().err  # quiet, as the search was: no line per training
    assert summary.tasks["mnist1d-cnn"].rows[0].name.split(" = ")[0] == f"#{api_run.best.id}"  # "= mish" if it is one
    again = evoact.open_run(api_run.path)
    assert again.verdict().confirmed["mnist1d-cnn"].best_baseline in ("relu", "gelu", "silu", "mish", "tanh")
    assert api_run.report(tmp_path / "report.html").read_text().count("id='verdict'") == 1
    with pytest.raises(KeyError, match="no candidate with id 9999"):
        api_run.candidate(9999)


def test_a_run_s_time_is_its_sessions_summed_and_a_killed_one_ends_at_its_last_result(api_run, small_run, tmp_path):
    """``runs`` and ``compare`` show the time a search ran: not the days between a stop and a resume, and not a
    clock that keeps going for a run killed without a word."""
    import shutil

    meta = RunStore.open(api_run.path).meta()
    ((began, ended),) = meta["sessions"]  # a real search records its session
    assert began >= meta["started_at"] and ended == meta["finished_at"]
    assert api_run.duration() == pytest.approx(ended - began)
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    with sqlite3.connect(run / "candidates.db") as db:  # results at 1010 and 1020, then at 100030
        for cid, at in zip((1, 2), (1010.0, 1020.0)):
            db.execute("UPDATE candidates SET finished_at = ? WHERE id = ?", (at, cid))
        db.execute("UPDATE meta SET value = '1000.0' WHERE key = 'started_at'")
    killed = open_run(run)
    assert killed.state == "interrupted" and killed.duration() == 20  # killed after its last result, long ago
    store = RunStore.reopen(run)
    later = store.add_candidate("x*sigmoid(x)", "random", genome="mul(x, sigmoid(x))", generation=1, nodes=4)
    store.record_result(later, {"status": "ok", "fitness": 0.7, "val_acc": 0.7})
    store.add_race(RaceResult(candidate=2, seed=1, status="ok", fitness=0.9))  # a raced seed is a result too
    # resumed a day later and killed before its first result, then resumed again and finished
    store.set_meta("sessions", [[1000.0, None], [90000.0, None], [100000.0, 100050.0]])
    store.set_meta("finished_at", 100050.0)
    store.set_meta("state", "finished")
    store.close()
    with sqlite3.connect(run / "candidates.db") as db:
        db.execute("UPDATE candidates SET finished_at = 100030.0 WHERE id = ?", (later,))
        db.execute("UPDATE races SET finished_at = 1030.0")
    assert open_run(run).duration() == 30 + 0 + 50
    listed = json.loads(CliRunner().invoke(main, ["runs", str(tmp_path), "--json"]).output)
    assert [entry["seconds"] for entry in listed] == [80]


def test_a_link_to_a_run_is_named_not_listed(api_run, tmp_path):
    """A run reached through a link is listed where it is; a folder holding only the link said "no runs"."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "linked").symlink_to(api_run.path)
    shown = CliRunner().invoke(main, ["runs", str(tmp_path / "mine"), "--json"])
    assert json.loads(shown.stdout) == []
    assert "not listed: linked: a link to a run elsewhere; a run is listed in the folder that holds it" in shown.stderr


def test_runs_lists_states_the_writer_lock_decides(api_run, tmp_path):
    folder = api_run.path.parent
    listed = json.loads(CliRunner().invoke(main, ["runs", str(folder), "--json"]).output)
    (entry,) = listed
    assert entry["name"] == "api" and entry["state"] == "finished" and entry["tasks"] == ["mnist1d-cnn"]
    assert entry["best"]["id"] == api_run.best.id and entry["best_baseline"]["name"] and entry["seconds"] > 0
    assert entry["command"].startswith("evoact search --budget tiny --seed 1 --task mnist1d-cnn --epochs 2")
    with sqlite3.connect(api_run.path / "candidates.db") as db:  # the last word of a process that died
        db.execute("UPDATE meta SET value = '\"running\"' WHERE key = 'state'")
    assert open_run(api_run.path).state == "interrupted"
    assert run_row(open_run(api_run.path).overview())[-1] == f"evoact resume {api_run.path}"  # not a new search
    writer = RunStore.reopen(api_run.path)  # a live writer: running
    try:
        assert open_run(api_run.path).state == "running"
        shown = CliRunner().invoke(main, ["runs", str(folder)]).output
        assert "running" in shown and "api" in shown
    finally:
        writer.close()
    assert json.loads(CliRunner().invoke(main, ["show", str(api_run.path), "--json"]).output)["state"] == "interrupted"
    confirming = RunStore.reopen(api_run.path, CONFIRM)  # a confirmation holds it: the listing says so
    try:
        (entry,) = json.loads(CliRunner().invoke(main, ["runs", str(folder), "--json"]).output)
        assert entry["state"] == "interrupted" and entry["confirming"] is True
        assert run_row(open_run(api_run.path).overview())[1] == "interrupted; being confirmed"
    finally:
        confirming.close()
    assert run_row(open_run(api_run.path).overview())[1] == "interrupted"


def test_compare_gives_an_auto_mode_with_the_mode_it_ran_in(api_run, tmp_path):
    """--mode auto is a setting: two runs with it that ran differently are told apart by what they ran as."""
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(api_run.path, twin)
    with sqlite3.connect(twin / "candidates.db") as db:
        db.execute("UPDATE meta SET value = '\"async\"' WHERE key = 'mode'")
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["compare", str(api_run.path), str(twin)]).output
    (row,) = [line for line in shown.splitlines() if "--mode" in line]
    assert [c.strip() for c in row.split("│")[2:4]] == ["auto (generational)", "auto (async)"]


def test_compare_puts_runs_side_by_side(api_run, tmp_path):
    other = evoact.search(
        budget="tiny",
        seed=2,
        tasks=["mnist1d-cnn"],
        epochs=1,
        workers=2,
        name="other",
        runs_dir=tmp_path / "runs",
        quiet=True,
    )
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["compare", str(api_run.path), str(other.path), "--top", "2"]
    )
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if line.count("│") >= 3]
    seed_row = next(line for line in lines if line.split("│")[1].strip() == "seed")
    assert [c.strip() for c in seed_row.split("│")[2:4]] == ["1", "2"]
    labels = [line.split("│")[1].strip() for line in lines]
    assert "rank 2" in labels and "#2" not in labels  # a rank, not a candidate id
    epochs_row = next(line for line in lines if line.split("│")[1].strip() == "--epochs")
    assert [c.strip() for c in epochs_row.split("│")[2:4]] == ["2", "1"]  # the settings that differ, by their option
    assert "--workers" not in labels and "--space" not in labels  # the same in both: not repeated
    refused = CliRunner().invoke(main, ["compare", str(other.path)])
    assert refused.exit_code != 0 and "two or more run directories" in refused.output


def test_the_cost_of_a_full_training_is_the_median_so_a_workers_start_up_does_not_inflate_savings(tmp_path):
    config = make_config("tiny", tasks=("mnist1d-cnn",)).to_dict()
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": "", "source": "default"}})
    for k, seconds in enumerate((2.5, 1.9, 0.03, 0.04, 0.03, 0.05, 0.03)):  # two workers' first trainings start up
        done = Outcome("ok", fitness=0.9, val_acc=0.9, train_seconds=seconds)
        store.record_result(store.add_candidate(f"x + {k}*tanh(x)", "random", generation=0), done)
    store.record_result(store.add_candidate("exp(x)", "random", generation=0), Outcome("rejected", stage="stability"))
    store.close()
    cascade = open_run(tmp_path / "run").cascade()
    assert cascade.full_training_seconds == pytest.approx(0.04)
    assert cascade.train_seconds_saved == pytest.approx(0.04)  # the stability rejection saved one full training


def test_compare_gives_each_rank_one_idea_and_counts_its_variants(cli, tmp_path):
    """Ranks in `compare` hold what `confirm --top` takes: `2*x*tanh(x)` rescales the better `x*tanh(x)`, so it is that
    one's variant, not the next rank."""
    config = make_config("tiny", tasks=("mnist1d-mlp",)).to_dict()
    space = load_search_space("default")
    for name, rows in (
        ("a", (("x*tanh(x)", 1.1), ("2*x*tanh(x)", 1.05), ("-3*x*tanh(x)", 1.02), ("x + tanh(x)", 1.0))),
        ("b", (("x/(1 + exp(-x))", 1.2),)),
    ):
        store = RunStore.create(
            tmp_path / name, {"config": config, "search_space": {"text": space.text, "source": "x"}}
        )
        for formula, fitness in rows:
            scores = {"mnist1d-mlp": TaskScore(val_acc=fitness / 2)}
            made = store.add_candidate(formula, "random", generation=0, nodes=4)
            store.record_result(made, Outcome("ok", fitness=fitness, val_acc=fitness / 2, scores=scores))
        store.set_meta("state", "finished")
        store.close()
    shown = cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--top", "2").stdout
    cells = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
        for line in shown.splitlines()
        if line.count("│") >= 3
    }
    assert cells["rank 1"] == ["1.1000 x*tanh(x) (+2 variants)", "1.2000 x/(1 + exp(-x))"]
    assert cells["rank 2"] == ["1.0000 x + tanh(x)", "-"]


def test_a_pareto_runs_front_is_what_show_and_the_report_list(tmp_path):
    """A stored Pareto run (two tasks and size): the non-dominated evolved candidates, in `show` and the report alike
    (the slow lane's `test_multi_task_pareto_search_shows_its_front` makes one by searching)."""
    tasks = ("mnist1d-mlp", "digits-cnn")
    config = make_config("tiny", tasks=tasks, selection="pareto", complexity_objective=True).to_dict()
    space = load_search_space("default")
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": space.text, "source": "x"}})
    store.set_meta("references", {"mnist1d-mlp": 0.8, "digits-cnn": 0.9})
    rows = {  # formula: (accuracy on each task, nodes)
        "x*tanh(x)": ((0.8, 0.9), 4),
        "x*sigmoid(x)": ((0.84, 0.81), 5),  # better on the first task
        "tanh(x)": ((0.72, 0.81), 2),  # the smallest
        "x*tanh(x) + sin(x)": ((0.76, 0.86), 7),  # dominated by x*tanh(x)
    }
    ids = {}
    for formula, ((a, b), nodes) in rows.items():
        scores = {"mnist1d-mlp": TaskScore(val_acc=a), "digits-cnn": TaskScore(val_acc=b)}
        ids[formula] = store.add_candidate(formula, "random", generation=0, nodes=nodes)
        store.record_result(ids[formula], Outcome("ok", fitness=(a / 0.8 + b / 0.9) / 2, val_acc=a, scores=scores))
    store.close()
    shown = json.loads(CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--json"]).output)
    front = {r["id"] for r in shown["pareto_front"]}
    assert front == {ids["x*tanh(x)"], ids["x*sigmoid(x)"], ids["tanh(x)"]}
    assert "Pareto front" in CliRunner(env={"COLUMNS": "200"}).invoke(main, ["show", str(tmp_path / "run")]).output
    page = render_report(RunStore.open(tmp_path / "run"), top=3)
    section = page.split("<h2 id='pareto'>", 1)[1].split("<h2", 1)[0]
    assert {int(i) for i in re.findall(r"<tr><td>(\d+)</td>", section)} == front


def _ranked(tmp_path, task: str, rows: tuple[tuple[str, float], ...]) -> dict[str, tuple]:
    """``show --json``'s variant marks (of, factor, shift) of a stored run's ``rows`` (formula, fitness) on ``task``,
    with a half-SiLU baseline."""
    config = make_config("tiny", tasks=(task,)).to_dict()
    store = RunStore.create(
        tmp_path / "run",
        {"config": config, "search_space": {"text": 'name = "t"\n[primitives]\nunary = ["sin"]\n', "source": "t"}},
    )
    ok = lambda v: Outcome("ok", fitness=v, val_acc=v, scores={task: TaskScore(val_acc=v)})  # noqa: E731
    for formula, fitness in rows:
        store.record_result(store.add_candidate(formula, "random", generation=0), ok(fitness))
    store.record_result(store.add_candidate("x/(2*(1 + exp(-x)))", "baseline", label="half-silu"), ok(0.7))
    store.close()
    ranking = json.loads(CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--json"]).output)["ranking"]
    return {r["formula"]: (r["variant_of"], r["factor"], r["shift"]) for r in ranking}


def test_functions_that_only_rescale_or_shift_a_better_one_are_its_variants(tmp_path):
    """A constant output factor, or an added constant (the next layer's bias absorbs it: the trial's `erf(x) + gamma`
    ranked apart from `erf(x)`), makes a variant; a baseline keeps its row."""
    marks = _ranked(
        tmp_path,
        "mnist1d-cnn",
        (
            ("x/(1 + exp(-x))", 0.9),
            ("-2*x/(1 + exp(-x))", 0.89),
            ("x/(1 + exp(-x)) + 3/2", 0.88),
            ("x*tanh(x)", 0.85),
            ("x/((1 + exp(-x))*(exp(-E) + 1))", 0.8),
        ),
    )
    assert marks["x/(1 + exp(-x))"] == (None, None, None) and marks["x*tanh(x)"] == (None, None, None)
    assert marks["-2*x/(1 + exp(-x))"] == (1, pytest.approx(-2.0), pytest.approx(0.0, abs=1e-9))
    assert marks["x/(1 + exp(-x)) + 3/2"] == (1, pytest.approx(1.0), pytest.approx(1.5))
    assert marks["x/((1 + exp(-x))*(exp(-E) + 1))"][0] == 1
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["show", str(tmp_path / "run")]).output
    assert "rank 2: variant #2 = -2 x this:" in shown  # its rank is said where the row folds it
    assert "rank 3: variant #3 = 1 x this + 1.5:" in shown
    assert marks["x/(2*(1 + exp(-x)))"] == (None, None, None) and "baseline half-silu" in shown


def test_an_odd_function_rescaled_or_shifted_is_a_variant(tmp_path):
    """Centred, an odd function's values held rounding's leftovers at 0, which hashed apart: 3*tanh(x) was no
    variant of tanh(x) (the diff review's find)."""
    marks = _ranked(tmp_path, "mnist1d-cnn", (("tanh(x)", 0.9), ("3*tanh(x)", 0.89), ("tanh(x) + 1", 0.88)))
    assert marks["3*tanh(x)"] == (1, pytest.approx(3.0), pytest.approx(0.0, abs=1e-9))
    assert marks["tanh(x) + 1"] == (1, pytest.approx(1.0), pytest.approx(1.0))


def test_a_gate_shifted_is_no_variant(tmp_path):
    """As a GLU gate, `f + c` adds a linear path to the block: another idea (a factor is still a variant)."""
    marks = _ranked(
        tmp_path, "glu-text", (("x/(1 + exp(-x))", 0.9), ("x/(1 + exp(-x)) + 3/2", 0.88), ("-2*x/(1 + exp(-x))", 0.8))
    )
    assert marks["x/(1 + exp(-x)) + 3/2"] == (None, None, None)
    assert marks["-2*x/(1 + exp(-x))"][:2] == (1, pytest.approx(-2.0))


def test_an_exported_module_of_the_api_needs_no_evoact(api_run, tmp_path):
    assert api_run.export(tmp_path / "mine.py") == tmp_path / "mine.py"
    code = (
        "import sys, torch; sys.modules['evoact'] = None; sys.path.insert(0, sys.argv[1]); import mine;"
        " print(mine.Activation()(torch.ones(2)).shape)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "torch.Size([2])"


def test_load_if_exists_finishes_a_stopped_run_opens_a_finished_one_and_refuses_other_settings(tmp_path):
    settings = dict(budget="tiny", seed=3, tasks=["mnist1d-mlp"], generations=3, workers=2, name="again", quiet=True)
    stopped = evoact.search(**settings, runs_dir=tmp_path, target_fitness=-1000, load_if_exists=True)
    assert stopped.state == "stopped"
    with pytest.raises(RunStoreError):  # a taken name is refused unless asked to load it
        evoact.search(**settings, runs_dir=tmp_path)
    finished = evoact.search(**settings, runs_dir=tmp_path, load_if_exists=True)  # resumed to its end
    assert finished.path == stopped.path and finished.state == "finished"
    opened = evoact.search(**{**settings, "workers": 1}, runs_dir=tmp_path, load_if_exists=True)  # nothing to do
    assert opened.ranking() == finished.ranking()
    with pytest.raises(ValueError, match="exists and was made with other settings"):
        evoact.search(**{**settings, "seed": 4}, runs_dir=tmp_path, load_if_exists=True)
    with sqlite3.connect(finished.path / "candidates.db") as db:  # another process's search writing it now
        db.execute("UPDATE meta SET value = '\"running\"' WHERE key = 'state'")
    writer = RunStore.reopen(finished.path)  # nothing finished to hand back, and not to be resumed beside it
    try:
        with pytest.raises(ValueError, match="is being written by another evoact process .* evoact.open_run"):
            evoact.search(**settings, runs_dir=tmp_path, load_if_exists=True)
    finally:
        writer.close()


def test_a_space_file_edited_since_a_run_read_it_is_named_by_load_if_exists_and_a_warm_start(tmp_path):
    """A run keeps the space it started with: reopened by name, or warm-started from, after its file changed, it says
    that the file changed (a warm start said "that run searched F, this search F"); unchanged, with a guess written as
    a formula, it is opened (its guess was refused as "other settings")."""
    import shutil

    from evoact.genome import load_search_space

    space = tmp_path / "mine.toml"
    shutil.copy(load_search_space("default").source, space)
    settings = dict(budget="tiny", seed=3, tasks=["mnist1d-mlp"], generations=1, space=str(space), quiet=True)
    settings["guesses"] = ["x*sigmoid(2*x)"]  # a formula, stored as the space's tree: the same settings all the same
    first = evoact.search(**settings, runs_dir=tmp_path, name="first", load_if_exists=True)
    assert evoact.search(**settings, runs_dir=tmp_path, name="first", load_if_exists=True).path == first.path
    space.write_text(space.read_text().replace('"gauss", ', ""))
    with pytest.raises(ValueError, match=r"first exists and searched .*mine\.toml as it read then; the file has chan"):
        evoact.search(**settings, runs_dir=tmp_path, name="first", load_if_exists=True)
    with pytest.raises(ValueError, match=r"^warm_start=.*first: its space file .*mine\.toml has changed since that"):
        evoact.search(**settings, runs_dir=tmp_path, name="warm", warm_start=str(first.path))


def test_the_verdict_names_a_winner_that_is_a_published_function(tmp_path):
    """The verdict says when the best evolved candidate is a published function (a guess of Mish makes that likely),
    and show says it too: a rediscovery is no new function."""
    import evoact
    from evoact.catalog import nearest_known
    from evoact.cli import main

    run = evoact.search(
        "tiny",
        runs_dir=tmp_path,
        quiet=True,
        workers=2,
        generations=1,
        tasks=["mnist1d-mlp"],
        guesses=("mul(x, tanh(softplus(x)))",),
    )
    verdict = run.summary().verdict
    match = nearest_known(verdict.winner.formula, dict(run.space.learnable), top=1)
    known = match[0] if match and match[0].rediscovery else None
    assert verdict.known_as == (known and known.name) and verdict.rediscovery == (known and known.described)
    expected = known and known.described
    assert nearest_known("x*tanh(log(exp(x) + 1))", top=1)[0].name == "Mish"
    shown = " ".join(CliRunner().invoke(main, ["show", str(run.path)]).output.split())
    said = f"best evolved: #{verdict.winner.id} is {expected}, a published function" in shown
    assert said == (expected is not None)
    run.close()


def test_the_api_writes_no_report_or_export_over_saved_results_or_another_kind_of_file(small_run, tmp_path):
    """As the command line: ``Run.report`` writes over an HTML file only, and neither it nor ``Run.export`` writes
    over a run's database; confirm and resume take the command's options by name."""
    import inspect
    import shutil

    shutil.copytree(small_run, tmp_path / "run")
    (tmp_path / "mine.py").write_text("print('my module')")
    run = open_run(tmp_path / "run")
    saved = (tmp_path / "run" / "candidates.db").read_bytes()
    with pytest.raises(ValueError, match="a run directory's own file"):
        run.report(tmp_path / "run" / "candidates.db")
    with pytest.raises(ValueError, match="a run directory's own file"):
        run.export(tmp_path / "run" / "candidates.db")
    with pytest.raises(ValueError, match=r"mine.py exists and is not a .html/.htm file"):
        run.report(tmp_path / "mine.py")
    assert (tmp_path / "run" / "candidates.db").read_bytes() == saved
    assert (tmp_path / "mine.py").read_text() == "print('my module')"
    assert run.report(tmp_path / "r.html").read_text().startswith("<!doctype html>")
    assert run.export(tmp_path / "mine.py").read_text().startswith('"""')  # a module: as open(path, "w") would
    assert {"groups", "trust_user_tasks", "also", "epochs"} <= set(inspect.signature(run.confirm).parameters)
    assert "trust_user_tasks" in inspect.signature(run.resume).parameters
    for name in ("tasks", "groups", "also"):  # text, which would be split into characters: refused before anything
        with pytest.raises(ValueError, match=f"{name} must be a list, got the text 'test'"):
            run.confirm(**{name: "test"})
    run.close()


def test_a_run_stopped_before_its_baselines_finished_is_not_said_to_have_failed_them(tmp_path):
    store = RunStore.create(tmp_path / "run", {"config": make_config("tiny", tasks=["feynman-mlp"]).to_dict()})
    relu = store.add_candidate("Max(0, x)", "baseline", label="relu")
    gelu = store.add_candidate("x*(erf(sqrt(2)*x/2) + 1)/2", "baseline", label="gelu")
    store.record_result(relu, {"status": "failed", "error": "timeout"})
    store.set_meta("state", "interrupted")
    store.close()
    assert open_run(tmp_path / "run").summary().stopped_because is None  # gelu had not trained yet
    store = RunStore.reopen(tmp_path / "run")
    store.record_result(gelu, {"status": "failed", "error": "timeout"})
    store.close()
    assert open_run(tmp_path / "run").summary().stopped_because == (
        "every baseline failed (relu: timeout); fix the task or its data"
    )


def test_the_verdict_warns_where_a_confirmation_found_the_winner_worse():
    from evoact.summaries import BaselineRef, ConfirmedVerdict, FunctionRef, Verdict

    confirmed = {
        "diabetes": ConfirmedVerdict(True, "gelu", 0.054, 0.0147, "worse"),
        "wine": ConfirmedVerdict(True, "tanh", 0.01, 0.3, "no significant difference"),
    }
    verdict = Verdict(FunctionRef(15, "Min(1/2, asinh(x))", 1.02), None, None, {}, confirmed)
    assert verdict.note == "on fresh seeds (evoact confirm) #15 was significantly worse than gelu on diabetes (p 0.015)"
    assert verdict.confirmed_as("no significant difference") == "tanh on wine (p 0.3)"
    assert Verdict(FunctionRef(15, "x", 1.02), None, None, {}, {"wine": confirmed["wine"]}).note is None
    lead = Verdict(FunctionRef(15, "x", 1.02), BaselineRef("tanh", 1.01), 0.01, {}, None)
    assert lead.note.endswith(
        "on one seed, which says nothing of its seeds' spread: confirm it on fresh seeds before trusting the lead"
    )
    undecided = replace(lead, confirmed={"wine": ConfirmedVerdict(True, "tanh", 0.0, None, "-")})
    assert undecided.note.endswith("; its confirmation could not judge it (no p-value): confirm it on more seeds")
    itself = replace(lead, confirmed={"wine": ConfirmedVerdict(True, "tanh", None, None, "the same function")})
    assert itself.note.endswith("; on fresh seeds (evoact confirm) it is each task's best baseline itself")
    assert not itself.wins and itself.confirmed["wine"].against == "as"  # more seeds would never judge it
    worse = replace(lead, confirmed={"diabetes": confirmed["diabetes"]})  # said once, by what the confirmation found
    assert worse.note.count("fresh seeds") == 1 and worse.note.endswith("worse than gelu on diabetes (p 0.015)")
    confirmed_lead = replace(lead, confirmed={"wine": confirmed["wine"]})  # what it asked for is done: not asked again
    assert confirmed_lead.note == (
        "the best evolved candidate #15 leads the baseline tanh by 0.0100, on one seed, which says nothing of its"
        " seeds' spread; on fresh seeds (evoact confirm) it was not found better"
    )


def test_a_raced_winners_per_task_measures_are_the_means_over_its_seeds(tmp_path):
    """Racing stores each seed's per-task scores: the verdict (winner and baselines alike), `show`'s per-task table
    and JSON, `inspect` and the report give a raced candidate's validation measure as the mean over its seeds (a seed
    reused from the fitness cache has none), and its constants are the mean over every seed's layers."""
    tasks = ("mnist1d-mlp", "feynman-mlp")
    config = make_config("tiny", tasks=tasks).to_dict()
    space = load_search_space("default")
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": space.text, "source": "x"}})
    store.set_meta("metrics", {"mnist1d-mlp": "accuracy", "feynman-mlp": "loss"})
    scores = lambda acc, loss: {  # noqa: E731
        "mnist1d-mlp": TaskScore(val_acc=acc),
        "feynman-mlp": TaskScore(val_loss=loss),
    }
    relu = store.add_candidate("Max(0, x)", "baseline", label="relu")
    store.record_result(relu, Outcome("ok", fitness=1.0, val_acc=0.88, scores=scores(0.88, 0.5)))
    store.add_race(RaceResult(relu, 11, "ok", 1.0, 1.0, scores=scores(0.8, 0.38)))  # means 0.84 and 0.44
    store.set_raced(relu, 1.0, 0.0, 2, 0)
    gelu = store.add_candidate("x*(erf(sqrt(2)*x/2) + 1)/2", "baseline", label="gelu")
    store.record_result(gelu, Outcome("ok", fitness=0.99, val_acc=0.86, scores=scores(0.86, 0.45)))
    best = store.add_candidate("x*tanh(beta*x)", "random", generation=0, nodes=6)
    first = {**scores(0.9, 0.4), "mnist1d-mlp": TaskScore(val_acc=0.9, learned={"beta": (1.0, 1.2)})}
    store.record_result(best, Outcome("ok", fitness=1.1, val_acc=0.9, scores=first))
    raced = {**scores(0.84, 0.46), "feynman-mlp": TaskScore(val_loss=0.46, learned={"beta": (1.4,)})}
    store.add_race(RaceResult(best, 11, "ok", 1.0, 1.0, scores=raced))
    store.add_race(RaceResult(best, 12, "ok", 1.05, 0.0, source="cache"))  # reused: fitness only
    store.set_raced(best, 1.05, 0.05, 3, 0)
    reused = store.add_candidate("x*tanh(x)", "mutation", generation=1, nodes=4)  # its first training: the cache's
    store.record_result(reused, Outcome("duplicate", fitness=1.02, stage="cache", equivalent_to="x*tanh(x) in b"))
    store.add_race(RaceResult(reused, 11, "ok", 1.0, 1.0, scores=scores(0.83, 0.41)))
    store.set_raced(reused, 1.01, 0.01, 2, 0)
    unraced = store.add_candidate("x*sigmoid(x)", "mutation", generation=1, nodes=4)  # the cache's fitness only
    store.record_result(unraced, Outcome("duplicate", fitness=1.0, stage="cache", equivalent_to="x*sigmoid(x) in b"))
    store.close()
    run = open_run(tmp_path / "run")
    means = run.task_means(run.candidate(best))
    assert means["mnist1d-mlp"].mean == pytest.approx(0.87) and means["mnist1d-mlp"].seeds == 2
    assert means["feynman-mlp"].mean == pytest.approx(0.43) and means["feynman-mlp"].std == pytest.approx(0.0424264)
    verdict = run.verdict().per_task
    assert verdict["feynman-mlp"].winner == pytest.approx(0.43) and verdict["feynman-mlp"].winner_seeds == 2
    assert (verdict["mnist1d-mlp"].best_baseline, verdict["mnist1d-mlp"].baseline) == ("gelu", 0.86)  # relu: 0.84
    assert verdict["feynman-mlp"].best_baseline == "relu" and verdict["feynman-mlp"].baseline == pytest.approx(0.44)
    assert verdict["feynman-mlp"].baseline_seeds == 2
    assert run.learned(run.candidate(best)) == {"beta": (1.0, 1.2, 1.4)}  # the raced seed's layers count too
    assert run.constants(run.candidate(best))["beta"] == pytest.approx(1.2)
    assert run.constants(run.candidate(unraced)) == {}  # the space's beta is no constant of x*sigmoid(x)
    assert "PARAMS = {'beta': 1.2}" in run.export(tmp_path / "act.py", best, format="sympy").read_text()
    text = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["show", str(tmp_path / "run")]).output
    assert "0.8700 (2)" in text and "0.4300 (2)" in text and "0.8600" in text
    assert "0.8300 (1)" in text  # reused from the cache: its raced seed is all it has per task
    per_task = text[text.index("per task") :]
    assert re.search(rf"^\W*{unraced}\W+cached\W+cached\W*$", per_task, re.M), per_task  # said, not "-"
    page = render_report(RunStore.open(tmp_path / "run"), top=5)
    assert page.count("fitness from the shared fitness cache, which keeps no per-task measures") == 2 * 2  # 2 reused
    shown = json.loads(CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--json"]).output)
    row = next(r for r in shown["ranking"] if r["id"] == best)
    assert row["task_means"]["feynman-mlp"] == {
        "metric": "loss",
        "mean": pytest.approx(0.43),
        "std": pytest.approx(0.0424264),
        "seeds": 2,
    }
    assert next(b for b in shown["baselines"] if b["label"] == "relu")["task_means"]["mnist1d-mlp"]["seeds"] == 2
    inspected = json.loads(CliRunner().invoke(main, ["inspect", str(tmp_path / "run"), str(best), "--json"]).output)
    assert inspected["task_means"]["mnist1d-mlp"]["mean"] == pytest.approx(0.87)
    page = render_report(RunStore.open(tmp_path / "run"), top=3)
    assert "raced: mean ± sd over its seeds" in page and "0.87 ± 0.04243 (2 seeds)" in page
    assert "0.44 ± 0.08485 (2 seeds) (relu)" in page
    assert "validation, raced: mean ± sd" in page
    with open_run(tmp_path / "run") as again:  # a notebook's way to let the files go
        assert again.candidate(best).id == best
    with pytest.raises(RunStoreError, match="this run was closed; open it again to read it"):
        again.candidate(best)
    again.close()  # closing twice does nothing


def test_a_damaged_space_copy_in_config_json_is_blamed_on_that_copy_not_the_file_it_came_from(cli, small_run, tmp_path):
    from conftest import edited_copy

    run = edited_copy(small_run, tmp_path / "run", lambda stored: stored["search_space"].update(text="[[[bad toml"))
    out = cli("inspect", str(run), "2", check=False)
    said = " ".join(out.stderr.split())
    assert out.returncode != 0 and "config.json: the copy of the search space stored with the run (read from" in said
    assert "default.toml) is damaged: not valid TOML" in said


def test_an_id_past_64_bits_is_no_candidate_rather_than_a_damaged_file(cli, small_run):
    """SQLite's integers stop at 64 bits: a larger id said "a damaged or unexpected file?"."""
    for command in (["inspect", str(small_run)], ["export", str(small_run), "-o", "a.py"]):
        out = cli(*command[:2], "99999999999999999999", *command[2:], check=False)
        assert out.returncode != 0 and "no candidate with id 99999999999999999999" in out.stderr
        assert "damaged" not in out.stderr
    with pytest.raises(KeyError, match="no candidate with id 100000000000000000000"):
        evoact.open_run(small_run).candidate(10**20)


def _own_task(make_activation, seed, epochs):  # a notebook user's task, given as the function itself
    return {"val_acc": 1.0}


def test_a_task_given_as_a_function_of_the_script_itself_is_told_to_move_it(tmp_path):
    """Named by the script's own path, the workers would import the script, and run its search again, and again."""
    script = tmp_path / "script.py"
    script.write_text(
        "import evoact\n"
        "def task(make_activation, seed, epochs):\n    return {'val_acc': 1.0}\n"
        "evoact.search('tiny', tasks=[task], runs_dir='runs')\n"
    )
    said = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path).stderr
    assert "move task from this script into a file of its own (the workers would import the script" in said
    assert "name the function instead" not in said


@pytest.mark.parametrize(
    "arguments, error, said",
    [
        (dict(tasks=[1]), ValueError, "tasks must be task names (text), got 1"),
        (dict(tasks=[_own_task]), ValueError, f"; name the function instead: tasks=['{__file__}:_own_task']"),
        (dict(tasks=[len]), ValueError, "; a user task is named 'FILE.py:FUNCTION', a function defined at the top of"),
        (dict(tasks=[lambda m, seed, epochs: {}]), ValueError, "; a user task is named 'FILE.py:FUNCTION', a function"),
        (dict(name=1), TypeError, "name must be text, got int"),
        (dict(budget=["tiny"]), ValueError, "unknown budget ['tiny']"),
        (dict(callbacks=None), TypeError, "callbacks must be a list of evoact.hooks.Hook, got NoneType"),
        (dict(target_fitness="x"), TypeError, "target_fitness must be a number, got str"),
        (dict(max_time=True), TypeError, "max_time must be seconds or a duration such as '10m', got bool"),
        (dict(space=1), ValueError, "space must be text, got int"),
        (dict(evolution={}), ValueError, "unknown setting(s): evolution"),
    ],
)
def test_search_names_an_argument_of_the_wrong_kind_before_anything_starts(tmp_path, arguments, error, said):
    """Python's own errors named what failed inside ("argument of type 'int' is not iterable")."""
    arguments = {"budget": "tiny", "runs_dir": tmp_path / "runs", **arguments}
    with pytest.raises(error, match=re.escape(said)):
        evoact.search(arguments.pop("budget"), **arguments)
    assert not (tmp_path / "runs").exists()


def test_a_finished_run_without_a_fitness_is_not_said_to_have_none_yet(cli, small_run, tmp_path):
    import shutil

    from evoact.store import RunStore

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    store = RunStore.reopen(run)
    store.record_result(2, {"status": "rejected", "stage": "static", "error": "constant function"})
    store.close()
    out = cli("export", str(run), "-o", "a.py", check=False)  # interrupted: a resume may find one
    assert out.returncode != 0 and "no evolved candidate has a fitness yet; give an ID" in out.stderr
    store = RunStore.reopen(run)
    store.set_meta("state", "finished")
    store.close()
    out = cli("export", str(run), "-o", "a.py", check=False)
    assert "no evolved candidate has a fitness (the run finished without one); give an ID" in out.stderr
    with pytest.raises(ValueError, match=re.escape("fitness (the run finished without one); nothing to export")):
        evoact.open_run(run).export(tmp_path / "b.py")


def test_a_best_evolved_candidate_that_is_a_known_function_of_minus_x_is_named_so_not_rescaled(small_run, tmp_path):
    import shutil

    from evoact.cli import main

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    store = RunStore.reopen(run)
    mirrored = store.add_candidate("-x*tanh(log(exp(-x) + 1))", "mutation", generation=1, nodes=7)  # Mish of -x
    store.record_result(mirrored, Outcome("ok", fitness=0.99, val_acc=0.99))
    store.close()
    shown = " ".join(CliRunner().invoke(main, ["show", str(run)]).output.split())
    assert f"best evolved: #{mirrored} is Mish of -x, a published function (a rediscovery" in shown
    for formula, fitness, said in (  # only an output factor rescales it: Swish at its own beta is itself (the trial)
        ("x/(1 + exp(-3*x/2))", 1.0, "SiLU / Swish (beta = 1.5), a published function (a rediscovery"),
        ("2*x/(1 + exp(-3*x/2))", 1.01, "2 × SiLU / Swish (beta = 1.5), a published function rescaled (a"),
    ):
        store = RunStore.reopen(run)
        best = store.add_candidate(formula, "mutation", generation=1, nodes=7)
        store.record_result(best, Outcome("ok", fitness=fitness, val_acc=fitness))
        store.close()
        shown = " ".join(CliRunner().invoke(main, ["show", str(run)]).output.split())
        assert f"best evolved: #{best} is {said}" in shown, shown[:400]


def test_a_best_candidate_the_search_was_given_is_named_so_not_a_rediscovery(small_run, tmp_path):
    import shutil

    from evoact.cli import main

    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    for formula, origin, fitness, said in (
        ("x*tanh(log(exp(x) + 1))", "seed", 0.95, "is Mish, a published function, given to the search (a seed of"),
        ("x*tanh(2*x)", "guess", 0.96, "was given to the search (your --guess), not found by it"),
    ):
        store = RunStore.reopen(run)
        best = store.add_candidate(formula, origin, generation=0, nodes=7)
        store.record_result(best, Outcome("ok", fitness=fitness, val_acc=fitness))
        store.close()
        shown = " ".join(CliRunner().invoke(main, ["show", str(run)]).output.split())
        assert f"best evolved: #{best} {said}" in shown and "a rediscovery" not in shown, shown[:400]
        assert evoact.open_run(run).verdict().winner.to_json()["origin"] == origin
        report = evoact.open_run(run).report(tmp_path / "report.html").read_text()
        assert "given to the search" in report


def test_a_win_on_one_task_of_many_must_hold_over_all_the_tasks_judged():
    """Over 11 tasks, two equal functions differ at p < 0.05 somewhere one time in five: a confirmed verdict reads
    Holm's adjusted p-values, so p 0.02 on one task of 11 is no win, where p 0.001 is."""
    from evoact.summaries import ConfirmationRow, TaskConfirmation, confirmed_verdicts, holm

    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert holm({"a": 0.5, "b": 0.9}) == {"a": 1.0, "b": 1.0} and holm({}) == {}

    def task(p, diff):
        mine = ConfirmationRow("#9", "x*tanh(x)", False, 5, 0, {}, 0.9, 0.01, None, None, p, diff)
        return TaskConfirmation("gelu", (mine,), "accuracy", True, 1.0, None, tuple(range(10000, 10005))), mine

    ties = {f"t{i}": task(0.5, 0.001) for i in range(10)}
    lucky = confirmed_verdicts({"best": task(0.02, 0.01), **ties})
    assert lucky["best"].verdict == "no significant difference" and lucky["best"].p_adjusted == pytest.approx(0.22)
    assert "p 0.02, Holm 0.22" in lucky["best"].p_text
    clear = confirmed_verdicts({"best": task(0.001, 0.01), "worse": task(0.002, -0.01), **ties})
    assert clear["best"].verdict == "better" and clear["worse"].verdict == "worse"
    worse = confirmed_verdicts({"best": task(0.001, 0.01), "worse": task(0.03, -0.01), **ties})  # Holm's 0.3
    assert worse["worse"].verdict == "worse"  # a loss is told at the task's own p: no correction lets it pass
    assert confirmed_verdicts({"only": task(0.02, 0.01)})["only"].p_text == "p 0.02"  # one task: nothing to adjust


def test_a_function_that_failed_trainings_its_best_baseline_finished_is_no_winner_whatever_the_rest_say():
    """The mean and p-value of a task are over the seeds a function finished: one that diverged on 4 of 10 seeds and
    did slightly better on the other 6 was called better there, and the run's winner."""
    from evoact.summaries import (
        FAILED_MORE,
        BaselineRef,
        ConfirmationRow,
        FunctionRef,
        TaskConfirmation,
        Verdict,
        confirmed_verdicts,
    )

    def task(failed, p, baseline_failed=0, best="gelu"):
        mine = ConfirmationRow("#3", "x*tanh(x)", False, 10 - failed, failed, {}, 0.9, 0.01, None, None, p, 0.01)
        gelu = ConfirmationRow(
            "gelu", "gelu(x)", True, 10 - baseline_failed, baseline_failed, {}, 0.89, 0.01, *[None] * 4
        )
        seeds = tuple(range(10000, 10010))
        return TaskConfirmation(best, (mine, gelu), "accuracy", True, 1.0, None, seeds), mine

    said = confirmed_verdicts(
        {
            "a": task(4, 0.0002),  # 4 of 10 against none: Fisher's one-sided p 0.043
            "b": task(0, 0.0001),
            "c": task(10, None),
            "d": task(1, 0.3, 1),  # no more failures than the baseline's
            "e": task(1, 0.0001),  # one more: chance (p 0.5), but no better over the seeds it finished
            "f": task(2, None, 10, best=None),  # no baseline finished: none to fail more than
        }
    )
    assert said["a"].verdict == said["c"].verdict == FAILED_MORE and said["b"].verdict == "better"
    assert said["d"].verdict == said["e"].verdict == "no significant difference" and said["f"].verdict == "-"
    assert said["b"].p_adjusted == pytest.approx(0.0005)  # five judged: the failed tasks count in Holm's family
    verdict = Verdict(FunctionRef(3, "x*tanh(x)", 1.02), BaselineRef("gelu", 1.0), 0.02, {}, said)
    assert not verdict.wins and verdict.confirmed_as("better") == "gelu on b (p 0.0001, Holm 0.0005)"
    assert "#3 failed more trainings than gelu on a (4 of its trainings failed, 0 of gelu's), gelu on c (10 of" in (
        verdict.note
    )


def test_a_confirmed_winner_with_its_tasks_best_baselines_formula_is_that_function_not_a_tie():
    from evoact.summaries import ConfirmationRow, TaskConfirmation, confirmed_verdicts

    def row(name, formula, p, diff, baseline=False):
        return ConfirmationRow(name, formula, baseline, 3, 0, {}, 0.9, 0.01, None, None, p, diff)

    rows = (
        row("#7 = relu", "Max(0, x)", None, None),
        row("#9", "x*tanh(x)", 0.2, 0.01),
        row("relu", "Max(0, x)", None, None, True),
    )
    result = TaskConfirmation("relu", rows, "accuracy", True, 1.0, None, (10000, 10001, 10002))
    said = confirmed_verdicts({"a": (result, rows[0]), "b": (result, rows[1])})
    assert said["a"].verdict == "the same function" and said["b"].verdict == "no significant difference"
