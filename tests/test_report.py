import base64
import re

import pytest

import evoact.report
from evoact.config import make_config
from evoact.driver import run_search
from evoact.records import Outcome
from evoact.report import progress_png, render_report, write_report
from evoact.run import RunReader
from evoact.store import RunStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "run"
    run_search(
        make_config("tiny", seed=1, workers=2, generations=2, tasks=("mnist1d-mlp",), epochs=3), path
    )  # curves: 3 epochs
    return RunStore.open(path)


def test_the_report_is_one_self_contained_file(store):
    page = render_report(store, top=3)
    assert not re.search(r'(?:src|href)\s*=\s*["\'](?!data:)', page)  # nothing to fetch
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1 + 1 + min(3, len(store.hall_of_fame(3)))  # progress, learning curves, one plot per entry
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    for row in store.hall_of_fame(3):
        assert row.formula.replace("<", "&lt;").replace(">", "&gt;") in page
    assert "Rejection cascade" in page and "baseline" in page.lower() and "nearest known" in page
    assert re.search(r"<td>cost vs ReLU[^<]*</td><td>[0-9.]+ \(quartiles [0-9.]+-[0-9.]+ over 15 rounds\)</td>", page)


def test_the_report_renders_in_headless_chromium_with_every_image(store, tmp_path, browser):
    """Open the report in headless Chromium, check every image decoded, and take a screenshot."""
    report = write_report(store, tmp_path / "report.html", top=3)
    browser.get(report.resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 2 + len(store.hall_of_fame(3))
    assert all(done and w > 100 and h > 100 for done, w, h in images), images
    assert browser.title.startswith("evoact report")
    for section in ("verdict", "curves", "lineage"):  # what the report answers first, and the winner's ancestry
        assert browser.find_element("id", section).is_displayed(), section
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_the_verdict_calls_the_top_candidate_a_winner_only_when_it_beats_the_best_baseline_beyond_noise(
    small_run, tmp_path
):
    """A lead on one seed each, or within the raced seeds' spread, is no win: the report says "Best evolved" and
    why; a lead beyond the spread is a win; a lead the baseline has is no win either."""
    import shutil

    def head(run) -> str:
        found = re.search(r"<div id='verdict'><h2>Verdict</h2><p>([^:<]+):", render_report(RunStore.open(run), top=2))
        assert found is not None
        return found.group(1)

    assert head(small_run) == "Best evolved"  # x*tanh(x) at 0.9 against relu's 0.8, one seed each
    page = render_report(RunStore.open(small_run), top=2)
    assert "leads the baseline relu by 0.1000, on one seed," in page and "confirm it on fresh seeds" in page
    assert f"Not confirmed yet: <code>evoact confirm {small_run}</code>" in page  # the command, not a placeholder
    assert "best baseline (validation, first training)" in page
    for n, (spread, called) in enumerate(((0.15, "Best evolved"), (0.02, "Winner"))):
        shutil.copytree(small_run, tmp_path / f"raced{n}")
        store = RunStore.reopen(tmp_path / f"raced{n}")
        mine = next(r.id for r in store.candidates() if not r.label)
        store.set_raced(mine, 0.9, spread, 3, 0)
        store.set_raced(next(r.id for r in store.candidates() if r.label == "relu"), 0.8, 0.01, 3, 0)
        store.close()
        assert head(tmp_path / f"raced{n}") == called, spread
    assert "spreads (sd 0.1500)" in render_report(RunStore.open(tmp_path / "raced0"), top=2)
    shutil.copytree(small_run, tmp_path / "run")
    store = RunStore.reopen(tmp_path / "run")
    store.set_fitness(next(r.id for r in store.candidates() if r.label == "relu"), 0.95)
    store.close()
    assert head(tmp_path / "run") == "Best evolved"


def test_the_hall_of_fame_marks_a_variant_as_show_does(tmp_path):
    """`2*x*tanh(x)` only rescales `x*tanh(x)`: the report's hall of fame says so, as `show` nests it."""
    from evoact.genome import load_search_space
    from evoact.records import Outcome

    config = make_config("tiny", tasks=("mnist1d-mlp",)).to_dict()
    space = load_search_space("default")
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": space.text, "source": "x"}})
    ids = [store.add_candidate(f, "random", generation=0, nodes=4) for f in ("x*tanh(x)", "2*x*tanh(x)", "tanh(x)")]
    for cid, fitness in zip(ids, (0.9, 0.85, 0.7)):
        store.record_result(cid, Outcome("ok", fitness=fitness, val_acc=fitness))
    store.close()
    page = render_report(RunStore.open(tmp_path / "run"), top=3)
    heads = re.findall(r"<h3>#\d &middot; candidate (\d+):.*?</h3>", page)
    assert [int(h) for h in heads] == ids
    assert page.count("(a variant of") == 1 and f"(a variant of #{ids[0]}: 2 &times; it" in page


def test_the_hall_of_fame_gives_a_learned_constant_as_its_mean_over_the_layers(tmp_path):
    """What the exported module starts from, with the layers' range: not the raw list of every layer's value."""
    from evoact.genome import load_search_space
    from evoact.records import Outcome

    config = make_config("tiny", tasks=("mnist1d-mlp",)).to_dict()
    space = load_search_space("default")
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": space.text, "source": "x"}})
    cid = store.add_candidate("x/(1 + exp(-beta*x))", "random", generation=0, nodes=5)
    store.record_result(cid, Outcome("ok", fitness=0.9, val_acc=0.9, learned={"beta": (1.2, 1.4, 1.6)}))
    store.close()
    page = render_report(RunStore.open(tmp_path / "run"), top=1)
    assert "<td>beta = 1.4 (3 layer values, 1.2 to 1.6)</td>" in page and "[1.2, 1.4, 1.6]" not in page


def test_a_lead_within_noise_is_a_win_once_a_confirmation_finds_it_better_and_never_after_one_finds_it_worse():
    from evoact.summaries import BaselineRef, ConfirmedVerdict, FunctionRef, Verdict

    def verdict(*found: str, std: float | None = 0.05) -> Verdict:
        confirmed = {f"t{i}": ConfirmedVerdict(True, "gelu", 0.01, 0.01, v) for i, v in enumerate(found)}
        return Verdict(
            FunctionRef(7, "x*tanh(x)", 1.02, std, 3 if std else 1),
            BaselineRef("gelu", 1.0, 0.01, 3),
            0.02,
            {},
            confirmed or None,
        )

    assert verdict().within_noise and not verdict().wins and "the larger of their seeds' spreads" in verdict().note
    assert verdict("better").wins and verdict("better").note is None  # fresh seeds settled it
    assert not verdict("better", "worse").wins and "significantly worse than gelu" in verdict("better", "worse").note
    assert verdict(std=0.001).wins and verdict(std=0.001).note is None  # beyond both spreads
    beyond = verdict("no significant difference", "-", std=0.001)  # fresh seeds judge it: the search's lead is luck
    assert (
        not beyond.wins and "in the search, but on fresh seeds (evoact confirm) it was not found better" in beyond.note
    )
    assert verdict("better", "no significant difference", std=0.001).wins  # better somewhere, worse nowhere
    assert verdict("-", std=0.001).wins  # a confirmation that could judge nothing leaves the search's verdict
    one = verdict(std=None)  # the winner on one seed, the baseline raced: its luck is unknown
    assert not one.wins and "on one seed, which says nothing of its seeds' spread" in one.note


@pytest.mark.parametrize(
    "tasks, label",
    [
        (("mnist1d-mlp",), "fitness (validation accuracy)"),
        (("feynman-mlp",), "fitness (minus validation loss)"),  # it was labelled accuracy
        (("mnist1d-mlp", "feynman-mlp"), "fitness (relative to the best baseline)"),
    ],
)
def test_the_progress_plot_says_what_the_runs_fitness_measures(tasks, label, tmp_path, monkeypatch):
    config = make_config("tiny", tasks=tasks).to_dict()
    store = RunStore.create(tmp_path / "run", {"config": config, "search_space": {"text": "", "source": "default"}})
    for generation in (0, 1):
        done = Outcome("ok", fitness=-0.5 + generation, val_acc=0.5)
        store.record_result(store.add_candidate(f"x + {generation}*tanh(x)", "random", generation=generation), done)
    drawn = []
    monkeypatch.setattr(evoact.report, "figure_png", lambda fig: drawn.append(fig.axes[0].get_ylabel()) or b"")
    progress_png(RunReader(store))
    assert drawn == [label]
    store.close()
