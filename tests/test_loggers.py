"""Loggers: a search's events written where experiment trackers read them, and read back from there."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import evoact
from evoact.hooks import HookError
from evoact.store import RunStore


def test_a_search_logged_to_tensorboard_reads_back_as_the_run_stored_it(run_cli, tmp_path):
    run_cli(
        "search", "--budget", "tiny", "--task", "mnist1d-mlp", "--workers", "2", "--seed", "4", "--name", "logged",
        "--log-to", "tensorboard", "tb",
    )  # fmt: skip
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "tensors": 0}).Reload()
    rows = [r for r in RunStore.open(tmp_path / "runs" / "logged").candidates() if r.outcome.fitness is not None]
    logged = {e.step: e.value for e in events.Scalars("fitness")}
    assert logged == pytest.approx({r.id: r.outcome.fitness for r in rows}, rel=1e-6)
    accuracy = {e.step: e.value for e in events.Scalars("mnist1d-mlp/val_acc")}
    every = RunStore.open(tmp_path / "runs" / "logged").candidates()
    trained = {r.id: r.outcome.scores["mnist1d-mlp"].val_acc for r in every if "mnist1d-mlp" in r.outcome.scores}
    assert accuracy == pytest.approx(trained, rel=1e-6) and trained  # those stopped at the hurdle too
    best = [e.value for e in events.Scalars("best_fitness")]
    assert best == sorted(best) and best[-1] == pytest.approx(max(r.outcome.fitness for r in rows if not r.label))
    texts = {e.step: e.tensor_proto.string_val[0].decode() for e in events.Tensors("candidates/text_summary")}
    assert all(r.formula in texts[r.id] for r in rows) and any("rejected at" in t for t in texts.values())
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(config.strip("`\n"))["seed"] == 4


def test_a_callback_that_is_no_hook_is_refused_before_a_run_directory_exists(tmp_path):
    with pytest.raises(HookError, match="must subclass evoact.hooks.Hook"):
        evoact.search("tiny", name="refused", runs_dir=tmp_path, tasks=["mnist1d-mlp"], callbacks=[print])
    assert not (tmp_path / "refused").exists()


def test_an_unknown_logger_is_a_one_line_error(run_cli):
    out = run_cli("search", "--budget", "tiny", "--log-to", "wandb", "x", check=False)
    assert out.returncode != 0 and "Invalid value for '--log-to': 'wandb'" in out.stderr
    assert "Traceback" not in out.stderr
