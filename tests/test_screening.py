import random
import sqlite3

import numpy as np
import pytest
import torch

from evoact.compiler import compile_activation, lower
from evoact.evaluation import evaluate, make_job
from evoact.formula import parse
from evoact.genome import Genome, load_search_space
from evoact.screening import CacheError, FitnessCache, ScreeningConfig, protocol_key, screen_static, stability_reason
from evoact.screening.kernel import Batch
from evoact.screening.probe import probe_points
from evoact.training import Hurdle, TrainConfig

CONFIG = ScreeningConfig()
KNOWN = ["relu(x)", "gelu(x)", "silu(x)", "mish(x)", "tanh(x)", "softplus(x)"]


def _static(*formulas: str):
    return screen_static(list(formulas), [None] * len(formulas), {"beta": 1.0}, 12, CONFIG)


@pytest.mark.parametrize(
    "formula, reason",
    [
        ("x", "affine function"),
        ("2*x + 1", "affine function"),
        ("3 + 0*x", "constant function"),
        ("exp(exp(x))", "non-finite value or derivative"),
        ("log(-Abs(x) - 1)", "non-finite value or derivative on 100.0%"),
        ("Min(x, exp(x))", "affine function"),  # it is x in disguise
    ],
)
def test_static_screening_rejects_broken_and_flat_functions(formula, reason):
    (verdict,) = _static(formula)
    assert verdict.reason is not None and reason in verdict.reason


def test_a_function_finite_nowhere_is_rejected_even_where_the_limit_allows_every_point():
    """``max_nonfinite = 1`` (the bound's top) let a function finite nowhere past the limit, into an empty array."""
    lenient = ScreeningConfig(max_nonfinite=1.0)
    nowhere, somewhere = screen_static(["log(-Abs(x) - 1)", "x + tanh(x)"], [None, None], {}, 12, lenient)
    assert "non-finite value or derivative on 100.0%" in nowhere.reason and somewhere.reason is None


def test_static_screening_rejects_what_cannot_compile_and_what_is_too_large():
    verdicts = screen_static(["1/(x - x)", "tanh(x)"], [None, 20], {}, 12, CONFIG)
    assert "cannot be compiled" in verdicts[0].reason
    assert verdicts[1].reason == "20 nodes, over the space's limit of 12"


def test_known_activations_pass_stages_1_and_3():
    for formula, verdict in zip(KNOWN, _static(*KNOWN)):
        assert verdict.reason is None, formula
        assert stability_reason(lambda formula=formula: compile_activation(formula), CONFIG) is None, formula


@pytest.mark.parametrize(
    "formula, reason",
    [
        ("sin(1000*x)", "gradient norm"),
        ("x**2", "forward signal explodes"),
        ("x/10 + tanh(x)/100", "forward signal vanishes"),
    ],
)
def test_stability_rejects_unstable_activations(formula, reason):
    no_sign_check = ScreeningConfig(min_rank_correlation=0.0)  # x**2 and sin(1000*x) also lose the input's sign
    assert screen_static([formula], [None], {}, 12, no_sign_check)[0].reason is None  # nothing else wrong statically
    assert reason in stability_reason(lambda: compile_activation(formula), CONFIG)


def test_a_scaled_mish_passes_stability_as_a_scaled_silu_does():
    for formula in ("2*silu(x)", "2*mish(x)", "2*x*tanh(log(exp(x) + 1))"):
        assert stability_reason(lambda formula=formula: compile_activation(formula), CONFIG) is None, formula


def test_fingerprints_identify_functions_not_spellings():
    fps = [
        v.fingerprint
        for v in _static(
            "x*sigmoid(x)",
            "x/(1 + exp(-x))",
            "silu(x)",
            "Min(x, exp(x))",
            "x",
            "x*sigmoid(beta*x)",
            "x*sigmoid(x) + 1e-12*x",
        )
    ]
    assert fps[0] == fps[1] == fps[2]
    assert fps[3] == fps[4]
    assert fps[5] != fps[0]  # a learnable constant makes it a different function
    assert fps[6] == fps[0]  # near-identical functions collide on purpose
    again = _static("silu(x)")[0].fingerprint  # stable across calls (and, being pure arithmetic, processes)
    assert again == fps[0]


def test_kernel_agrees_with_torch_values_and_gradients_on_random_trees():
    xs = probe_points()
    random.seed(11)
    for space in ("default", "ramachandran2017"):
        genome = Genome(load_search_space(space))
        exprs = [genome.to_expr(genome.random_tree()) for _ in range(200)]
        programs = [lower(e) for e in exprs]
        values, derivs = Batch(programs, [{"beta": 0.75}] * len(programs)).evaluate(xs)
        for i, program in enumerate(programs):
            x = torch.tensor(xs, requires_grad=True)
            y = compile_activation(exprs[i], {"beta": 0.75}, mode="autograd").double()(x)
            grad = torch.autograd.grad(y.sum(), x, allow_unused=True)[0] if y.requires_grad else None
            grad = np.zeros_like(xs) if grad is None else grad.numpy()
            same = np.isclose(values[i], y.detach().numpy(), rtol=1e-7, atol=1e-9, equal_nan=True)
            finite = np.isfinite(grad) & np.isfinite(derivs[i])
            slope = np.isclose(derivs[i], grad, rtol=1e-6, atol=1e-8) | ~finite
            assert same.mean() > 0.99 and slope.mean() > 0.99, program.formula  # kinks may differ at a tie point


def test_cache_keeps_the_mean_per_protocol(tmp_path):
    cache = FitnessCache(tmp_path / "cache.db")
    protocol = protocol_key("mnist1d-cnn", {"epochs": 3})
    cache.add(protocol, "fp", "ok", 0.8, None, "tanh(x)", "run #1")
    cache.add(protocol, "fp", "ok", 0.9, None, "tanh(x)", "run #7")
    outcome = cache.get(protocol, "fp")
    assert outcome.evaluations == 2 and outcome.fitness == pytest.approx(0.85) and outcome.source == "run #1"
    assert cache.get(protocol_key("mnist1d-cnn", {"epochs": 4}), "fp") is None
    cache.add(protocol, "bad", "rejected", None, "forward signal explodes", "x**2", "run #3")
    assert cache.get(protocol, "bad").reason == "forward signal explodes"
    cache.close()
    assert FitnessCache(tmp_path / "cache.db").get(protocol, "fp").evaluations == 2  # persists across processes


def test_cache_keeps_trained_constants_for_the_formula_that_learned_them(tmp_path):
    """A reuse exports the constants its formula trained to; an equivalent formula's (another parameterisation)
    gets none, and a tampered value is dropped rather than exported."""
    cache = FitnessCache(tmp_path / "cache.db")
    protocol = protocol_key("mnist1d-cnn", {"epochs": 3})
    cache.add(protocol, "fp", "ok", 0.8, None, "x*tanh(beta*x)", "run #1", learned={"beta": (1.1, 1.3)})
    cache.add(protocol, "fp", "ok", 0.9, None, "x*tanh(x*beta)", "run #2")  # no constants: nothing recorded
    assert cache.learned(protocol, "fp", "x*tanh(beta*x)") == {"beta": (1.1, 1.3)}
    assert cache.learned(protocol, "fp", "beta*x*tanh(x)") == {}
    for tampered in ('{"beta": ["import os"]}', '{"beta": [1' + "0" * 400 + "]}", "[" * 100_000, '{"gamma": [1]}'):
        cache._conn.execute("UPDATE learned SET learned = ?", (tampered,))
        assert cache.learned(protocol, "fp", "x*tanh(beta*x)") == {}, tampered[:20]


def test_cache_means_count_only_the_evaluations_that_gave_a_fitness(tmp_path):
    """A function trained twice, once to the end and once stopped by a hurdle, keeps the fitness it had, and its
    relative per-task scores (what the surrogate learns from) are averaged like the fitness."""
    cache = FitnessCache(tmp_path / "cache.db")
    protocol = protocol_key("mnist1d-cnn", {"epochs": 3})
    cache.add(protocol, "fp", "ok", 0.8, None, "tanh(x)", "run #1", (0.9, 1.1), "family")
    cache.add(protocol, "fp", "rejected", None, "below the hurdle", "tanh(x)", "run #2", None, "family")
    cache.add(protocol, "fp", "ok", 0.9, None, "tanh(x)", "run #3", (1.0, 1.2), "family")
    outcome = cache.get(protocol, "fp")
    assert outcome.evaluations == 3 and outcome.fitness == pytest.approx(0.85)
    assert outcome.scores == pytest.approx((0.95, 1.15))
    other_seed = protocol_key("mnist1d-cnn", {"epochs": 3, "seed": 1})
    cache.add(other_seed, "bad", "rejected", None, "forward signal explodes", "x**2", "run #4", None, "family")
    cache.add(other_seed, "fp", "ok", 0.7, None, "tanh(x)", "run #4", (0.8, 1.0), "family")
    cache.add(protocol, "other", "ok", 0.7, None, "sin(x)", "run #5", (0.8, 1.0), "another family")
    assert cache.get(protocol, "fp").fitness == pytest.approx(0.85)  # a protocol's mean is its own
    known = [(o.formula, o.status, o.fitness) for o in cache.known("family")]
    assert known == [("tanh(x)", "ok", pytest.approx(0.85)), ("x**2", "rejected", None), ("tanh(x)", "ok", 0.7)]


def test_a_cache_written_by_an_earlier_version_keeps_its_means_and_both_versions_go_on_writing(tmp_path):
    """The first schema's file opens as it is (the new facts live beside it): its means are those it had, an earlier
    version's insert still works after a new version opened it, and an old entry joins its family when trained
    again."""
    path = tmp_path / "cache.db"
    first = (
        "CREATE TABLE outcomes (protocol TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,"
        " evaluations INTEGER NOT NULL, fitness_sum REAL, reason TEXT, formula TEXT NOT NULL, source TEXT NOT NULL,"
        " PRIMARY KEY (protocol, fingerprint));"
        " INSERT INTO outcomes VALUES ('p', 'fp', 'ok', 2, 1.7, NULL, 'tanh(x)', 'run #1');"
        " INSERT INTO outcomes VALUES ('p', 'bad', 'rejected', 1, NULL, 'too weak', 'x**2', 'run #2');"
    )
    old = sqlite3.connect(path)
    old.executescript(first)
    cache = FitnessCache(path)
    assert cache.get("p", "fp").fitness == pytest.approx(0.85) and cache.get("p", "fp").scores is None
    assert cache.get("p", "bad").fitness is None and cache.get("p", "bad").reason == "too weak"
    assert cache.known("family") == []
    old.execute("INSERT INTO outcomes VALUES ('p', 'new', 'ok', 1, 0.5, NULL, 'sin(x)', 'run #9')")  # still writes
    old.commit()
    assert cache.get("p", "new").fitness == 0.5
    cache.add("p", "fp", "ok", 0.9, None, "tanh(x)", "run #3", (1.0,), "family")
    assert cache.get("p", "fp").fitness == pytest.approx(2.6 / 3) and cache.get("p", "fp").scores == (1.0,)
    assert [o.formula for o in cache.known("family")] == ["tanh(x)"]
    cache.close()
    assert FitnessCache(path).get("p", "fp").evaluations == 3


def test_a_damaged_cache_file_is_named_in_one_line_and_left_as_it_was(tmp_path):
    path = tmp_path / "cache.db"
    cache = FitnessCache(path)
    for i in range(400):  # several pages
        cache.add("p", f"fp{i}", "ok", 0.5, None, f"tanh(x) + {i}", "run #1")
    cache.close()
    data = bytearray(path.read_bytes())
    data[4096 * 3 : 4096 * 5] = b"\xff" * (4096 * 2)  # pages 4 and 5 overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=f"the fitness cache {path} is damaged or not a cache .*--no-cache"):
        FitnessCache(path)
    assert path.read_bytes() == bytes(data)
    path.write_bytes(b"not a database at all, but long enough to look like a header...." * 10)
    with pytest.raises(CacheError, match="damaged or not a cache"):
        FitnessCache(path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(
        CacheError, match="cannot use the fitness cache .*folder .*move it aside .*start a search with --no-cache"
    ):
        FitnessCache(tmp_path / "folder")


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE outcomes SET fitness_sum = 'high'",
        "UPDATE outcomes SET status = 'great'",
        "UPDATE outcomes SET evaluations = -3",
        "UPDATE details SET scores_sum = '[\"x\"]'",
        "UPDATE details SET scores_sum = '{\"a\": 1}'",
        "UPDATE details SET scores_sum = '[' || replace(hex(zeroblob(20000)), '00', '[') || '1'",
    ],
)
def test_an_entry_the_cache_did_not_write_is_named_in_one_line(tmp_path, change):
    """The cache is a file shared by a folder's runs (a received folder brings its own): a crafted entry raised a
    TypeError where a search or the surrogate read it."""
    import sqlite3

    path = tmp_path / "cache.db"
    cache = FitnessCache(path)
    cache.add("p", "fp", "ok", 0.5, None, "tanh(x)", "run #1", scores=[0.9, 1.1], family="f")
    cache.close()
    with sqlite3.connect(path) as db:
        db.execute(change)
    cache = FitnessCache(path)
    for read in (lambda: cache.get("p", "fp"), lambda: cache.known("f")):
        with pytest.raises(CacheError, match=f"fitness cache {path} holds an entry evoact did not write .*no-cache"):
            read()
    cache.close()


def _at(accuracy: float) -> dict[str, Hurdle]:
    """A quality hurdle on mnist1d-cnn's accuracy."""
    return {"mnist1d-cnn": Hurdle("accuracy", accuracy)}


def test_quality_hurdle_stops_weak_candidates_and_leaves_survivors_untouched():
    train = TrainConfig(epochs=3)
    weak = evaluate(make_job("tanh(x)", ("mnist1d-cnn",), train, {}, CONFIG, hurdles=_at(0.99)))
    assert weak["status"] == "rejected" and weak["stage"] == "quality" and "below the hurdle 0.9900" in weak["error"]
    plain = evaluate(make_job("relu(x)", ("mnist1d-cnn",), train, {}))
    screened = evaluate(make_job("relu(x)", ("mnist1d-cnn",), train, {}, CONFIG, hurdles=_at(0.2)))
    assert (
        screened["status"] == "ok"
        and screened["val_acc"] == plain["val_acc"]
        and screened["test_acc"] == plain["test_acc"]
    )
    assert screened["probe_acc"] is not None


def test_unstable_candidates_are_rejected_in_the_worker_before_training():
    result = evaluate(
        make_job(
            "sin(1000*x)",
            ("mnist1d-cnn",),
            TrainConfig(epochs=3),
            {},
            CONFIG,
            hurdles=_at(0.2),
        )
    )
    assert result["status"] == "rejected" and result["stage"] == "stability" and "train_seconds" not in result


def test_parse_of_known_formulas_is_what_the_kernel_sees():
    (verdict,) = _static("relu(x)")
    assert verdict.fingerprint == _static(str(parse("Max(x, 0)")))[0].fingerprint


EVEN = "even, or a deep or wide dip"


@pytest.mark.parametrize(
    "formula, why, rho",
    [
        ("x*erf(x)", EVEN, "0.00"),  # even: x and -x give the next layer the same value
        ("x*tanh(x*(beta + 1))", EVEN, "0.00"),
        ("(x + log(exp(x) + 1))*tanh(x)", EVEN, "0.42"),  # |x|-like for x < 0
        ("Min(x, beta - Abs(x))", EVEN, "0.59"),
        ("x*sigmoid(4*x)", EVEN, "0.78"),  # keeps the sign, but its dip reverses most negative inputs' ranks (docs)
        # monotone, but constant below x = 1.23 (it was called "even, or a deep or wide dip", which inspect denied)
        ("Max(tanh(x), erf(1))", "constant on 89% of N(0, 1), where x's sign is lost", "0.54"),
    ],
)
def test_static_screening_rejects_units_that_lose_the_input_sign(formula, why, rho):
    (verdict,) = _static(formula)
    assert verdict.reason == (
        f"too far from monotone in x to keep its sign ({why}): rank correlation with x on N(0, 1)"
        f" is {rho} (minimum 0.8; --min-rank-correlation 0 turns it off)"
    )
    (off,) = screen_static([formula], [None], {"beta": 1.0}, 12, ScreeningConfig(min_rank_correlation=0.0))
    assert off.reason is None  # the tail check, which such units fail too, refines the sign check: off with it


def test_a_glu_gate_may_be_affine_or_even_but_not_constant():
    """A gate is multiplied by the layer's other projection: x makes the bilinear GLU (Shazeer 2020) and x**2 keeps
    the sign through it; a constant gate leaves a linear layer, and a broken one is broken everywhere."""
    gates = ["x", "beta*x", "x**2", "x*erf(x)", "3 + 0*x", "exp(exp(x))"]
    verdicts = screen_static(gates, [None] * len(gates), {"beta": 1.0}, 12, CONFIG, gate=True)
    assert [v.reason for v in verdicts[:4]] == [None] * 4
    assert "constant function" in verdicts[4].reason and "non-finite" in verdicts[5].reason
    assert all(v.reason for v in _static(*gates[:4]))  # as pointwise activations: affine or sign-losing


def test_the_sign_check_keeps_mirror_images_and_non_monotone_units_that_keep_the_sign():
    kept = ["-Max(0, x)", "gelu(x)", "x + sin(x)**2", "exp(Max(0, x)**2)", "(x + tanh(x) + atan(x))/(1 + exp(-x))"]
    assert [v.reason for v in _static(*kept)] == [None] * len(kept)


@pytest.mark.parametrize(
    "formula, turn",
    [
        ("(2 - x)*tanh(x)", "1.50"),  # rank correlation 0.89 on N(0, 1), yet both tails fall like -|x|
        ("-(2 - x)*tanh(x)", "1.50"),  # its mirror image: a falling trend, turned against in the tails too
        ("(x + 2)*tanh(tanh(x))", "1.48"),  # grows like |x| below -2
        ("sin(x)", "1.00"),
    ],
)
def test_the_tail_check_rejects_units_whose_tails_turn_against_the_sign_they_keep(formula, turn):
    (verdict,) = _static(formula)
    assert verdict.reason == (
        f"its tails undo the sign it keeps near 0: over [-10, 10] it turns against its trend by {turn} of its range"
        " on N(0, 1) (maximum 0.5; --max-tail-reversal 0 turns it off)"
    )
    (off,) = screen_static([formula], [None], {"beta": 1.0}, 12, ScreeningConfig(max_tail_reversal=0.0))
    assert off.reason is None


def test_the_tail_check_keeps_the_dips_of_published_units_and_the_readmes_winners():
    kept = [
        *KNOWN,
        "-silu(x)",
        "x*erf(log(exp(x) + 1))",  # Serf
        "x*Max(0, Min(1, x/6 + 1/2))",  # HardSwish
        "x + sin(x)**2",  # Snake: it wiggles, but never back below where it was
        "x/(1 + exp(-x*exp(1/2)))",
        "x*erf(1/(1 + exp(-x)))",
        "(-x + erf(log(1 + exp(1/2))))/(1 + exp(-x))",
    ]
    assert [v.reason for v in _static(*kept)] == [None] * len(kept)
