"""The surrogate: predicts each task's relative score, and so the fitness, of an activation it has not trained.

After AQuaSurF (Bingham & Miikkulainen 2023), written from the paper: features that take milliseconds
(``features.py``) and a regressor from scikit-learn (extremely randomised trees, chosen by cross-validated rank
correlation on the benchmark table: ``bench/results/surrogate.md``). It starts from the benchmark table
(``benchtable.py``) and learns from a run's own results as they come.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from evoact.benchtable import BenchTable
from evoact.features import features, probe_values
from evoact.records import Candidate, Outcome, Status, TaskScore
from evoact.scoring import aggregate, normalised, references

if TYPE_CHECKING:
    from sklearn.ensemble import ExtraTreesRegressor

TREES = 200
_FEATURES: dict[tuple, dict[str, np.ndarray]] = {}  # params -> formula -> features: computed once per process
EXPLORE = 0.1  # of the candidates the surrogate stage would skip, the share that trains anyway
MIN_TRAINED = 10  # functions trained to the end before the surrogate fits


@dataclass
class Example:
    """What the surrogate learns from: a function and its per-task relative scores (None: it did not train to the
    end, so it counts as the worst seen on every task), measured at ``schedule`` times the run's training length (a
    benchmark table's shorter schedule: below 1; a longer one, as a tiny run's table: above)."""

    formula: str
    scores: tuple[float, ...] | None
    schedule: float = 1.0


@dataclass
class Surrogate:
    """Per-task relative scores predicted from features (the fitness is their aggregate: ``Gate``). ``params``: the
    learnable constants' initial values the features are read at."""

    tasks: tuple[str, ...]
    params: dict[str, float]
    seed: int = 0
    examples: list[Example] = field(default_factory=list)
    #: formula -> features; by default shared by every surrogate of this process with the same ``params``
    feature_cache: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _model: ExtraTreesRegressor | None = field(default=None, repr=False)
    by_schedule: bool = field(default=False, repr=False)  # fitted with the schedule as a feature
    ranked: bool = field(
        default=False, repr=False
    )  # fitted to ranks (``schedule_ranks``): some scores are not the run's
    #: after ``fit``: each example's scores predicted by the trees that did not see it (the honest spread)
    out_of_bag: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.feature_cache is None:
            self.feature_cache = _FEATURES.setdefault(tuple(sorted(self.params.items())), {})

    def _features(self, formulas: Sequence[str]) -> np.ndarray:
        cache = self.feature_cache
        assert cache is not None  # set in __post_init__
        new = [f for f in dict.fromkeys(formulas) if f not in cache]
        if new:
            cache.update(zip(new, features(new, self.params)))
        return np.array([cache[f] for f in formulas]).reshape(len(formulas), -1)

    def _rows(self, formulas: Sequence[str], schedules: Sequence[float]) -> np.ndarray:
        """The regressor's input: the features, and where the model learns from several training lengths, the
        length (log2 of the share of the run's: 0 for the run's own), so that scores measured on a shorter
        schedule inform the run's without being taken for it (two fidelities, as NAS-Bench-201 keeps)."""
        x = self._features(formulas)
        return np.hstack([x, np.log2(np.asarray(schedules, float))[:, None]]) if self.by_schedule else x

    def add(self, examples: Sequence[Example]) -> None:
        """Learn from more functions at the next ``fit``."""
        self.examples.extend(examples)

    def fit(self) -> bool:
        """Fit the regressor to every example so far; False (and no model) while fewer than ``MIN_TRAINED`` trained to
        the end."""
        known = [e for e in self.examples if e.scores is not None]
        if len(known) < MIN_TRAINED:
            self._model = None
            return False
        y = targets(self.examples)
        schedules = [e.schedule for e in self.examples]
        self.by_schedule = len(set(schedules)) > 1
        self.ranked = any(schedule != 1.0 for schedule in schedules)
        if self.ranked:
            y = schedule_ranks(y, schedules)
        from sklearn.ensemble import ExtraTreesRegressor  # here: sklearn is slow to import; most commands fit nothing

        self._model = ExtraTreesRegressor(
            TREES, min_samples_leaf=2, bootstrap=True, oob_score=True, n_jobs=1, random_state=self.seed
        )
        with warnings.catch_warnings():  # a few examples may never be out of the bag: their row is NaN
            warnings.simplefilter("ignore", UserWarning)
            self._model.fit(self._rows([e.formula for e in self.examples], schedules), y)
        self.out_of_bag = np.asarray(self._model.oob_prediction_).reshape(len(y), len(self.tasks))
        return True

    def predict_scores(self, formulas: Sequence[str]) -> np.ndarray:
        """Predicted relative scores at the run's own schedule (where ``ranked``, their ranks among the functions it
        knows, from 0 to 1): one row per formula, one column per task."""
        if self._model is None:
            raise RuntimeError("the surrogate is not fitted yet")
        out = self._model.predict(self._rows(formulas, [1.0] * len(formulas)))
        return out.reshape(len(formulas), len(self.tasks))


def function_groups(formulas: Sequence[str], params: dict[str, float]) -> list[int]:
    """A group number per formula: formulas whose values on the probe points agree at the constants' initial values
    share one (``x/(1 + exp(-beta*x))`` and SiLU at beta = 1). Cross-validation holds a group out together."""
    rows = np.round(probe_values(list(formulas), params), 6)
    keys: dict[bytes, int] = {}
    return [keys.setdefault(row.tobytes(), len(keys)) for row in rows]


def relative_scores(
    scores: Mapping[str, TaskScore],
    refs: Mapping[str, float],
    tasks: Sequence[str],
    metrics: Mapping[str, str],
    score: str = "accuracy",
) -> tuple[float, ...] | None:
    """Each task's score relative to the best baseline's, as the fitness compares them (``scoring.normalised``)."""
    values = normalised(scores, refs, tasks, metrics, score)
    return None if values is None else tuple(values)


def table_references(table: BenchTable) -> list[dict[str, float]]:
    """Per seed of the table, each task's best baseline measure (``scoring.references``, on validation accuracy
    or loss, as the table's runs scored)."""
    metrics = dict(table.protocol.get("metrics", {}))
    names = set(table.protocol.get("baselines", ()))
    out = []
    for i in range(len(table.seeds)):
        rows = [
            Candidate(0, e.formula, "baseline", label=e.label, outcome=Outcome(Status.OK, scores=e.trials[i].scores))
            for e in table.entries
            if e.label in names and e.trials[i].status == Status.OK
        ]
        out.append(references(rows, table.tasks, metrics))
    return out


def targets(examples: Sequence[Example]) -> np.ndarray:
    """What the surrogate fits, per example and task: its relative scores, or the lowest of the functions that trained
    to the end where it did not (a broken function scores as the worst working one)."""
    floor = np.min(np.array([e.scores for e in examples if e.scores is not None]), axis=0)
    return np.array([e.scores if e.scores is not None else floor for e in examples])


def schedule_ranks(y: np.ndarray, schedules: Sequence[float]) -> np.ndarray:
    """Each task's targets as their rank among the examples measured at the same schedule, from 0 (the worst, and
    every example tied with it) to 1 (the best). Scores from a shorter training are on another scale than the run's
    (fast learners lead there, and the spread differs), so a surrogate that learns from both fits their ranks, which
    share one: with a cheaper benchmark table as its prior, a replayed search found a top-1% function in about half
    the trainings it needed before (``bench/results/quarter_goal_prior.md``)."""
    from scipy.stats import rankdata  # here: scipy (scikit-learn's) is slow to import

    out = np.empty_like(y, dtype=float)
    at = np.asarray(schedules, float)
    for schedule in np.unique(at):
        rows = at == schedule
        n = int(rows.sum())
        # ties take the lowest rank: the functions that did not train to the end, scored as the worst working one
        # (``targets``), stay at the bottom however many they are; a lone example says nothing of where it stands
        out[rows] = (rankdata(y[rows], method="min", axis=0) - 1) / (n - 1) if n > 1 else 0.5
    return out


def table_examples(table: BenchTable, epoch_scale: float | None = None) -> list[Example]:
    """Every function of the table that got past static screening (baselines and published ones too), with its
    per-task relative scores averaged over the seeds (each against its own seed's baselines), or None where a seed
    did not train to the end; measured at the table's schedule relative to ``epoch_scale``, the run's (None: the
    same, as where a run fixes its epochs)."""
    schedule = 1.0 if epoch_scale is None else table.protocol["epoch_scale"] / epoch_scale
    metrics = dict(table.protocol.get("metrics", {}))
    refs = table_references(table)
    out = []
    for entry in table.entries:
        if entry.static:
            continue
        per_seed = [
            relative_scores(t.scores, refs[i], table.tasks, metrics) if t.status == Status.OK else None
            for i, t in enumerate(entry.trials)
        ]
        if any(s is None for s in per_seed):
            out.append(Example(entry.formula, None, schedule))
        else:
            out.append(Example(entry.formula, tuple(np.mean(np.array(per_seed), axis=0)), schedule))
    return out


@dataclass(frozen=True)
class Decision:
    """The surrogate stage's verdict on one candidate: train it or not, and why."""

    train: bool
    predicted: float | None = None
    threshold: float | None = None
    explored: bool = False
    rank: tuple[int, int, int] | None = None  # selection: (this one's place, of how many, how many train)
    ranked: bool = False  # ``predicted`` is a rank among the functions the surrogate knows (0 to 1), not a score

    @property
    def reason(self) -> str:
        """The verdict in words, as ``show`` prints a skip."""
        if self.rank is not None:
            place, of, train = self.rank
            return (
                f"the surrogate ranks it {place} of {of} (predicted {self.predicted_as}); the generation trains its top"
                f" {train}"
            )
        threshold = "-" if self.threshold is None else self.value(self.threshold)
        return (
            f"the surrogate predicts {self.predicted_as}, below {threshold} (the top share of the functions it knows)"
        )

    @property
    def predicted_as(self) -> str:
        """The prediction in words: a score relative to the best baseline, or a percentile of the known functions."""
        if self.predicted is None:
            return "nothing"
        if self.ranked:
            return f"{self.value(self.predicted)} of the functions it knows (100: the best)"
        return f"score {self.predicted:.4f} relative to the best baseline"

    def value(self, number: float) -> str:
        """A prediction or threshold as its scale writes it: a percentile where ranked, else a relative score."""
        return f"percentile {100 * number:.1f}" if self.ranked else f"{number:.4f}"


@dataclass
class Gate:
    """The surrogate stage of the cascade: of the candidates past the cache, train those whose predicted fitness is
    in the top ``keep`` of the functions the surrogate knows (judged on its out-of-bag predictions, which shrink as
    new predictions do), and a share ``explore`` of the rest, chosen by a hash of the run's seed and the formula so
    that a resumed run decides alike. Until it has been fitted, everything trains."""

    surrogate: Surrogate
    keep: float
    explore: float
    how: str = "mean"
    weights: tuple[float, ...] = ()
    prior: list[Example] = field(default_factory=list)
    threshold: float | None = None

    def refit(self, examples: Sequence[Example]) -> None:
        """Learn from the prior (the benchmark table, where it fits) and ``examples`` (the run's own results)."""
        self.surrogate.examples = [*self.prior, *examples]
        self.threshold = None
        if self.surrogate.fit() and self.surrogate.out_of_bag is not None:
            if self.keep >= 1:  # the whole share: it can rank (for a pool), and gates nothing out
                self.threshold = -math.inf
                return
            known = self._fitness(self._known_at_run_schedule())
            known = known[np.isfinite(known)]
            self.threshold = float(np.quantile(known, 1 - self.keep)) if len(known) else None

    def _known_at_run_schedule(self) -> np.ndarray:
        """The known functions' predicted scores as ``decide`` predicts a candidate's, at the run's schedule: the
        out-of-bag ones where every example is at one schedule, else each function's prediction at the run's (the
        out-of-bag rows of a cheaper table would set the threshold at that table's level)."""
        surrogate = self.surrogate
        if not surrogate.by_schedule:
            assert surrogate.out_of_bag is not None  # fitted
            return surrogate.out_of_bag
        return surrogate.predict_scores(list(dict.fromkeys(e.formula for e in surrogate.examples)))

    def _fitness(self, scores: np.ndarray) -> np.ndarray:
        return np.array([aggregate(list(row), self.how, self.weights) for row in scores])

    def decide(self, formulas: Sequence[str]) -> list[Decision]:
        """Whether each formula trains."""
        if self.threshold is None or not formulas:
            return [Decision(True) for _ in formulas]
        predicted = self._fitness(self.surrogate.predict_scores(formulas))
        out = []
        for formula, value in zip(formulas, predicted):
            explored = value < self.threshold and _share(self.surrogate.seed, formula) < self.explore
            train = value >= self.threshold or explored or self.keep >= 1  # the whole share: even a NaN trains
            out.append(Decision(bool(train), float(value), self.threshold, explored, ranked=self.surrogate.ranked))
        return out

    def select(self, formulas: Sequence[str], n: int) -> list[Decision]:
        """Whether each formula trains when only ``n`` may: the surrogate's top ``n - 1`` and one exploration pick (a
        lower-ranked formula the hash marks for exploring; else the ``n``-th), or the first ``n`` while it cannot
        predict."""
        if self.threshold is None or n <= 0:
            return [Decision(j < n) for j in range(len(formulas))]
        decisions = self.decide(formulas)
        order = sorted(range(len(formulas)), key=lambda j: _descending(decisions[j].predicted))
        explore = [j for j in order[n - 1 :] if decisions[j].explored][:1]
        chosen = set(order[: n - len(explore)] + explore)
        place = {j: k + 1 for k, j in enumerate(order)}
        return [
            replace(d, train=j in chosen, explored=j in explore, rank=(place[j], len(formulas), n))
            for j, d in enumerate(decisions)
        ]


def _descending(predicted: float | None) -> float:
    """A sort key that puts the highest prediction first and one that is missing or NaN last (a NaN compares false
    with everything, which leaves a sort's order to where it stood)."""
    return -predicted if predicted is not None and not math.isnan(predicted) else math.inf


def _share(seed: int, formula: str) -> float:
    """A number in [0, 1) fixed by the seed and the formula: the same in every process and session."""
    digest = hashlib.sha256(f"{seed}:{formula}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
