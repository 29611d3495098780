"""Racing the elite: a candidate that enters the top-k trains again on more seeds, and the ranking uses the mean."""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from evoact.api import open_run
from evoact.cli import main
from evoact.config import make_config
from evoact.driver import resume_search, run_search
from evoact.hooks import Hook
from evoact.racing import Racing
from evoact.records import Outcome
from evoact.run import RunReader
from evoact.screening import FitnessCache
from evoact.store import RunStore

#: A tiny search raced with k = 3, n = 3 on a task that trains in about a second.
SETTINGS = dict(seed=3, workers=2, generations=3, tasks=("mnist1d-mlp",), epochs=4, race_top=3, race_seeds=3)


def _ranking(path):
    store = RunStore.open(path)
    return [(r.formula, r.raced_fitness, r.raced_seeds, r.outcome.fitness) for r in store.ranked()]


class _Heard(Hook):
    """What a search's hooks hear of racing."""

    def __init__(self) -> None:
        self.heard: list[tuple[int, float | None, int]] = []

    def raced(self, candidate) -> None:
        self.heard.append((candidate.id, candidate.raced_fitness, candidate.raced_seeds))


HEARD = _Heard()


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    path = tmp_path_factory.mktemp("raced") / "run"
    run_search(make_config("tiny", **SETTINGS), path, callbacks=[HEARD])
    return path


def test_the_top_k_carry_n_seeds_and_the_ranking_uses_their_mean(raced):
    store = RunStore.open(raced)
    top = store.hall_of_fame(3)
    assert len(top) == 3 and all(r.raced_seeds == 3 for r in top)
    for row in top:
        seeds = store.races(row.id)
        assert sorted(s.seed for s in seeds) == sorted(set(s.seed for s in seeds)) and len(seeds) == 2
        assert 3 not in {s.seed for s in seeds}  # the search's own seed is the first of the n
        trained = [s for s in seeds if s.source is None and s.status == "ok"]
        assert trained and all(
            set(s.scores) == {"mnist1d-mlp"} and s.scores["mnist1d-mlp"].val_acc is not None for s in trained
        )
        values = [row.outcome.fitness, *(s.fitness for s in seeds)]
        assert row.raced_fitness == pytest.approx(statistics.fmean(values))
        assert row.raced_std == pytest.approx(statistics.stdev(values))
    ranked = [r for r in store.ranked()]
    assert [r.rank_fitness for r in ranked] == sorted((r.rank_fitness for r in ranked), reverse=True)
    assert all(r.raced_seeds == 3 for r in ranked if r.label)  # baselines are raced too, so they compare alike
    unraced = [r for r in store.hall_of_fame(1000) if r.raced_seeds == 1]
    assert unraced and all(not store.races(r.id) for r in unraced)  # never in the top-k: no more seeds
    final = {cid: (mean, seeds) for cid, mean, seeds in HEARD.heard}  # the hooks heard each seed; the last holds
    assert len(HEARD.heard) == len(store.races()) and all(
        final[r.id] == (r.raced_fitness, r.raced_seeds) for r in store.ranked() if r.raced_seeds > 1
    )


def test_show_says_what_racing_spent_and_lists_seeds(raced):
    shown = json.loads(CliRunner().invoke(main, ["show", str(raced), "--json"]).output)
    cascade = shown["cascade"]
    store = RunStore.open(raced)
    assert cascade["race_trainings"] == len(store.races()) > 0 and cascade["race_seconds"] > 0
    best = shown["ranking"][0]
    assert best["raced_seeds"] >= 1 and "raced_fitness" in best
    ranks = [r["rank_fitness"] for r in shown["ranking"]]  # what show ranks by (fitness: the first seed's)
    assert ranks == sorted(ranks, reverse=True) and best["rank_fitness"] == best["raced_fitness"]
    assert all(b["rank_fitness"] == b["raced_fitness"] for b in shown["baselines"])
    text = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["show", str(raced)]).output
    assert "racing: each candidate in the top k = 3 trains on n = 3 seeds" in text and "± " in text
    assert open_run(raced).best.id == store.hall_of_fame(1)[0].id


def test_show_says_when_raced_seeds_failed_and_why(tmp_path):
    """A task that fails on the raced seeds: the counts (per candidate) say 0 failed, so the racing line says how
    many of its trainings failed and the first error, and claims no best by a mean no candidate has."""
    (tmp_path / "picky.py").write_text(
        "import torch\n\ndef net(make_activation, seed, epochs):\n"
        "    y = make_activation()(torch.linspace(-2, 2, 9)).detach()\n"
        "    if seed != 2:\n        raise RuntimeError(f'seed {seed} is bad\\nsecond line')\n"
        "    return {'val_acc': float(torch.sigmoid(y.mean())), 'test_acc': 0.5}\n"
    )
    task = f"{tmp_path / 'picky.py'}:net"
    config = make_config("tiny", seed=2, workers=2, generations=2, tasks=(task,), race_top=2, race_seeds=2)
    run_search(config, tmp_path / "run")
    cascade = json.loads(CliRunner().invoke(main, ["show", str(tmp_path / "run"), "--json"]).output)["cascade"]
    assert (
        cascade["race_failed"] == cascade["race_trainings"] > 0
        and "RuntimeError: seed 1000005 is bad" in cascade["race_error"]
    )
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "run")]).output
    assert not any(line.startswith("second line") for line in shown.splitlines())  # the error's lines made one
    text = " ".join(shown.split())
    assert f"{cascade['race_trainings']} of them failed (the first: RuntimeError: seed 1000005 is bad second" in text
    assert "no evolved candidate has a mean over seeds yet: the ranking is by first seeds" in text
    assert "best by the mean" not in text


def test_raced_seeds_measure_training_only_and_do_not_screen_the_candidate_again(tmp_path):
    """A raced seed reran the random-network stability check under that seed: 0.32*ReLU, which passes it on the
    search's seed 1 but not on the first two racing seeds, was ranked as failing two of its three seeds."""
    (tmp_path / "likes.py").write_text(  # the task prefers exactly 0.32*ReLU (0.64 at 2); others score by their mean
        "import torch\n\ndef net(make_activation, seed, epochs):\n"
        "    y = make_activation()(torch.linspace(-2, 2, 9)).detach()\n"
        "    best = abs(float(y[-1]) - 0.64) < 1e-6 and float(y[0]) == 0.0\n"
        "    return {'val_acc': 0.9 if best else float(torch.sigmoid(y.mean())) / 2, 'test_acc': 0.5}\n"
    )
    space = (Path(__file__).parent.parent / "search_spaces" / "default.toml").read_text()
    (tmp_path / "space.toml").write_text(space.replace("constants = [1.0, 0.5, 2.0]", "constants = [1.0, 0.32]"))
    settings = dict(seed=1, workers=2, generations=1, population=4, race_top=1, race_seeds=3)
    task, space = f"{tmp_path / 'likes.py'}:net", str(tmp_path / "space.toml")
    config = make_config("tiny", tasks=(task,), space=space, guesses=("mul(0.32, relu(x))",), **settings)
    run_search(config, tmp_path / "run")
    store = RunStore.open(tmp_path / "run")
    top = store.hall_of_fame(1)[0]
    assert top.formula == "8*Max(0, x)/25" and (top.raced_seeds, top.raced_failed) == (3, 0)
    assert [r.status for r in store.races(top.id)] == ["ok", "ok"] and top.raced_fitness == pytest.approx(0.9)
    store.close()


@pytest.mark.slow
def test_a_raced_seed_lost_to_the_machinery_is_not_counted_and_a_resume_trains_it_or_fails_it_if_it_times_out_again(
    tmp_path,
):
    """A raced seed that timed out (or lost its worker) is the machinery's failure, not the function's: it used to
    be stored as a failed seed in the candidate's raced counts, which ranks it below every candidate for good. The
    run ends stopped, saying so, since its ranking lacks those seeds, and a resume trains them. A function slow on
    that seed times out there again in every resume: timed out in an earlier session too, it is stored as the
    function's failure, so the run finishes instead of stopping every time."""
    (tmp_path / "sleepy.py").write_text(  # every raced seed sleeps, until `awake`; ReLU's (zero at -2) still does
        "import time, torch\n\ndef net(make_activation, seed, epochs):\n"
        "    y = make_activation()(torch.linspace(-2, 2, 9)).detach()\n"
        "    awake = (__import__('pathlib').Path(__file__).parent / 'awake').exists()\n"
        "    if seed != 2 and (not awake or float(y[0]) == 0.0):\n        time.sleep(60)\n"
        "    return {'val_acc': float(torch.sigmoid(y.mean())), 'test_acc': 0.5}\n"
    )
    task = f"{tmp_path / 'sleepy.py'}:net"
    settings = dict(seed=2, workers=2, generations=1, population=4, race_top=1, race_seeds=2, timeout=5)
    config = make_config("tiny", tasks=(task,), baselines=("relu", "gelu"), **settings)  # each baseline races too
    run_search(config, tmp_path / "run")
    store = RunStore.open(tmp_path / "run")
    assert all(r.raced_failed == 0 and r.raced_seeds == 1 for r in store.ranked()) and not store.races()
    assert (
        store.meta()["state"] == "stopped" and "raced seed(s) were lost to timeouts" in store.meta()["stopped_because"]
    )
    store.close()
    (tmp_path / "awake").touch()  # the machine is well again: a resume trains the lost seeds
    resume_search(tmp_path / "run", trust_user_tasks=True)
    store = RunStore.open(tmp_path / "run")
    assert store.meta()["state"] == "finished"
    top = next(r for r in store.ranked() if not r.label)
    assert top.raced_seeds == 2 and top.raced_failed == 0 and store.races(top.id)[0].status == "ok"
    relu = next(r for r in store.ranked() if r.label == "relu")
    assert relu.raced_failed == 1 and "timed out after 5 s, in an earlier session too" in store.races(relu.id)[0].error
    store.close()


def test_a_resumed_run_computes_a_raced_mean_again_from_its_stored_seeds(raced, tmp_path):
    """A session killed between storing a raced seed and the candidate's mean left the mean behind; the resume took
    the stored seeds as known and never stored the mean again."""
    shutil.copytree(raced, tmp_path / "run")
    store = RunStore.reopen(tmp_path / "run")  # as a resume opens it
    row = store.hall_of_fame(1)[0]
    expected = (row.raced_fitness, row.raced_std, row.raced_seeds)
    store.set_raced(row.id, 0.123, None, 2, 0)  # as a kill left it: a seed stored, its mean not
    config = RunReader(store).config
    racing = Racing(store, config, None, {row.id: store.candidate(row.id)}, None, None, None)
    racing.remember(row.id)
    again = store.candidate(row.id)
    assert (again.raced_fitness, again.raced_std, again.raced_seeds) == pytest.approx(expected)
    store.close()


def test_a_raced_seed_out_of_memory_in_two_sessions_fails_as_the_functions_and_is_not_cached(raced, tmp_path):
    """As a seed that times out twice: one that runs out of memory again in a resume stopped every resume. Neither
    is shared through the fitness cache, whose key holds no timeout and no machine."""
    shutil.copytree(raced, tmp_path / "run")
    store = RunStore.reopen(tmp_path / "run")
    row = store.hall_of_fame(1)[0]
    cache = FitnessCache(tmp_path / "cache.db")
    lost = Outcome(
        "failed", error="out of memory (OutOfMemoryError: CUDA out of memory)", transient=True, exhausted=True
    )
    for session in (1, 2):
        rows = {row.id: store.candidate(row.id)}
        racing = Racing(store, RunReader(store).config, cache, rows, None, None, lambda row: None)
        racing.tickets[7] = (row.id, 123)
        racing.finished(7, lost)
        assert racing.lost == (1 if session == 1 else 0) and len(store.races(row.id)) == 2 + (session == 2)
    failed = next(r for r in store.races(row.id) if r.seed == 123)
    assert failed.status == "failed" and failed.error.endswith("in an earlier session too: counted as the function's")
    assert store.candidate(row.id).raced_failed == 1
    assert cache.get(racing._protocol(123), row.fingerprint) is None  # another machine may have the memory
    store.close()


@pytest.mark.slow
def test_the_same_search_gives_the_same_raced_ranking(raced, tmp_path):
    run_search(make_config("tiny", **SETTINGS), tmp_path / "again" / "run")  # its own folder: its own cache
    assert _ranking(tmp_path / "again" / "run") == _ranking(raced)


def test_race_results_are_shared_through_the_fitness_cache_per_seed(raced):
    first, second = raced, raced.parent / "again"
    run_search(make_config("tiny", **SETTINGS), second)  # the same folder: the same fitness cache
    trained = [r for r in RunStore.open(second).races() if r.source is None]
    reused = [r for r in RunStore.open(second).races() if r.source]
    assert reused and not [r for r in trained if not RunStore.open(second).candidate(r.candidate).label]
    assert _ranking(second) == [(f, m, n, v) for f, m, n, v in _ranking(first)]
    a, b = open_run(first), open_run(second)  # reused, and exported with the constants the first run trained
    learnable = [(x, y) for x, y in zip(a.ranking(), b.ranking()) if "beta" in x.formula]
    assert learnable and all(a.constants(x) == b.constants(y) for x, y in learnable)
    assert all(a.learned(x) == b.learned(y) != {} for x, y in learnable)


def test_race_zero_turns_racing_off_and_bad_settings_are_refused(tmp_path):
    path = tmp_path / "off"
    run_search(make_config("tiny", **{**SETTINGS, "race_top": 0}), path)
    store = RunStore.open(path)
    assert store.races() == [] and all(r.raced_seeds == 1 for r in store.ranked())
    with pytest.raises(ValueError, match="race_seeds must be at least 1"):
        make_config("tiny", race_seeds=0)
    refused = CliRunner().invoke(main, ["search", "--budget", "tiny", "--race", "3,x"])
    assert refused.exit_code != 0 and "--race '3,x'" in refused.output


def test_a_raced_run_killed_mid_way_resumes_to_the_same_ranking(raced, tmp_path):
    run = tmp_path / "parts" / "run"
    args = ["--budget", "tiny", "--task", "mnist1d-mlp", "--generations", "3", "--seed", "3", "--workers", "2"]
    args += ["--epochs", "4", "--race", "3,3", "--runs-dir", str(run.parent), "--name", "run"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "evoact.cli", "search", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:  # kill once some races are stored and more are to come
        if (run / "candidates.db").exists():
            store = RunStore.open(run)
            if len(store.races()) >= 4 and any(r.generation == 1 for r in store.candidates()):
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the search ended before the kill point"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    before = {(r.candidate, r.seed): r.finished_at for r in RunStore.open(run).races()}
    heard = _Heard()
    resume_search(run, callbacks=[heard])
    after = {(r.candidate, r.seed): r.finished_at for r in RunStore.open(run).races()}
    assert all(after[key] == at for key, at in before.items())  # stored races were not trained again
    assert _ranking(run) == _ranking(raced)
    # the hooks hear of a seed once: one stored before the kill came with `resumed`, not as news of racing
    learned = {candidate for candidate, seed in after.keys() - before.keys()}
    assert heard.heard and {cid for cid, _, _ in heard.heard} <= learned


@pytest.mark.slow
def test_racing_works_in_async_mode(tmp_path):
    path = tmp_path / "async"
    run_search(make_config("tiny", **{**SETTINGS, "mode": "async", "workers": 3}), path)
    store = RunStore.open(path)
    assert store.meta()["mode"] == "async"
    top = store.hall_of_fame(3)
    assert len(top) == 3 and all(r.raced_seeds == 3 and len(store.races(r.id)) == 2 for r in top)
    ranked = store.ranked()
    assert [r.rank_fitness for r in ranked] == sorted((r.rank_fitness for r in ranked), reverse=True)
