"""The surrogate stage in real searches: what it skips and why, what it starts from, a pool ranked, a resume alike."""

import shutil

import pytest
from click.testing import CliRunner

import evoact
from evoact.cli import main
from evoact.config import fitness_protocol
from evoact.screening import CACHE_FILE, FitnessCache


def _decisions(run):
    return [(r.formula, str(r.status), str(r.outcome.stage), r.outcome.error) for r in run.store.candidates()]


SETTINGS = dict(quiet=True, seed=2, surrogate=0.3, workers=2, generations=3, epoch_scale=0.05)


def test_a_search_with_the_surrogate_records_its_skips_and_without_it_skips_none(tmp_path):
    """Through the public search path, on the table's tasks (so the surrogate starts from the shipped table): skips are
    stored with the prediction that decided them, and ``show`` counts them with the time saved."""
    whole = evoact.search("tiny", name="whole", runs_dir=tmp_path / "a", **SETTINGS)
    skipped = [r for r in whole.store.candidates() if r.outcome.stage == "surrogate"]
    trained = [r for r in whole.store.candidates() if r.label is None and r.status == "ok"]
    assert (
        skipped and trained and all(r.status == "rejected" and "surrogate predicts" in r.outcome.error for r in skipped)
    )
    assert any(r.generation == 0 for r in skipped)  # so one generation without it, below, is a fair comparison
    cascade = whole.cascade()
    assert cascade.skipped_surrogate == len(skipped) and cascade.surrogate_seconds_saved > 0
    shown = CliRunner().invoke(main, ["show", str(whole.path)])
    said = " ".join(shown.output.split())
    assert shown.exit_code == 0 and f"{len(skipped)} skipped by the surrogate" in said
    hits = cascade.cache_hits
    assert f"{hits} cache hit{'' if hits == 1 else 's'} (functions met before: status duplicate)" in said

    off = evoact.search("tiny", name="off", runs_dir=tmp_path / "c", **{**SETTINGS, "surrogate": 0.0, "generations": 1})
    assert not [r for r in off.store.candidates() if r.outcome.stage == "surrogate"]
    for run in (whole, off):
        run.close()


@pytest.mark.slow
def test_a_search_with_the_surrogate_stopped_and_resumed_decides_alike(tmp_path):
    """A run stopped after its first generation and resumed makes every decision the uninterrupted run made."""
    whole = evoact.search("tiny", name="whole", runs_dir=tmp_path / "a", **SETTINGS)
    stopped = evoact.search("tiny", name="part", runs_dir=tmp_path / "b", target_fitness=-1e9, **SETTINGS)
    assert stopped.state == "stopped"
    resumed = stopped.resume()
    assert resumed.state == "finished" and _decisions(resumed) == _decisions(whole)
    for run in (whole, resumed, stopped):
        run.close()


def test_the_surrogate_starts_from_what_earlier_runs_of_the_folder_trained(tmp_path):
    """On a task the table does not hold, the surrogate starts from the shared fitness cache's results under the run's
    protocol with any seed: it skips candidates from generation 0, where a run with an empty cache trains them all.
    The snapshot is stored in the run, so a run resumed after the cache grew decides as its uninterrupted twin."""
    settings = {**SETTINGS, "tasks": ["mnist1d-mlp"], "generations": 2}
    evoact.search("tiny", name="first", runs_dir=tmp_path / "a", **{**settings, "surrogate": 0.0, "seed": 5}).close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # two folders whose caches hold the same results
    whole = evoact.search("tiny", name="second", runs_dir=tmp_path / "a", **settings)
    meta = whole.store.meta()
    snapshot = meta["surrogate_cache_prior"]
    assert meta["surrogate_prior"] == {
        "functions of the benchmark table": 0,
        "results in the shared fitness cache": len(snapshot),
    }
    assert sum(scores is not None for _, scores in snapshot) >= 10
    first_generation = [r for r in whole.store.candidates() if r.generation == 0 and r.label is None]
    assert any(r.outcome.stage == "surrogate" for r in first_generation)
    alone = evoact.search("tiny", name="alone", runs_dir=tmp_path / "empty", target_fitness=-1e9, **settings)
    assert alone.store.meta()["surrogate_cache_prior"] == []
    assert not any(r.outcome.stage == "surrogate" for r in alone.store.candidates() if r.generation == 0)

    stopped = evoact.search("tiny", name="second", runs_dir=tmp_path / "b", target_fitness=-1e9, **settings)
    assert stopped.state == "stopped"
    evoact.search("tiny", name="third", runs_dir=tmp_path / "b", **{**settings, "surrogate": 0.0, "seed": 9}).close()
    family = fitness_protocol(whole.config, seeded=False)  # the runs' seeds differ: their family is one
    assert len(FitnessCache(tmp_path / "b" / CACHE_FILE).known(family)) > len(snapshot)  # the cache grew
    resumed = stopped.resume()
    assert resumed.state == "finished" and resumed.store.meta()["surrogate_cache_prior"] == snapshot
    assert _decisions(resumed) == _decisions(whole)
    shown = CliRunner().invoke(main, ["show", str(resumed.path)])
    assert (
        f"surrogate: started from 0 functions of the benchmark table and {len(snapshot)} results in the shared"
        " fitness cache" in " ".join(shown.output.split())
    )
    for run in (whole, alone, stopped, resumed):
        run.close()


def test_a_search_selecting_from_a_pool_trains_each_generation_s_quota_and_records_the_rest_as_ranked_out(
    tmp_path, capsys
):
    """``--surrogate-pool 4``: each generation asks 4 times its quota and the quota's worth train (the surrogate starts
    from the shipped table on these tasks, so it ranks from generation 0); the rest are stored with their rank."""
    settings = {**SETTINGS, "surrogate": 0.0, "surrogate_pool": 4, "quiet": False, "generations": 2}
    guess = "mul(atan(x), exp(x))"  # the user's own tree goes to the workers, however it ranks
    run = evoact.search("tiny", name="pool", runs_dir=tmp_path, guesses=(guess,), **settings)
    rows = [r for r in run.store.candidates() if r.label is None]
    (guessed,) = [r for r in rows if r.origin == "guess"]
    assert guessed.outcome.stage not in ("static", "cache", "surrogate")
    quota = {0: 6, 1: 4}
    for generation, wanted in quota.items():
        mine = [r for r in rows if r.generation == generation]
        trained = [r for r in mine if r.outcome.stage not in ("static", "cache", "surrogate")]
        ranked_out = [r for r in mine if r.outcome.stage == "surrogate"]
        assert len(trained) == wanted and len(mine) >= 4 * wanted
        assert ranked_out and all("the surrogate ranks it" in r.outcome.error for r in ranked_out)
    cascade = run.cascade()  # what it ranked out only the pool proposed: no time counted as saved
    assert cascade.skipped_surrogate == sum(r.outcome.stage == "surrogate" for r in rows)
    assert cascade.surrogate_seconds_saved == 0.0
    # nor is the pool's extra screening: of a pooled generation's static and cache rejections, a quarter count as saved
    assert run.store.meta()["pooled_generations"] == [0, 1]
    removed = cascade.rejected_static + cascade.cache_hits
    assert removed > 0 and cascade.train_seconds_saved < cascade.full_training_seconds * removed
    shown = capsys.readouterr().err
    assert "10/10 #" in shown and "11/10" not in shown and "the surrogate ranked" in shown
    printed = " ".join(CliRunner().invoke(main, ["show", str(run.path)], terminal_width=400).output.split())
    assert f"{cascade.skipped_surrogate} skipped by the surrogate (ranked below their generation's top" in printed
    run.close()
    with pytest.raises(ValueError, match="^surrogate_pool ranks each generation's proposals: it does not go with"):
        evoact.search("tiny", name="both", runs_dir=tmp_path, **{**settings, "surrogate": 0.3})
