"""Stopping rules: a deadline, a target fitness and patience end a session cleanly, and resume continues the run."""

import json
import re

import pytest

import evoact
from evoact.hooks import Hook
from evoact.stopping import Stopper, StopRules, parse_duration


@pytest.mark.parametrize("text, seconds", [("90", 90), ("45s", 45), ("10m", 600), ("1h30m", 5400), ("2d", 172800)])
def test_durations_read_as_the_command_line_writes_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m", "-5", "0", "1h-3m", "400d"])
def test_a_bad_duration_is_refused_in_one_line(text):
    with pytest.raises(ValueError, match="--max-time"):
        parse_duration(text)


def test_rules_refuse_what_they_cannot_mean():
    for bad in (dict(max_time=0), dict(target_fitness=float("nan")), dict(patience=0), dict(patience=True)):
        with pytest.raises(ValueError):
            StopRules(**bad)
    assert not StopRules().any and StopRules(patience=3).any


def test_the_stopper_says_why_once_a_rule_is_met():
    now = [0.0]
    stopper = Stopper(StopRules(max_time=60, patience=2), clock=lambda: now[0])
    assert stopper.check(0, 0.90) is None
    assert stopper.check(1, 0.95) is None  # better: patience starts again
    assert stopper.check(2, 0.95) is None
    assert stopper.check(3, 0.94) == "no better fitness for 2 steps (patience 2)"
    late = Stopper(StopRules(max_time=60), clock=lambda: now[0])
    now[0] = 61.0
    assert late.check(0, None) == "the session ran 61 s, its limit is 60 s"
    assert Stopper(StopRules(target_fitness=1.0)).check(0, 1.02) == "the best fitness 1.0200 reached the target 1"
    assert Stopper(StopRules()).check(5, None) is None


def test_a_target_or_patience_waits_for_the_best_s_raced_seeds_and_a_deadline_does_not():
    """An asynchronous run's checks may come while the top candidate's raced seeds train: its first seed's luck
    reached the target there (a raced mean below it, in a real run), and a running best held patience back."""
    now = [0.0]
    stopper = Stopper(StopRules(max_time=60, target_fitness=0.9, patience=2), clock=lambda: now[0])
    assert stopper.check(1, 0.80) is None
    assert stopper.check(2, 0.95, settled=False) is None  # one lucky seed: not the target, and not the best
    assert stopper.check(3, 0.85) is None  # raced down to 0.85, still better: patience starts again here
    assert stopper.check(4, 0.85, settled=False) is None
    assert stopper.check(5, 0.85) == "no better fitness for 2 steps (patience 2)"
    now[0] = 61.0
    assert stopper.check(6, 0.99, settled=False) == "the session ran 61 s, its limit is 60 s"


def test_an_async_search_stops_at_its_target_only_once_the_best_has_its_raced_seeds(tmp_path):
    run = evoact.search(
        "tiny", name="target", runs_dir=tmp_path, tasks=("mnist1d-mlp",), mode="async", workers=2, race_top=2,
        race_seeds=3, target_fitness=-1000, quiet=True,
    )  # fmt: skip
    assert run.state == "stopped" and "reached the target" in run.summary().stopped_because
    top = run.ranking(2)
    assert len(top) == 2 and all(r.raced_seeds == 3 for r in top), [(r.id, r.raced_seeds) for r in top]
    run.close()


@pytest.mark.slow  # the fast lane keeps a kill-and-resume (racing), determinism and a stop (async)
def test_a_stopped_search_says_so_and_resume_finishes_it_as_an_uninterrupted_run(run_cli, tmp_path):
    args = ("--budget", "tiny", "--task", "mnist1d-mlp", "--generations", "3", "--workers", "2", "--seed", "2")
    out = run_cli("search", *args, "--name", "stopped", "--target-fitness", "-1000")
    assert "stopped early: continue with evoact resume runs/stopped" in out.stdout
    shown = run_cli("show", "runs/stopped").stdout
    assert "state: stopped (the best fitness" in shown and "reached the target -1000; evoact resume continues it)" in (
        " ".join(shown.split())
    )
    stopped = json.loads(run_cli("show", "runs/stopped", "--json").stdout)
    assert stopped["state"] == "stopped" and "reached the target -1000" in stopped["stopped_because"]
    assert max(r["generation"] or 0 for r in stopped["ranking"]) == 0  # it stopped after generation 0 of 0..2

    bad = run_cli("resume", "runs/stopped", "--patience", "0", check=False)
    assert bad.returncode != 0 and "patience" in bad.stderr and "Traceback" not in bad.stderr
    run_cli("resume", "runs/stopped")  # no rule this time: to the end
    resumed = json.loads(run_cli("show", "runs/stopped", "--json").stdout)
    assert resumed["state"] == "finished" and "stopped_because" not in resumed

    run_cli("search", *args, "--name", "whole")
    whole = json.loads(run_cli("show", "runs/whole", "--json").stdout)
    assert [(r["formula"], r["fitness"]) for r in resumed["ranking"]] == [
        (r["formula"], r["fitness"]) for r in whole["ranking"]
    ]


def test_a_target_counts_what_the_fitness_cache_gave_as_the_ranking_does(tmp_path):
    """Run again in the same folder, a search's every candidate is a hit on the first run's results: the target reads
    the best as ``show`` ranks it, so the same command stops where it stopped before."""
    settings = dict(tasks=("mnist1d-mlp",), runs_dir=tmp_path, quiet=True, generations=3, seed=4)
    first = evoact.search("tiny", name="first", target_fitness=-1000, **settings)
    again = evoact.search("tiny", name="again", target_fitness=-1000, **settings)
    assert first.state == again.state == "stopped" and again.best is not None
    assert again.best.status == "duplicate" and again.best.formula == first.best.formula
    assert {r.generation for r in again.ranking()} == {0}


class _Ends(Hook):
    """Hears how each session ends."""

    def __init__(self) -> None:
        self.states: list[str] = []

    def end(self, state: str) -> None:
        self.states.append(state)


def test_an_async_search_stops_at_its_deadline_and_resumes_from_the_python_api(tmp_path, capfd):
    ends = _Ends()
    run = evoact.search(
        "tiny", name="deadline", runs_dir=tmp_path, tasks=("mnist1d-mlp",), mode="async", max_time=0.001,
        callbacks=[ends],
    )  # fmt: skip
    assert run.state == "stopped" and run.summary().stopped_because.startswith("the session ran")
    finished = run.resume(patience=1_000, callbacks=[ends])
    assert finished.state == "finished" and finished.best is not None
    assert ends.states == ["stopped", "finished"]  # each session's hooks hear how it ended
    said = capfd.readouterr().err.splitlines()
    assert all(line.startswith("[baselines] baseline ") for line in said if line.startswith("[baselines]"))
    assert any(re.search(r"resuming after \d+ evaluations", line) for line in said)  # no generations in async
