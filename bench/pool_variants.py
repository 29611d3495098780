"""Issue #26's quarter goal: variants of the surrogate pool, probed on seeds 0-29 of the full table.

    python bench/pool_variants.py VARIANT [--seeds 0-29] [--pool 128]

VARIANT: ``base`` (the engine's pool), ``wK`` (the search's own trainings weigh K times a table function in the
regressor's fit), ``ucbK`` (rank by the trees' mean plus K times their spread, an upper confidence bound), ``clipQ``
(each task's targets raised to their Q-quantile within each schedule's examples, so that the trees' splits sort the
better functions rather than the broken from the weak), ``rank`` (each task's targets as their rank within each
schedule's examples, from 0 to 1: the two tables on one scale; the engine's own since evoact 1119b20, so that ``base``
ranks too and ``rank`` is kept to name the probe).
``--pool``: proposals ranked per generation of 8 trainings (the engine's ``--offspring 8 --surrogate-pool pool/8``).
As ``bench/quarter_goal.py``'s pool with ``--unseeded --prior evoact/data/benchtable.json.gz`` on the full table, but
a search stops at its first top-1% function (all that the median needs). Prints one line: the median number of
trainings to a top-1% function, how many of the seeds reached one within 150, and each seed's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

import replay as R  # noqa: E402
from quarter_goal import _seeds  # noqa: E402

from evoact import surrogate as S  # noqa: E402
from evoact.genome import load_search_space  # noqa: E402

FULL = ROOT.parent / "evoact" / "data" / "benchtable_full.json.gz"
SHORT = ROOT.parent / "evoact" / "data" / "benchtable.json.gz"


class Reached(Exception):
    """A search trained a top-1% function: the number of trainings it took."""


def _variant(variant: str, top: set[int]) -> None:
    """Patch this process: stop a replay at a top-1% function, and apply ``variant`` to the surrogate."""
    train = R.Replay.train

    def stopping(self, index):
        out = train(self, index)
        if self.trained and self.trained[-1] in top:
            raise Reached(len(self.trained))
        return out

    R.Replay.train = stopping
    if variant.startswith("w"):
        weight = float(variant[1:])

        def fit(self):
            known = [e for e in self.examples if e.scores is not None]
            if len(known) < S.MIN_TRAINED:
                self._model = None
                return False
            y = S.targets(self.examples)
            schedules = [e.schedule for e in self.examples]
            self.by_schedule = len(set(schedules)) > 1
            from sklearn.ensemble import ExtraTreesRegressor

            weights = np.array([weight if s == 1.0 else 1.0 for s in schedules])
            self._model = ExtraTreesRegressor(
                S.TREES, min_samples_leaf=2, bootstrap=True, oob_score=True, n_jobs=1, random_state=self.seed
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self._model.fit(self._rows([e.formula for e in self.examples], schedules), y, sample_weight=weights)
            self.out_of_bag = np.asarray(self._model.oob_prediction_).reshape(len(y), len(self.tasks))
            return True

        S.Surrogate.fit = fit
    elif variant.startswith("ucb"):
        k = float(variant[3:])
        select = S.Gate.select

        def bound(self, formulas, n):
            if self.threshold is None or n <= 0:
                return select(self, formulas, n)
            decisions = self.decide(formulas)
            rows = self.surrogate._rows(formulas, [1.0] * len(formulas))
            per_tree = np.stack([t.predict(rows) for t in self.surrogate._model.estimators_])
            fitness = per_tree.reshape(per_tree.shape[0], len(formulas), -1).mean(axis=2)
            score = fitness.mean(0) + k * fitness.std(0)
            order = sorted(range(len(formulas)), key=lambda j: -score[j])
            explore = [j for j in order[n - 1 :] if decisions[j].explored][:1]
            chosen = set(order[: n - len(explore)] + explore)
            return [replace(d, train=j in chosen) for j, d in enumerate(decisions)]

        S.Gate.select = bound
    elif variant.startswith("clip"):
        q = float(variant[4:])
        _per_schedule(lambda y: np.maximum(y, np.quantile(y, q, axis=0)))
    elif variant == "rank":  # ties as their average: the probe as it ran (the engine's ties take the lowest rank)
        from scipy.stats import rankdata

        _per_schedule(lambda y: (rankdata(y, axis=0) - 1) / max(1, len(y) - 1))
    elif variant != "base":
        raise SystemExit(f"unknown variant {variant!r}: base, wK, ucbK, clipQ or rank")


def _per_schedule(transform) -> None:
    """Patch the surrogate's targets: ``transform`` applied to each schedule's examples, per task."""
    plain = S.targets

    def targets(examples):
        y = plain(examples)
        schedules = np.array([e.schedule for e in examples])
        for schedule in set(schedules.tolist()):
            rows = schedules == schedule
            y[rows] = transform(y[rows])
        return y

    S.targets = targets


def _job(job: tuple[str, int, int]) -> float:
    variant, pool, seed = job
    table = R.table_at(FULL)
    truth = R.test_truth(table)
    ranked = sorted((v, i) for i, v in truth.items() if v is not None)
    _variant(variant, {i for _, i in ranked[-max(1, round(0.01 * len(ranked))) :]})
    space = replace(load_search_space(table.space), seeds=())
    try:
        R.replay(table, "evolution", seed, 150, space, select=(pool, 8), prior=R.prior_examples(SHORT, table))
    except Reached as reached:
        return reached.args[0]
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant")
    parser.add_argument("--seeds", default="0-29")
    parser.add_argument("--pool", type=int, default=128)
    args = parser.parse_args()
    started = time.time()
    jobs = [(args.variant, args.pool, s) for s in _seeds(args.seeds)]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = list(pool.map(_job, jobs))
    print(
        f"{args.variant} (ranked 8 of {args.pool}), seeds {args.seeds}: median {np.median(out):g}, reached"
        f" {int(np.isfinite(out).sum())} of {len(out)}, {[int(v) if np.isfinite(v) else 'never' for v in out]}"
        f" ({time.time() - started:.0f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
