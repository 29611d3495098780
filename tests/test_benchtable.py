import gzip
import json
from dataclasses import replace

import numpy as np
import pytest

import evoact
from evoact.benchtable import BenchTable, TableError, from_runs, load_table, merge, table_for
from evoact.evaluation import evaluate, make_job
from evoact.genome import load_search_space
from evoact.records import Outcome, Stage, Status
from evoact.training import TrainConfig


def test_enumeration_runs_make_a_table_that_maps_every_tree_and_reads_back(tmp_path, tiny_unit):
    space_file = tiny_unit
    runs = {}
    for seed in (0, 1):
        run = evoact.search(
            "tiny",
            name=f"table-s{seed}",
            runs_dir=tmp_path / "runs",
            quiet=True,
            seed=seed,
            space=str(space_file),
            algorithm="enumeration",
            tasks=("feynman-mlp", "mnist1d-mlp"),
            race_top=0,
            population=8,
            offspring=8,
            generations=10,  # more than the 18 trees need: the enumeration ends the run
            workers=2,
        )
        runs[seed] = run.store.candidates()
        assert run.state == "finished" and max(r.generation or 0 for r in runs[seed]) < 9
        run.close()
    space = load_search_space(space_file)
    table = from_runs(space, runs, {"tasks": ["feynman-mlp", "mnist1d-mlp"]})
    assert len(table.trees) == 18 and table.seeds == (0, 1)
    assert {e.label for e in table.entries} >= {"relu", "gelu", "silu", "tanh"}
    swish = table.entry("sigmul(scale(x), identity(x))")
    assert [t.seed for t in swish.trials] == [0, 1] and swish.fitness is not None
    assert swish.fitness == pytest.approx(np.mean([t.fitness for t in swish.trials]))
    assert set(swish.trials[0].scores) == {"feynman-mlp", "mnist1d-mlp"}
    assert swish.measure("mnist1d-mlp", "accuracy", "test") == pytest.approx(
        np.mean([t.scores["mnist1d-mlp"].test_acc for t in swish.trials])
    )
    with pytest.raises(ValueError, match="metric 'test': accuracy or loss"):
        swish.measure("mnist1d-mlp", "test")  # the split where the metric goes
    even = table.entry("mul(identity(x), identity(x))")  # x**2 loses the input's sign: static screening
    assert even.static and even.fitness is None and all(not t.trained for t in even.trials)
    assert not swish.static
    assert table.entry("mul(identity(x), tanh(x))") is table.entry("mul(tanh(x), identity(x))")  # one function
    with pytest.raises(KeyError, match="not in the benchmark table"):
        table.entry("mul(x, x)")

    table.save(tmp_path / "table.json.gz")
    again = load_table(tmp_path / "table.json.gz")
    assert again.plain() == table.plain() and again.trees == table.trees

    unfinished = {0: [*runs[0][:-1], replace(runs[0][-1], outcome=Outcome())]}
    with pytest.raises(TableError, match="no outcome"):
        from_runs(space, unfinished, {"tasks": ["feynman-mlp"]})


def test_the_parts_of_a_sharded_build_merge_into_the_table_one_build_makes(tmp_path, tiny_unit):
    def table(shard, runs_dir):
        run = evoact.search(
            "tiny",
            name=f"table-{shard.replace('/', 'of')}",
            runs_dir=runs_dir,
            quiet=True,
            space=str(tiny_unit),
            algorithm="enumeration",
            shard=shard,
            tasks=("feynman-mlp",),
            race_top=0,
            population=8,
            offspring=8,
            generations=10,
            workers=2,
        )
        rows = run.store.candidates()
        run.close()
        return from_runs(space, {0: rows}, {"tasks": ["feynman-mlp"], "built": shard}, shard)

    space = load_search_space(tiny_unit)
    whole = table("1/1", tmp_path / "whole")  # the parts share their own fitness cache, not the whole's
    first, second = table("1/2", tmp_path / "parts"), table("2/2", tmp_path / "parts")
    assert first.protocol["shard"] == "1/2" and set(first.trees).isdisjoint(second.trees)
    assert len(first.trees) < 18 and len(second.trees) < 18
    merged = merge(space, [second, first])
    assert sorted(merged.trees) == sorted(whole.trees) and merged.protocol["shards"] == 2
    for tree in whole.trees:  # each tree is the same function, with the same verdict (the fitness cache's answer)
        a, b = whole.entry(tree), merged.entry(tree)
        assert (a.formula, a.fingerprint, [t.status for t in a.trials]) == (
            b.formula,
            b.fingerprint,
            [t.status for t in b.trials],
        )
        assert a.fitness == b.fitness
    assert {e.label for e in merged.entries if e.label} == {"relu", "gelu", "silu", "tanh"}  # once each
    trained = next(e for e in second.entries if e.fitness is not None and e.label is None)
    answered = replace(  # as if part 1 had met the function first, answered by a cache another build filled
        trained,
        trees=(),
        trials=tuple(
            replace(t, status=Status.DUPLICATE, stage=Stage.CACHE, fitness=None, scores={}) for t in trained.trials
        ),
    )
    again = merge(space, [BenchTable(first.protocol, (*first.entries, answered)), second])
    assert again.entry(trained.trees[0]).trials == trained.trials  # the part that trained it gives its trials
    only = [e if e is not trained else replace(answered, trees=e.trees) for e in second.entries]
    with pytest.raises(TableError, match="only the answer of a fitness cache"):
        merge(space, [first, BenchTable(second.protocol, tuple(only))])
    stray = next(e for e in first.entries if e.trees)  # a tree of part 1 claimed by part 2
    with pytest.raises(TableError, match="which is another part's"):
        merge(space, [first, BenchTable(second.protocol, (*second.entries, replace(stray, fingerprint="other")))])
    with pytest.raises(TableError, match="not parts 1..N of N"):
        merge(space, [first])
    with pytest.raises(TableError, match="its tasks differs"):
        merge(space, [first, BenchTable({**second.protocol, "tasks": ["mnist1d-mlp"]}, second.entries)])


def test_damaged_tables_are_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(TableError, match="cannot read"):
        load_table(bad)
    bad.write_bytes(gzip.compress(json.dumps({"format": "something else"}).encode()))
    with pytest.raises(TableError, match="not an evoact-benchtable file"):
        load_table(bad)
    bad.write_bytes(json.dumps({"format": "evoact-benchtable", "version": 1, "protocol": {}, "entries": []}).encode())
    with pytest.raises(TableError, match="damaged"):
        load_table(bad)
    protocol = {"space": "core_unit", "tasks": ["a"], "seeds": [0, 1], "epoch_scale": 1.0, "metrics": {"a": "loss"}}
    trial = {"seed": 0, "status": "ok", "scores": {"a": {"val_acc": 0.5, "val_loss": 0.25}}}
    table = {"format": "evoact-benchtable", "version": 1, "protocol": protocol}
    table["entries"] = [{"formula": "Max(0, x)", "label": "relu", "trials": [trial]}]  # seed 1 missing
    bad.write_bytes(json.dumps(table).encode())
    with pytest.raises(TableError, match=r"damaged benchmark table \(Max\(0, x\) has trials for seeds \[0\], not"):
        load_table(bad)  # it loaded, and the surrogate's examples failed with an IndexError
    table["entries"][0]["trials"].append({**trial, "seed": 1, "scores": {"a": {"val_acc": 0.7, "val_loss": 0.75}}})
    bad.write_bytes(json.dumps(table).encode())
    (entry,) = load_table(bad).entries  # a task measured by loss that reports an accuracy too: its loss is its measure
    assert (entry.measure("a", "loss"), entry.measure("a", "accuracy")) == (0.5, pytest.approx(0.6))
    with pytest.raises(TableError, match="cannot read"):
        load_table(tmp_path / "missing.json.gz")
    with pytest.raises(TableError, match="no benchmark table is shipped for the schedule 'long'"):
        load_table(schedule="long")


@pytest.mark.parametrize("schedule", ["short", pytest.param("full", marks=pytest.mark.slow)])
def test_the_shipped_table_agrees_with_a_fresh_training_of_three_of_its_functions(schedule):
    """Three functions (the best, the median and a poor one that trained) trained again on the table's first seed: every
    task's validation measure, the one it is scored by, is the table's to a quarter of one seed-to-seed standard
    deviation (pooled over the table), so the table is what this code trains. (On another seed, the best function's
    text-transformer loss lay 6 of those deviations from the table's mean: its accuracy had been compared instead.)"""
    try:
        table = load_table(schedule=schedule)
    except TableError:
        pytest.skip("the full table is not shipped yet: its parts are built one by one (bench/data)")
    assert len(table.entries) >= 1000 and len(table.trees) == 3087
    scored = sorted(table.scored(), key=lambda e: e.fitness)
    chosen = [scored[-1], scored[len(scored) // 2], scored[len(scored) // 10]]
    seed = table.protocol["seeds"][0]
    train = TrainConfig(seed=seed, epoch_scale=table.protocol["epoch_scale"])
    for entry in chosen:
        plain = evaluate(make_job(entry.formula, table.tasks, train, {"beta": 1.0}))
        fresh = Outcome.from_plain(plain)
        assert fresh.status == Status.OK, fresh.error
        (stored,) = [t for t in entry.trials if t.seed == seed]
        for task in table.tasks:
            metric = table.protocol["metrics"][task]  # text-transformer is scored by its loss, and reports accuracy
            value, then = fresh.scores[task].validation(metric), stored.scores[task].validation(metric)
            assert abs(value - then) <= _seed_sd(table, task) / 4, (entry.formula, task, value, then)


def _seed_sd(table, task):
    """The standard deviation of one training's validation measure on ``task``, from the table's seed pairs: their
    root mean square difference, not their standard deviation, since a seed moves every function alike as well (the
    full table's text-transformer token accuracy is 0.019 apart between its seeds on average, 0.008 around that)."""
    pairs = []
    for entry in table.scored():
        values = [t.scores[task].validation(table.protocol["metrics"][task]) for t in entry.trials]
        pairs.append(values[0] - values[1])
    return float(np.sqrt(np.mean(np.square(pairs)) / 2))


def test_the_surrogate_s_table_is_the_shipped_one_on_the_run_s_tasks_nearest_its_schedule():
    """Of a short and a full table, a quick run (epoch scale 1) starts from the full one, a tiny run (0.1) from the
    short one, a run on other tasks from none; a tiny run on the shipped short table's tasks takes that one."""
    tasks = ("feynman-mlp", "text-transformer")
    short = BenchTable({"space": "core_unit", "tasks": list(tasks), "seeds": [0, 1], "epoch_scale": 0.25}, ())
    full = BenchTable({"space": "core_unit", "tasks": list(tasks), "seeds": [0, 1], "epoch_scale": 1.0}, ())
    assert table_for(tasks, 1.0, [short, full]) is full and table_for(tasks, 2.0, [short, full]) is full
    assert table_for(tasks, 0.1, [short, full]) is short
    assert table_for(("mnist1d-mlp",), 1.0, [short, full]) is None
    shipped = load_table()
    assert table_for(shipped.tasks, 0.1).protocol == shipped.protocol
