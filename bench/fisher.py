"""Does the Fisher-information spectrum at initialisation help the surrogate? Cross-validated, on the benchmark table.

    python bench/fisher.py [--table PATH]

Issue #26 lists the Fisher spectrum at initialisation among the surrogate's candidate features "where affordable".
Per function: a He-initialised MLP (16 -> 32 -> 32 -> 10, the function after each hidden layer) on 64 fixed N(0, 1)
inputs, labels drawn from its own softmax; the Gram matrix of the per-example gradients of log p(y | x) has the
nonzero eigenvalues of the empirical Fisher. Three features: log10 of the largest eigenvalue and of the trace, and
the effective rank (trace^2 / sum of squares, over 64). The same extremely randomised trees as the surrogate's, and
AQuaSurF's k nearest neighbours, are cross-validated (5 folds grouped as in bench/surrogate.py) with today's
features and with the three added. Writes bench/results/fisher.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr, ttest_rel
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.model_selection import GroupKFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evoact.benchtable import load_table  # noqa: E402
from evoact.compiler import CompileError, compile_activation  # noqa: E402
from evoact.formula import FormulaError  # noqa: E402
from evoact.surrogate import TREES, Surrogate, function_groups, table_examples, targets  # noqa: E402

_N = 64
SEEDS = 5
_BROKEN = np.array([12.0, 12.0, 0.0])  # what a function whose spectrum is not finite gets


def fisher(formula: str, params: dict[str, float]) -> np.ndarray:
    """log10 largest eigenvalue, log10 trace and effective rank (over the batch) of the empirical Fisher at init."""
    try:
        act = compile_activation(formula, params)
    except (FormulaError, CompileError):
        return _BROKEN
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), act, nn.Linear(32, 32), act, nn.Linear(32, 10))
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    weights = [p for n, p in net.named_parameters() if "beta" not in n]  # the network's, not the function's
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(_N, 16, generator=gen)
    with np.errstate(all="ignore"):
        logp = torch.log_softmax(net(x), -1)
        if not torch.isfinite(logp).all():
            return _BROKEN
        y = torch.multinomial(logp.detach().exp(), 1, generator=gen).squeeze(1)
        rows = []
        for i in range(_N):
            grads = torch.autograd.grad(logp[i, y[i]], weights, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat([g.flatten() if g is not None else torch.zeros(w.numel()) for g, w in zip(grads, weights)])
            )
    jac = torch.stack(rows).double()
    if not torch.isfinite(jac).all():
        return _BROKEN
    eig = torch.linalg.eigvalsh(jac @ jac.T / _N).clamp_min(0).numpy()
    trace, top = float(eig.sum()), float(eig.max())
    if trace <= 0:
        return np.array([-12.0, -12.0, 0.0])
    return np.array([math.log10(top), math.log10(trace), trace**2 / float((eig**2).sum()) / _N]).clip(-12, 12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fisher.md")
    args = parser.parse_args()
    table = load_table(args.table)
    examples = table_examples(table)
    formulas = [e.formula for e in examples]
    known = np.array([e.scores is not None for e in examples])
    truth = targets(examples)
    base = Surrogate(table.tasks, {"beta": 1.0})._features(formulas)
    started = time.time()
    extra = np.array([fisher(f, {"beta": 1.0}) for f in formulas])
    seconds = (time.time() - started) / len(formulas)
    sets = {"today's features": base, "today's + Fisher spectrum": np.hstack([base, extra]), "Fisher alone": extra}
    groups = function_groups(formulas, {"beta": 1.0})
    lines = [
        "# The Fisher spectrum at initialisation as surrogate features",
        "",
        "Command: `python bench/fisher.py`",
        "",
        f"{len(formulas)} functions of the `{table.space}` table ({int(known.sum())} trained to the end); Fisher"
        f" features {seconds * 1000:.1f} ms per function on this machine; 5 folds grouped by the function at beta = 1."
        " Spearman's rank correlation of predicted and true fitness (the mean relative score over the tasks):",
        "",
        "| features | regressor | trained to the end (mean +- sd) | all past static screening |",
        "|---|---|---|---|",
    ]
    results: dict[tuple[str, str], np.ndarray] = {}
    for name, x in sets.items():
        regressors = {
            "extremely randomised trees": lambda seed: ExtraTreesRegressor(
                TREES, min_samples_leaf=2, bootstrap=True, n_jobs=1, random_state=seed
            ),
            "k nearest neighbours": lambda seed: make_pipeline(
                StandardScaler(), KNeighborsRegressor(10, weights="distance")
            ),
        }
        for label, make in regressors.items():
            cells = []
            for seed in range(SEEDS if label.startswith("extremely") else 1):
                pred = np.zeros_like(truth)
                for train, test in GroupKFold(5).split(x, groups=groups):
                    pred[test] = make(seed).fit(x[train], truth[train]).predict(x[test])
                cells.append(
                    [
                        spearmanr(pred[rows].mean(1), truth[rows].mean(1)).statistic
                        for rows in (known, np.ones_like(known))
                    ]
                )
            results[name, label] = np.array(cells)
            mean, sd = results[name, label].mean(0), results[name, label].std(0, ddof=1) if len(cells) > 1 else (0, 0)
            lines.append(
                f"| {name} | {label} ({len(cells)} seed{'s' if len(cells) > 1 else ''}) |"
                f" {mean[0]:.3f} +- {sd[0]:.3f} | {mean[1]:.3f} +- {sd[1]:.3f} |"
            )
            print(lines[-1], flush=True)
    trees = "extremely randomised trees"
    gain = results["today's + Fisher spectrum", trees] - results["today's features", trees]
    p = ttest_rel(results["today's + Fisher spectrum", trees][:, 0], results["today's features", trees][:, 0]).pvalue
    lines += [
        "",
        f"Trees, paired over the {SEEDS} seeds of the trees (the same folds): adding the Fisher spectrum changes the"
        f" correlation on functions trained to the end by {gain[:, 0].mean():+.3f} (min {gain[:, 0].min():+.3f},"
        f" max {gain[:, 0].max():+.3f}; paired t-test p = {p:.2g}) and over all by {gain[:, 1].mean():+.3f}. The folds"
        " are one split of the table, so the spread shown is the trees' randomness, not that of another table.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
