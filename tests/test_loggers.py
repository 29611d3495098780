"""Loggers: a search's events written where experiment trackers read them, and read back from there."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import evoact
from evoact.hooks import HookError
from evoact.loggers import make_logger
from evoact.store import RunStore


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A tiny real search logged to TensorBoard and MLflow at once, from the command line: its folder."""
    folder = tmp_path_factory.mktemp("logged")
    subprocess.run(
        [
            sys.executable, "-m", "evoact.cli", "search", "--budget", "tiny", "--task", "mnist1d-mlp", "--workers", "2",
            "--seed", "4", "--name", "logged", "--log-to", "tensorboard", "tb", "--log-to", "mlflow", "ml",
        ],
        cwd=folder, check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return folder


@pytest.fixture
def stored(logs):
    """The logged search's run store."""
    return RunStore.open(logs / "runs" / "logged")


def test_a_search_logged_to_tensorboard_reads_back_as_the_run_stored_it(logs, stored):
    (folder,) = (logs / "tb").iterdir()  # the run's own: its name and when it began
    assert folder.name.startswith("logged 20")
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0}).Reload()
    rows = [r for r in stored.candidates() if r.outcome.fitness is not None]
    logged = {e.step: e.value for e in events.Scalars("fitness")}
    assert logged == pytest.approx({r.id: r.outcome.fitness for r in rows}, rel=1e-6)
    accuracy = {e.step: e.value for e in events.Scalars("mnist1d-mlp/val_acc")}
    every = stored.candidates()
    trained = {r.id: r.outcome.scores["mnist1d-mlp"].val_acc for r in every if "mnist1d-mlp" in r.outcome.scores}
    assert accuracy == pytest.approx(trained, rel=1e-6) and trained  # those stopped at the hurdle too
    best = [e.value for e in events.Scalars("best_fitness")]
    assert best == sorted(best) and best[-1] == pytest.approx(max(r.outcome.fitness for r in rows if not r.label))
    texts = {e.step: e.tensor_proto.string_val[0].decode() for e in events.Tensors("candidates/text_summary")}
    assert all(r.formula in texts[r.id] for r in rows) and any("rejected at" in t for t in texts.values())
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(config.strip("`\n"))["seed"] == 4


def test_the_same_search_logged_to_mlflow_reads_back_as_the_run_stored_it(logs, stored, tmp_path):
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")  # nothing leaves this machine
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{logs / 'ml' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("evoact").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["seed"] == "4"
    assert run.data.tags["evoact.state"] == "finished"
    history = lambda key: {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}  # noqa: E731
    rows = [r for r in stored.candidates() if r.outcome.fitness is not None]
    assert history("fitness") == pytest.approx({r.id: r.outcome.fitness for r in rows}, rel=1e-6)
    every = stored.candidates()
    trained = {r.id: r.outcome.scores["mnist1d-mlp"].val_acc for r in every if "mnist1d-mlp" in r.outcome.scores}
    assert history("mnist1d-mlp/val_acc") == pytest.approx(trained, rel=1e-6) and trained
    best = [value for _, value in sorted(history("best_fitness").items())]
    assert best == sorted(best) and best[-1] == pytest.approx(max(r.outcome.fitness for r in rows if not r.label))
    table = json.loads(Path(client.download_artifacts(run.info.run_id, "candidates.json", str(tmp_path))).read_text())
    by_id = {row["id"]: row for row in table["candidates"]}
    assert set(by_id) == {r.id for r in every if r.status != "pending"}
    assert all(by_id[r.id]["formula"] == r.formula for r in every if r.id in by_id)
    assert any(row["verdict"].startswith("rejected at") for row in by_id.values())


def test_a_callback_that_is_no_hook_is_refused_before_a_run_directory_exists(tmp_path):
    with pytest.raises(HookError, match="must subclass evoact.hooks.Hook"):
        evoact.search("tiny", name="refused", runs_dir=tmp_path, tasks=["mnist1d-mlp"], callbacks=[print])
    assert not (tmp_path / "refused").exists()


def test_an_unknown_logger_is_a_one_line_error(run_cli):
    out = run_cli("search", "--budget", "tiny", "--log-to", "wandb", "x", check=False)
    assert out.returncode != 0 and "Invalid value for '--log-to': 'wandb'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_logger_never_writes_into_a_run_directory_a_file_or_a_database_not_mlflow_s(logs, run_cli, tmp_path):
    """MLflow creates its tables in any database it is pointed at, a run's own through a link too: each such folder is
    refused in one line, before the search starts, and nothing in it changes."""
    import hashlib

    run = logs / "runs" / "logged"
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "mlflow.db").symlink_to(run / "candidates.db")
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(run / "candidates.db", renamed / "mlflow.db")
    (tmp_path / "a_file").write_text("mine")
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (run / "candidates.db", renamed / "mlflow.db")}
    cases = [
        ("mlflow", linked, "mlflow.db: a symbolic link; nothing was written through it"),
        ("mlflow", renamed, "mlflow.db: not an MLflow tracking store; nothing was written"),
        ("mlflow", run, "a run directory; a logger writes into a folder of its own"),
        ("tensorboard", run, "a run directory; a logger writes into a folder of its own"),
        ("mlflow", tmp_path / "a_file", "a_file: not a folder"),
    ]
    for kind, folder, said in cases:
        with pytest.raises(ValueError, match=re.escape(said)):
            make_logger(kind, folder)
    out = run_cli("search", "--budget", "tiny", "--runs-dir", str(tmp_path / "runs"), "--log-to", "mlflow", str(linked),
                  check=False)  # fmt: skip
    assert out.returncode != 0 and cases[0][2] in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert digest == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in digest}
    assert not (tmp_path / "runs").exists()
    make_logger("mlflow", logs / "ml")  # the store an earlier search made is MLflow's own: taken


def test_mlflow_takes_a_user_task_s_path_and_says_when_a_search_was_interrupted(tmp_path):
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    from mlflow import MlflowClient

    from evoact.loggers import MLflowLogger
    from evoact.records import Candidate, Outcome, TaskScore

    task = "/home/me/../my tasks/net.py:fit"  # a user task's name is its path: MLflow refuses that as a metric name
    logger = MLflowLogger(tmp_path / "ml")
    logger.start({"seed": 7, "tasks": [task], "warm_trees": ["mul(x, x)"] * 200})
    score = TaskScore(val_acc=0.5, val_loss=1.25)
    logger.finished(Candidate(5, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.5, scores={task: score})))
    logger.step(0, {})
    logger.end("interrupted")
    logger.close()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("evoact").experiment_id])
    assert run.info.status == "KILLED" and run.data.params["seed"] == "7"
    assert run.data.tags["evoact.state"] == "interrupted"
    config = json.loads(Path(client.download_artifacts(run.info.run_id, "config.json", str(tmp_path))).read_text())
    assert config["tasks"] == [task] and len(config["warm_trees"]) == 200
    assert run.data.params["warm_trees"] == "(long: see config.json)"
    keys = set(run.data.metrics)
    assert "fitness" in keys and "best_fitness" in keys
    (val_acc,) = [k for k in keys if k.endswith("/val_acc")]
    assert val_acc.startswith("net.py:fit-") and ".." not in val_acc and not val_acc.startswith("/")
    assert [m.value for m in client.get_metric_history(run.info.run_id, val_acc)] == [0.5]


def test_a_user_task_s_tensorboard_tags_name_its_file_not_its_whole_path(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from evoact.loggers import TensorBoardLogger
    from evoact.records import Candidate, Outcome, TaskScore

    task = "/home/me/my tasks/net.py:fit"
    logger = TensorBoardLogger(tmp_path / "tb")
    score = TaskScore(val_acc=0.5)
    logger.finished(Candidate(5, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=0.5, scores={task: score})))
    logger.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    (tag,) = [t for t in events.Tags()["scalars"] if t.endswith("/val_acc")]
    assert tag.startswith("net.py:fit-") and tag.count("/") == 1


def test_a_baseline_scored_after_it_finished_is_logged_with_its_fitness(tmp_path):
    """A multi-task search's baselines finish without a fitness (their scores make the references): both loggers
    log it when the search tells them (``scored``), MLflow in its candidates table too."""
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from evoact.loggers import MLflowLogger, TensorBoardLogger
    from evoact.records import Candidate, Outcome

    tensorboard, mlflow = TensorBoardLogger(tmp_path / "tb"), MLflowLogger(tmp_path / "ml")
    mlflow.start({"seed": 1})
    for logger in (tensorboard, mlflow):
        logger.finished(Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", val_acc=0.5)))
        logger.scored(Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", fitness=0.75)))
        logger.end("finished")
        logger.close()
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert [(e.step, e.value) for e in events.Scalars("fitness")] == [(1, 0.75)]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("evoact").experiment_id])
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "fitness")] == [(1, 0.75)]
    table = json.loads(Path(client.download_artifacts(run.info.run_id, "candidates.json", str(tmp_path))).read_text())
    assert [(row["label"], row["fitness"]) for row in table["candidates"]] == [("relu", 0.75)]


def test_two_sessions_of_a_run_log_to_one_folder_and_one_mlflow_run_and_a_remade_run_to_its_own(tmp_path):
    """The events a stopped-then-resumed search sends (``start`` with the same directory and start time, ``resumed``
    for what the first session finished), and a run made again under the name: without a search (the slow lane's
    ``test_a_resumed_search_goes_on...`` runs real ones)."""
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    from mlflow import MlflowClient

    from evoact.loggers import MLflowLogger, TensorBoardLogger
    from evoact.records import Candidate, Outcome

    def row(cid: int, fitness: float) -> Candidate:
        return Candidate(cid, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=fitness, val_acc=fitness))

    first = {"seed": 5, "run_dir": str(tmp_path / "runs" / "a"), "run_started": 1_760_000_000.0}
    sessions = [(first, [], [row(1, 0.5)]), (first, [row(1, 0.5)], [row(2, 0.7)])]  # (start, resumed, finished)
    sessions.append(({**first, "run_started": 1_760_000_100.0}, [], [row(1, 0.6)]))  # made again under the name
    for config, earlier, finished in sessions:
        for logger in (TensorBoardLogger(tmp_path / "tb"), MLflowLogger(tmp_path / "ml")):
            logger.start(config)
            for candidate in earlier:
                logger.resumed(candidate)
            for candidate in finished:
                logger.finished(candidate)
            logger.end("finished")
            logger.close()
    folders = [f"a {time.strftime('%Y-%m-%dT%H-%M-%S', time.localtime(s))}" for s in (1_760_000_000, 1_760_000_100)]
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == folders
    events = EventAccumulator(str(tmp_path / "tb" / folders[0]), size_guidance={"scalars": 0}).Reload()
    assert {e.step: e.value for e in events.Scalars("fitness")} == {1: 0.5, 2: pytest.approx(0.7)}  # both sessions
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("evoact").experiment_id], order_by=["start_time"])
    assert [r.info.run_name for r in runs] == ["a (evoact seed 5)"] * 2  # the resume went on in the first
    history = {m.step: m.value for m in client.get_metric_history(runs[0].info.run_id, "fitness")}
    assert history == {1: 0.5, 2: pytest.approx(0.7)}
    table = json.loads(
        Path(client.download_artifacts(runs[0].info.run_id, "candidates.json", str(tmp_path))).read_text()
    )
    assert sorted(r["id"] for r in table["candidates"]) == [1, 2]  # each candidate once


def test_one_logger_for_a_loop_of_searches_logs_each_apart_and_a_first_resume_logs_what_came_before(tmp_path):
    """``for seed in ...: evoact.search(..., callbacks=[logger])``: the second search's events went into the first's
    TensorBoard folder, its MLflow table held the first's rows, and its best-so-far was the first's. And TensorBoard,
    first given to a resume, logged none of what earlier sessions had finished (MLflow's logger does)."""
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    from mlflow import MlflowClient

    from evoact.loggers import MLflowLogger, TensorBoardLogger
    from evoact.records import Candidate, Outcome

    def row(cid: int, fitness: float) -> Candidate:
        return Candidate(cid, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=fitness, val_acc=fitness))

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "config.json").write_text("{}")  # a project's own file: no run directory
    loggers = [TensorBoardLogger(tmp_path / "project"), MLflowLogger(tmp_path / "ml")]
    runs = [(f"seed{i}", 1_760_000_000.0 + 100 * i, fitnesses) for i, fitnesses in enumerate([[0.2, 0.9], [0.4]])]
    for name, started, fitnesses in runs:
        for logger in loggers:
            logger.start({"seed": 0, "run_dir": str(tmp_path / "runs" / name), "run_started": started})
            for cid, fitness in enumerate(fitnesses, 1):
                logger.finished(row(cid, fitness))
            logger.step(0, {})
            logger.end("finished")
            logger.close()
    curves = {}
    for folder in sorted((tmp_path / "project").glob("seed*")):
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
        fitness = [round(e.value, 6) for e in events.Scalars("fitness")]
        curves[folder.name[:5]] = fitness, round(events.Scalars("best_fitness")[-1].value, 6)
    assert curves == {"seed0": ([0.2, 0.9], 0.9), "seed1": ([0.4], 0.4)}
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    for run in client.search_runs([client.get_experiment_by_name("evoact").experiment_id]):
        table = json.loads(
            Path(client.download_artifacts(run.info.run_id, "candidates.json", str(tmp_path))).read_text()
        )
        best = client.get_metric_history(run.info.run_id, "best_fitness")[-1].value
        expected = {"seed0 (evoact seed 0)": ([1, 2], 0.9), "seed1 (evoact seed 0)": ([1], 0.4)}[run.info.run_name]
        assert ([r["id"] for r in table["candidates"]], best) == (expected[0], pytest.approx(expected[1]))

    resumed = TensorBoardLogger(tmp_path / "tb")  # given to the run's second session only
    resumed.start({"seed": 0, "run_dir": str(tmp_path / "runs" / "late"), "run_started": 1_760_000_500.0})
    for candidate in (row(1, 0.5), row(2, 0.7), row(2, 0.7)):  # a stored candidate may be reported twice
        resumed.resumed(candidate)
    resumed.finished(row(3, 0.6))
    resumed.close()
    (folder,) = (tmp_path / "tb").iterdir()
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("fitness")] == [(1, 0.5), (2, 0.7), (3, 0.6)]


def test_a_session_that_crashed_after_its_last_table_is_not_logged_twice_when_resumed(tmp_path):
    """MLflow's candidates table is written once a generation: a session killed after it had logged candidate 2's
    metrics, but before its next table, leaves 2 out of the table; the resume gives 2 its row, not a second point."""
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    from mlflow import MlflowClient

    from evoact.loggers import MLflowLogger
    from evoact.records import Candidate, Outcome

    def row(cid: int, fitness: float) -> Candidate:
        return Candidate(cid, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=fitness, val_acc=fitness))

    config = {"seed": 5, "run_dir": str(tmp_path / "runs" / "a"), "run_started": 1_760_000_000.0}
    crashed = MLflowLogger(tmp_path / "ml")
    crashed.start(config)
    crashed.finished(row(1, 0.5))
    crashed.step(0, {})
    crashed.finished(row(2, 0.7))  # then killed: no table with 2, no end
    resumed = MLflowLogger(tmp_path / "ml")
    resumed.start(config)
    for candidate in (row(1, 0.5), row(2, 0.7)):
        resumed.resumed(candidate)
    resumed.finished(row(3, 0.6))
    resumed.end("finished")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("evoact").experiment_id])
    history = client.get_metric_history(run.info.run_id, "fitness")
    assert sorted(m.step for m in history) == [1, 2, 3]  # each candidate's point once
    table = json.loads(Path(client.download_artifacts(run.info.run_id, "candidates.json", str(tmp_path))).read_text())
    assert sorted(r["id"] for r in table["candidates"]) == [1, 2, 3]


@pytest.mark.slow
def test_a_resumed_search_goes_on_in_its_tensorboard_folder_and_its_mlflow_run(tmp_path):
    """Two sessions of one search (stopped, then resumed) log as one run in each tracker; another search in the same
    folder stays apart."""
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    from mlflow import MlflowClient

    logs = ["--log-to", "tensorboard", "tb", "--log-to", "mlflow", "ml"]
    search = [sys.executable, "-m", "evoact.cli", "search", "--budget", "tiny", "--task", "mnist1d-mlp"]
    search += ["--workers", "2", "--epochs", "1"]
    run = lambda *args: subprocess.run(args, cwd=tmp_path, check=True, capture_output=True, timeout=900)  # noqa: E731
    run(*search, "--seed", "5", "--name", "first", "--max-time", "1s", *logs)
    assert RunStore.open(tmp_path / "runs" / "first").meta()["state"] == "stopped"
    run(sys.executable, "-m", "evoact.cli", "resume", "runs/first", *logs)
    run(*search, "--seed", "6", "--name", "second", *logs)
    shutil.move(tmp_path / "runs" / "second", tmp_path / "old second")
    time.sleep(1)  # a run made again under an old name began at another second: it is another run
    run(*search, "--seed", "6", "--name", "second", *logs)
    folders = sorted(p.name.split(" ")[0] for p in (tmp_path / "tb").iterdir())
    assert folders == ["first", "second", "second"]  # each run its own folder, the resumed one's one
    stored = {r.id: r.outcome.fitness for r in RunStore.open(tmp_path / "runs" / "first").candidates()}
    (first_folder,) = (tmp_path / "tb").glob("first *")
    events = EventAccumulator(str(first_folder), size_guidance={"scalars": 0}).Reload()
    fitness = {k: v for k, v in stored.items() if v is not None}
    assert {e.step: e.value for e in events.Scalars("fitness")} == pytest.approx(fitness, rel=1e-6)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("evoact").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["first (evoact seed 5)"] + ["second (evoact seed 6)"] * 2
    (first,) = [r for r in runs if r.info.run_name.startswith("first")]
    assert first.info.status == "FINISHED" and first.data.tags["evoact.run_dir"] == str(tmp_path / "runs" / "first")
    assert first.data.tags["evoact.state"] == "finished"  # stopped, then resumed to its end
    history = {m.step: m.value for m in client.get_metric_history(first.info.run_id, "fitness")}
    assert history == pytest.approx(fitness, rel=1e-6)
    table = json.loads(Path(client.download_artifacts(first.info.run_id, "candidates.json", str(tmp_path))).read_text())
    assert sorted(row["id"] for row in table["candidates"]) == sorted(stored)  # both sessions', each once


def test_the_best_so_far_curve_follows_the_raced_mean_as_the_ranking_does(tmp_path):
    """A lucky first seed tops the curve until racing brings its mean below another's: the next point says so."""
    from dataclasses import replace

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from evoact.loggers import TensorBoardLogger
    from evoact.records import Candidate, Outcome

    logger = TensorBoardLogger(tmp_path / "tb")
    lucky = Candidate(2, "x*tanh(x)", "random", outcome=Outcome("ok", fitness=1.03))
    steady = Candidate(3, "tanh(x)*x + x", "random", outcome=Outcome("ok", fitness=1.01))
    for row in (Candidate(1, "Max(0, x)", "baseline", label="relu", outcome=Outcome("ok", fitness=1.2)), lucky, steady):
        logger.finished(row)
    logger.step(0, {})
    logger.raced(replace(lucky, raced_fitness=0.99, raced_seeds=3))
    logger.step(1, {})
    logger.close()
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert [(e.step, round(e.value, 4)) for e in events.Scalars("best_fitness")] == [(0, 1.03), (1, 1.01)]
