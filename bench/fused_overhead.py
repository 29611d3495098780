"""Benchmark: where a fused activation's time goes on CUDA, the host's work or the GPU's, per formula and mode.

Run:  python bench/fused_overhead.py > bench/results/fused_overhead_cuda.txt      (on a CUDA machine; --smoke: CPU)
Per formula and mode: milliseconds per forward+backward at 16M floats (``--calls`` queued between two
synchronisations), the same at 8 floats (no GPU work to speak of: the host's cost per call), the GPU kernels per call
and their milliseconds (torch's profiler). Modes: symbolic, fused, and fused with torch's guard evaluation skipped
(``torch.compiler.set_stance(skip_guard_eval_unsafe=True)``: what the guards cost). Then a cProfile of fused calls at
8 floats: the host functions that take the time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from compiler_speed import kernels  # bench/ is on the path when this runs as a script

from evoact.compiler import compile_activation

FORMULAS = ["x**2", "Min(0, atan(2*x))", "beta*x", "x*tanh(x*(beta + 1))", "2*x*tanh(atan(beta) + atan(x))"]


def per_call(fn: Callable, n: int, device: str, calls: int) -> float:
    """Milliseconds per forward+backward, ``calls`` of them queued between two synchronisations."""
    x = torch.randn(n, device=device, requires_grad=True)
    grad = torch.ones_like(x)
    for _ in range(5):
        fn(x).backward(grad)
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn(x).backward(grad)
    _sync(device)
    return (time.perf_counter() - start) / calls * 1e3


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@contextmanager
def unguarded() -> Iterator[None]:
    """torch.compile'd code called without evaluating its guards (unsafe in general: for measuring them here)."""
    torch.compiler.set_stance("default", skip_guard_eval_unsafe=True)
    try:
        yield
    finally:
        torch.compiler.set_stance("default", skip_guard_eval_unsafe=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="on the CPU, small: checks the script only")
    args = parser.parse_args()
    device = "cpu" if args.smoke else "cuda"
    big = 100_000 if args.smoke else 16_000_000
    print(f"$ python bench/fused_overhead.py {'--smoke' if args.smoke else ''}".rstrip())
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run)"
    print(f"torch {torch.__version__}, {name}; {args.calls} calls queued per timing\n")
    columns = f"ms / call at {big / 1e6:g}M | ms / call at 8 floats (host) | kernels / call | kernel ms"
    print(f"| formula | mode | {columns} |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows: list[tuple[str, str, Callable, object]] = [("torch F.silu", "native", F.silu, nullcontext())]
    for formula in FORMULAS:
        symbolic = compile_activation(formula, {"beta": 0.8}).to(device)
        fused = compile_activation(formula, {"beta": 0.8}, mode="fused").to(device)
        rows += [(formula, "symbolic", symbolic, nullcontext()), (formula, "fused", fused, nullcontext())]
        rows.append((formula, "fused, guards skipped", fused, unguarded()))
    for formula, mode, fn, context in rows:
        with context:  # type: ignore[attr-defined]
            times = [per_call(fn, n, device, args.calls) for n in (big, 8)]
            count, busy = kernels(fn, big) if device == "cuda" else (float("nan"), float("nan"))
        print(f"| `{formula}` | {mode} | {times[0]:.3f} | {times[1]:.3f} | {count:g} | {busy:.3f} |", flush=True)
    fused = compile_activation(FORMULAS[3], {"beta": 0.8}, mode="fused").to(device)
    x = torch.randn(8, device=device, requires_grad=True)
    grad = torch.ones_like(x)
    fused(x).backward(grad)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(500):
        fused(x).backward(grad)
    _sync(device)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print(f"\n## cProfile: 500 fused calls of `{FORMULAS[3]}` at 8 floats\n\n```\n{out.getvalue().strip()}\n```")


if __name__ == "__main__":
    main()
