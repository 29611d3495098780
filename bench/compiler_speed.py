"""Benchmark: forward+backward time and saved-for-backward memory of compiled activations vs torch natives.

Run:  python bench/compiler_speed.py [--sizes 1000000 16000000] [--reps 7]
For each function: (a) torch's native, (b) eager sympy.lambdify(modules="torch", Max/Min folded pairwise), (c) evoact
symbolic (eager forward, generated backward), (d) evoact fused (torch.compile of both). Times are medians of --reps
runs on one tensor; ratios are taken within this run. CUDA is measured too when a GPU is present.
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import time
import warnings

import sympy as sp
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from evoact.compiler import compile_activation
from evoact.formula import parse
from evoact.primitives import X


def _pairwise(op):
    """sympy's torch printer emits torch.max(0, x) for Max, which torch rejects: fold the arguments pairwise."""
    return lambda *args: functools.reduce(lambda a, b: op(torch.as_tensor(a), torch.as_tensor(b)), args)


#: Makes the lambdify baseline run on every function (constant parts become floats, not ints torch rejects).
_LAMBDIFY_FIXES = {"max": _pairwise(torch.maximum), "min": _pairwise(torch.minimum)}  # the names the printer writes

FUNCTIONS = [
    ("SiLU", "silu(x)", F.silu),
    ("GELU (tanh)", "x/2*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))", lambda x: F.gelu(x, approximate="tanh")),
    ("Mish", "mish(x)", F.mish),
    ("Softplus", "softplus(x)", F.softplus),
    ("ELU", "Max(0, x) + Min(0, exp(x) - 1)", F.elu),
    ("atan(x)^2 - x", "atan(x)**2 - x", None),
    ("x*asinh(x)^2", "x*asinh(x)**2", None),
    ("max(x, tanh(x))", "Max(x, tanh(x))", None),
    ("compound (10+ nodes)", "x*sigmoid(x)*tanh(x) + erf(x)/(1 + x**2)", None),
]
COMPOUND = {"atan(x)^2 - x", "x*asinh(x)^2", "max(x, tanh(x))", "compound (10+ nodes)"}


def measure(fn, n: int, device: str, reps: int) -> tuple[float, float]:
    """Median seconds of forward+backward, and MB saved for backward."""
    x = torch.randn(n, device=device, requires_grad=True)
    grad = torch.ones_like(x)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel() * t.element_size()) or t, lambda t: t
    ):
        fn(x).backward(grad)
    times = []
    for _ in range(reps + 2):
        x.grad = None
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(x).backward(grad)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:]), sum(saved) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 16_000_000])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    console = Console(width=220)
    for device in devices:
        name = (
            torch.cuda.get_device_name()
            if device == "cuda"
            else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
        table = Table(title=f"forward+backward, median of {args.reps}, torch {torch.__version__}, {device} ({name})")
        for col in (
            "function",
            "floats",
            "native ms",
            "lambdify ms",
            "symbolic ms",
            "fused ms",
            "fused/native",
            "symbolic/native",
            "symbolic/lambdify",
            "fused/lambdify",
            "saved MB native/lambdify/symbolic/fused",
            "fused compile s",
        ):
            table.add_column(col, justify="left" if col == "function" else "right")
        misses = []
        for label, formula, native in FUNCTIONS:
            expr = parse(formula)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                numeric = expr.replace(
                    lambda e: e.is_number and not e.is_Atom, lambda e: sp.N(e)
                )  # sqrt(2) -> 1.414...
                lambdified = sp.lambdify(X, numeric, modules=[_LAMBDIFY_FIXES, "torch"])
            symbolic = compile_activation(expr).to(device)
            fused = compile_activation(expr, mode="fused").to(device)
            start = time.perf_counter()
            fused(torch.randn(8, device=device, requires_grad=True)).sum().backward()
            compile_s = time.perf_counter() - start
            for n in args.sizes:
                res = {}
                for key, fn in (("native", native), ("lambdify", lambdified), ("symbolic", symbolic), ("fused", fused)):
                    try:
                        res[key] = measure(fn, n, device, args.reps) if fn is not None else None
                    except (RuntimeError, TypeError) as exc:  # e.g. lambdify's torch code for Max with a number
                        res[key] = None
                        console.print(f"[dim]{label} {key}: {type(exc).__name__}: {str(exc)[:80]}[/]")

                def ms(k, res=res):
                    return f"{res[k][0] * 1e3:.1f}" if res[k] else "-"

                def ratio(a, b, res=res):
                    return f"{res[a][0] / res[b][0]:.2f}" if res[a] and res[b] else "-"

                mem = "/".join(
                    f"{res[k][1]:.0f}" if res[k] else "-" for k in ("native", "lambdify", "symbolic", "fused")
                )
                table.add_row(
                    label,
                    f"{n / 1e6:.0f}M",
                    ms("native"),
                    ms("lambdify"),
                    ms("symbolic"),
                    ms("fused"),
                    ratio("fused", "native"),
                    ratio("symbolic", "native"),
                    ratio("symbolic", "lambdify"),
                    ratio("fused", "lambdify"),
                    mem,
                    f"{compile_s:.1f}",
                )
                if res["native"] and res["fused"] and res["fused"][0] > 1.15 * res["native"][0]:
                    misses.append(
                        f"{label} {n / 1e6:.0f}M: fused {res['fused'][0] / res['native'][0]:.2f}x native"
                        " (target <= 1.15x)"
                    )
                for k in ("symbolic", "fused"):
                    if res["lambdify"] and res[k]:
                        r = res[k][0] / res["lambdify"][0]
                        if label in COMPOUND and r >= 1.0:
                            misses.append(
                                f"{label} {n / 1e6:.0f}M: {k} {r:.2f}x lambdify (target < 1x on compound expressions)"
                            )
                        if label not in COMPOUND and r > 1.5:
                            misses.append(f"{label} {n / 1e6:.0f}M: {k} {r:.2f}x lambdify (target <= 1.5x)")
        console.print(table)
        console.print("targets missed: " + ("none" if not misses else "\n  " + "\n  ".join(misses)))


if __name__ == "__main__":
    main()
