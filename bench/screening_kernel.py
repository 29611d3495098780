"""Benchmark: screening 1,000 random trees with the numba batch kernel vs per-candidate sympy.lambdify + numpy.

Run:  python bench/screening_kernel.py [--trees 1000] [--space default] [--seed 0]
Prints the functional duplicate rate, both screening times (ratio measured in this run) and their agreement.
"""

from __future__ import annotations

import argparse
import random
import time
import warnings

import numpy as np
import sympy as sp
from rich.console import Console
from rich.table import Table

from evoact.compiler import CompileError, lower
from evoact.formula import to_formula
from evoact.genome import Genome, load_search_space
from evoact.primitives import X
from evoact.screening import ScreeningConfig, screen_static
from evoact.screening.kernel import Batch
from evoact.screening.probe import probe_points


def lambdify_screen(exprs: list[sp.Expr], xs: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The per-candidate baseline: lambdify each expression and its derivative, evaluate with numpy.

    Returns values, derivatives (NaN rows where lambdify's code could not run) and the count of such rows.
    """
    values, derivs = np.full((len(exprs), len(xs)), np.nan), np.full((len(exprs), len(xs)), np.nan)
    broken = 0
    b = sp.Symbol("beta", real=True)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, e in enumerate(exprs):
            f = sp.lambdify((X, b), e, modules="numpy")
            df = sp.lambdify((X, b), sp.diff(e, X), modules="numpy")
            try:
                values[i] = np.broadcast_to(f(xs, beta), xs.shape)
                derivs[i] = np.broadcast_to(df(xs, beta), xs.shape)
            except (ValueError, TypeError, NameError, ZeroDivisionError):
                broken += 1
    return values, derivs, broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=1000)
    parser.add_argument("--space", default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    genome = Genome(load_search_space(args.space))
    random.seed(args.seed)
    exprs = []
    while len(exprs) < args.trees:
        e = genome.to_expr(genome.random_tree())
        try:
            lower(e)
            exprs.append(e)
        except CompileError:
            continue
    formulas = [to_formula(e) for e in exprs]
    xs = probe_points()
    screen_static(formulas[:2], [None, None], {"beta": 1.0}, None, ScreeningConfig())  # load the compiled kernel

    start = time.perf_counter()
    verdicts = screen_static(formulas, [None] * len(formulas), {"beta": 1.0}, None, ScreeningConfig())
    kernel_full = time.perf_counter() - start
    programs = [lower(e) for e in exprs]
    batch = Batch(programs, [{"beta": 1.0}] * len(programs))
    start = time.perf_counter()
    kv, kd = batch.evaluate(xs)
    kernel_eval = time.perf_counter() - start

    start = time.perf_counter()
    lv, ld, broken = lambdify_screen(exprs, xs, 1.0)
    lambdify_time = time.perf_counter() - start

    fps = [v.fingerprint for v in verdicts]
    rejected = sum(v.reason is not None for v in verdicts)
    both = np.isfinite(kv) & np.isfinite(lv)
    value_agree = np.isclose(kv, lv, rtol=1e-6, atol=1e-9)[both].mean()
    dboth = np.isfinite(kd) & np.isfinite(ld)
    deriv_agree = np.isclose(kd, ld, rtol=1e-5, atol=1e-8)[dboth].mean()
    ran = ~np.isnan(lv).all(axis=1)
    finite_agree = (np.isfinite(kv[ran]) == np.isfinite(lv[ran])).mean()

    table = Table(
        title=f"static screening of {len(exprs)} random trees of '{args.space}' on {len(xs)} probe points"
        f" (seed {args.seed})"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("distinct formulas", str(len(set(formulas))))
    table.add_row("functionally distinct (fingerprints)", str(len(set(fps))))
    table.add_row("functional duplicate rate", f"{1 - len(set(fps)) / len(fps):.1%}")
    table.add_row("rejected by static screening", f"{rejected} ({rejected / len(fps):.1%})")
    table.add_row("numba kernel: parse + lower + screen + fingerprint, s", f"{kernel_full:.3f}")
    table.add_row("numba kernel: evaluation only, s", f"{kernel_eval:.4f}")
    table.add_row("sympy.lambdify + numpy per candidate (values + derivative), s", f"{lambdify_time:.3f}")
    table.add_row("speed-up, whole screening (lambdify / kernel)", f"{lambdify_time / kernel_full:.1f}x")
    table.add_row("speed-up, evaluation only", f"{lambdify_time / kernel_eval:.0f}x")
    table.add_row("values agreeing (finite in both, rtol 1e-6)", f"{value_agree:.4%}")
    table.add_row("derivatives agreeing (finite in both, rtol 1e-5)", f"{deriv_agree:.4%}")
    table.add_row("same finiteness of values (where lambdify ran)", f"{finite_agree:.4%}")
    table.add_row("candidates lambdify's generated code could not evaluate", str(broken))
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
