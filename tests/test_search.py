from evoact.config import make_config
from evoact.search import run_search
from evoact.store import RunStore


def _hall_of_fame(path):
    store = RunStore.open(path)
    return [(r["formula"], r["fitness"], r["test_acc"]) for r in store.hall_of_fame(10)], store


def test_same_seed_gives_the_same_hall_of_fame(tmp_path):
    config = make_config("tiny", seed=3, workers=2, generations=3)
    run_search(config, tmp_path / "a")
    run_search(config, tmp_path / "b")
    first, store = _hall_of_fame(tmp_path / "a")
    second, _ = _hall_of_fame(tmp_path / "b")
    assert first == second and len(first) >= 5
    run_search(make_config("tiny", seed=4, workers=2, generations=3), tmp_path / "c")
    assert _hall_of_fame(tmp_path / "c")[0] != first

    meta, counts = store.meta(), store.counts()
    assert meta["state"] == "finished" and counts["pending"] == 0
    rows = store.candidates()
    baselines = [r for r in rows if r["label"]]
    assert sorted(r["label"] for r in baselines) == ["gelu", "relu", "silu", "tanh"]
    evolved = [r for r in rows if not r["label"]]
    assert {r["generation"] for r in evolved} == {0, 1, 2}
    evaluated = [r for r in evolved if r["stage"] != "static"]
    assert len(evaluated) == 6 + 2 * 4  # stage-1 rejections are refilled, so each generation evaluates its quota
    assert all(r["parents"] for r in evolved if r["origin"] in ("mutation", "crossover", "crossover+mutation"))
    assert store.config()["config"]["seed"] == 3 and "[primitives]" in store.config()["search_space"]["text"]


def test_a_seed_equal_to_a_baseline_reuses_its_result(tmp_path):
    run_search(make_config("tiny", workers=2, generations=1), tmp_path / "run")
    store = RunStore.open(tmp_path / "run")
    silu = next(r for r in store.candidates() if r["label"] == "silu")
    seeded = next(r for r in store.candidates() if r["origin"] == "seed" and r["formula"] == silu["formula"])
    assert seeded["status"] == "duplicate" and seeded["stage"] == "cache"
    assert seeded["duplicate_of"] == silu["id"] and seeded["fitness"] == silu["fitness"]


def test_a_second_run_reuses_the_first_runs_outcomes_through_the_cache(tmp_path):
    run_search(make_config("tiny", workers=2, generations=1, seed=5), tmp_path / "first")
    run_search(make_config("tiny", workers=2, generations=1, seed=5), tmp_path / "second")
    first, second = RunStore.open(tmp_path / "first"), RunStore.open(tmp_path / "second")
    seen = {r["formula"]: r for r in first.candidates() if r["stage"] != "static"}
    again = [r for r in second.candidates() if not r["label"] and r["stage"] != "static"]
    assert len(again) == 6 + 4 and all(r["formula"] in seen for r in again)
    for r in again:  # same seed, same proposals: every one already evaluated is reused, not retrained
        assert r["status"] == "duplicate" and r["stage"] == "cache" and r["equivalent_to"].startswith("first #")
        assert r["fitness"] == seen[r["formula"]]["fitness"]


def test_no_screening_trains_everything_proposed(tmp_path):
    run_search(make_config("tiny", workers=2, generations=1, active=False), tmp_path / "plain")
    rows = [r for r in RunStore.open(tmp_path / "plain").candidates() if not r["label"]]
    assert all(r["stage"] in (None, "cache") and r["status"] != "rejected" for r in rows)
    assert all(r["fingerprint"] is None for r in rows)
