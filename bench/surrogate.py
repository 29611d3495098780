"""How well the surrogate ranks functions it was not fitted on: 5-fold cross-validation over the benchmark table.

    python bench/surrogate.py [--table PATH]

Every function of the table past static screening (published ones and baselines included) is predicted by a surrogate
fitted on the other four folds (functions that did not train to the end on every seed count as the worst on every
task). Folds hold out together the functions that agree at beta = 1 (``x/(1 + exp(-beta*x))`` and SiLU), whose
features nearly coincide. The regressor was chosen on a first cross-validation over the first few hundred of these
functions, so its figures are slightly optimistic; the k-nearest-neighbour line is the comparison. Reported:
Spearman's rank correlation of predicted and true relative scores per task and for the fitness (their mean), over
the functions that trained to the end and over all; for the regressor evoact uses (extremely randomised trees)
and, for comparison, AQuaSurF's k-nearest neighbours on standardised features. Writes bench/results/surrogate.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evoact.benchtable import load_table  # noqa: E402
from evoact.surrogate import Surrogate, function_groups, table_examples, targets  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "results" / "surrogate.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--prior", type=Path, default=None, help="also: a surrogate fitted on this table alone, ranking --table's"
    )
    args = parser.parse_args()
    table = load_table(args.table)
    examples = table_examples(table)
    tasks = table.tasks
    known = np.array([e.scores is not None for e in examples])
    truth = targets(examples)
    started = time.time()
    everything = Surrogate(tasks, {"beta": 1.0})
    features = everything._features([e.formula for e in examples])
    feature_seconds = (time.time() - started) / len(examples)
    predicted = {"extra trees (evoact)": np.zeros_like(truth), "k nearest neighbours (AQuaSurF)": np.zeros_like(truth)}
    groups = function_groups([e.formula for e in examples], {"beta": 1.0})
    for train, test in GroupKFold(5).split(examples, groups=groups):
        surrogate = Surrogate(tasks, {"beta": 1.0})  # shares the features computed above (one cache per process)
        surrogate.add([examples[i] for i in train])
        surrogate.fit()
        predicted["extra trees (evoact)"][test] = surrogate.predict_scores([examples[i].formula for i in test])
        knn = make_pipeline(StandardScaler(), KNeighborsRegressor(10, weights="distance"))
        knn.fit(features[train], truth[train])
        predicted["k nearest neighbours (AQuaSurF)"][test] = knn.predict(features[test])
    lines = [
        "# The surrogate's rank correlation on functions it was not fitted on",
        "",
        "Command: `python bench/surrogate.py"
        + (f" --table {args.table}" if args.table else "")
        + (f" --out {args.out}" if args.out != DEFAULT_OUT else "")
        + (f" --prior {args.prior}" if args.prior else "")
        + "`",
        "",
        f"Benchmark table (epoch scale {table.protocol.get('epoch_scale')}): {len(examples)} functions past static"
        f" screening of the `{table.space}` space,"
        f" {int(known.sum())} of them trained to the end on every seed; 5-fold cross-validation grouped by the function"
        f" at beta = 1 ({len(set(groups))} groups; each function predicted by a surrogate fitted on the other folds)."
        f" Features: {features.shape[1]} per function,"
        f" {feature_seconds * 1000:.1f} ms each on this machine.",
        "",
        "Spearman's rank correlation of predicted and true relative scores (true: the mean over the table's seeds):",
        "",
        "| regressor | functions | " + " | ".join(tasks) + " | fitness |",
        "|---|---|" + "---|" * (len(tasks) + 1),
    ]
    for name, pred in predicted.items():
        for label, rows in (("trained to the end", known), ("all past static screening", np.ones_like(known))):
            cells = [spearmanr(pred[rows, k], truth[rows, k]).statistic for k in range(len(tasks))]
            cells.append(spearmanr(pred[rows].mean(1), truth[rows].mean(1)).statistic)
            lines.append(f"| {name} | {label} ({int(rows.sum())}) | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    top = np.argsort(-predicted["extra trees (evoact)"][known].mean(1))
    true_fit = truth[known].mean(1)
    ordered = np.sort(true_fit)[::-1]
    for share in (0.25, 0.5):
        kept = true_fit[top[: round(share * len(top))]]
        found = []
        for best in (0.01, 0.1):
            cut = ordered[max(0, round(best * len(ordered)) - 1)]
            found.append(f"{int((kept >= cut).sum())} of the {int((true_fit >= cut).sum())} true top-{best:.0%}")
        lines += ["", f"Kept by the surrogate's top {share:.0%} (predicted): " + ", ".join(found) + " functions."]
    cut = ordered[max(0, round(0.01 * len(ordered)) - 1)]
    lines += [
        "",
        f"Trained in the surrogate's predicted order (all {len(examples)} past static screening), the true top-1%"
        f" functions come at positions {_positions(predicted['extra trees (evoact)'], truth, known, cut)}: the number"
        " of trainings a search would need whose surrogate knew the rest of this table (each function is scored by"
        " the fold model that did not see it).",
    ]
    if args.prior is not None:
        prior = load_table(args.prior)
        if prior.tasks != tasks:
            parser.error(f"--prior {args.prior}: its tasks are not the table's ({', '.join(tasks)})")
        alone = Surrogate(tasks, {"beta": 1.0})
        alone.add(table_examples(prior))
        alone.fit()
        guess = alone.predict_scores([e.formula for e in examples])
        rho = spearmanr(guess[known].mean(1), truth[known].mean(1)).statistic
        lines += [
            "",
            f"Fitted on `{args.prior}` alone (epoch scale {prior.protocol.get('epoch_scale')}; every function of it),"
            f" the surrogate's predicted fitness has Spearman's rank correlation {rho:.3f} with this table's over the"
            f" functions trained to the end, and its predicted order puts this table's true top-1% functions at"
            f" positions {_positions(guess, truth, known, cut)} of {len(examples)}.",
        ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _positions(predicted: np.ndarray, truth: np.ndarray, known: np.ndarray, cut: float) -> str:
    """Where the functions whose true fitness reaches ``cut`` stand in the predicted order (1 = predicted best)."""
    order = np.argsort(-predicted.mean(1))
    return ", ".join(str(int(p) + 1) for p in np.where(known[order] & (truth.mean(1)[order] >= cut))[0])


if __name__ == "__main__":
    main()
