"""Benchmark: forward+backward time and saved-for-backward memory of compiled activations vs torch natives.

Run:  python bench/compiler_speed.py [--sizes 1000000] [--reps 25] [--threads 1] > bench/results/compiler_speed.txt
Timing is interleaved: each repetition times every variant of a row once, in turn (the order rotating), so that load
from other processes falls on all of them alike; a time is the median of --reps. Ratios are taken within a row.
On CUDA a timing queues --block calls (default 20) between two synchronisations, as a training step queues its
kernels; --block 1 times each call alone, host launch latency included. Table 3 adds, on CUDA, the GPU kernels'
milliseconds per call (torch's profiler): what the device did, against the wall time the host allowed.
On a machine busy with other jobs, --threads 1: torch's threads otherwise wait for each other at every op.
1. torch's own activations written as formulas: (a) torch's native, (b) eager sympy.lambdify (modules="torch",
   Max/Min folded pairwise), (c) evoact symbolic (eager forward, generated backward), (d) evoact fused, (e) the
   composed program fused (the formula's elementwise ops without natives, torch.compile of forward and backward: what
   fused ran before natives). The goal of issue #27: median fused/native over these <= 1.10 at 1M floats on the CPU.
2. formulas without a native equivalent: lambdify, symbolic and fused.
3. the README's winners and 10 random trees of the default space: symbolic, fused and "graph" (torch.compile of the
   forward, autograd and torch's partitioner doing the backward) against torch's SiLU (the
   memory-bound floor of a one-op activation).
Sizes: --sizes, else 1M floats on the CPU and 16M on CUDA (measured too when a GPU is present). --devices and
--tables choose what runs; --no-composed leaves table 1's composed column out (its torch.compile is the slow part).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import sympy as sp
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from evoact.compiler import CompileError, compile_activation, derivatives, lower, lower_many, run_program
from evoact.compiler.module import _function, _own_code
from evoact.formula import parse, to_formula
from evoact.genome import Genome, load_search_space
from evoact.native import NATIVES
from evoact.primitives import X


def _pairwise(op):
    """sympy's torch printer emits torch.max(0, x) for Max, which torch rejects: fold the arguments pairwise."""
    return lambda *args: functools.reduce(lambda a, b: op(torch.as_tensor(a), torch.as_tensor(b)), args)


#: Makes the lambdify baseline run on every function (constant parts become floats, not ints torch rejects).
_LAMBDIFY_FIXES = {"max": _pairwise(torch.maximum), "min": _pairwise(torch.minimum)}  # the names the printer writes

KNOWN = [
    ("SiLU", "silu(x)", F.silu),
    ("GELU", "gelu(x)", F.gelu),
    ("GELU (tanh)", "x/2*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))", lambda x: F.gelu(x, approximate="tanh")),
    ("Mish", "mish(x)", F.mish),
    ("Softplus", "softplus(x)", F.softplus),
    ("ELU", "Max(0, x) + Min(0, exp(x) - 1)", F.elu),
    ("LogSigmoid", "-softplus(-x)", F.logsigmoid),
    ("Tanh", "tanh(x)", torch.tanh),
    ("Sigmoid", "sigmoid(x)", torch.sigmoid),
    ("ReLU", "relu(x)", F.relu),
    ("ReLU6", "Min(6, Max(0, x))", F.relu6),
    ("Hardtanh", "Min(1, Max(-1, x))", F.hardtanh),
]
COMPOUND = [
    ("atan(x)^2 - x", "atan(x)**2 - x"),
    ("x*asinh(x)^2", "x*asinh(x)**2"),
    ("max(x, tanh(x))", "Max(x, tanh(x))"),
    ("compound (10+ nodes)", "x*sigmoid(x)*tanh(x) + erf(x)/(1 + x**2)"),
]
WINNERS = ["(x + tanh(x) + atan(x))/(1 + exp(-x))", "x*tanh(x*(beta + 1))", "2*x*tanh(atan(beta) + atan(x))"]
GOAL = 1.10


def random_trees(count: int, seed: int = 0) -> list[sp.Expr]:
    """``count`` random trees of the default space that compile, depend on x and are finite on N(0, 1) samples."""
    genome = Genome(load_search_space("default"))
    random.seed(seed)
    out: list[sp.Expr] = []
    while len(out) < count:
        expr = genome.to_expr(genome.random_tree())
        try:
            with torch.no_grad():
                y = compile_activation(expr)(torch.randn(1000))
        except CompileError:
            continue
        if X in expr.free_symbols and torch.isfinite(y).all() and expr not in out:
            out.append(expr)
    return out


def lambdified(expr: sp.Expr) -> Callable:
    """Eager torch code from sympy.lambdify."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numeric = expr.replace(lambda e: e.is_number and not e.is_Atom, lambda e: sp.N(e))  # sqrt(2) -> 1.414...
        return sp.lambdify(X, numeric, modules=[_LAMBDIFY_FIXES, "torch"])


def composed_fused(expr: sp.Expr) -> Callable:
    """The formula's composed elementwise program (no natives) with its symbolic backward, both torch.compiled."""
    function = _function(lower(expr), lower_many(derivatives(expr), expr), "fused")
    return function.apply


@functools.lru_cache
def graph_program(formula: str) -> Callable[..., torch.Tensor]:
    """The alternative to fused mode, ``f(x, *params)`` in the program's order of constants: torch.compile of the
    forward as autograd records it, torch's partitioner choosing what the backward saves or recomputes (one compiled
    graph each way, no evoact backward); compiled once per formula and process."""
    program = lower(parse(formula), natives=True)

    def forward(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        return run_program(program, x, dict(zip(program.params, params)))[0]

    return torch.compile(_own_code(forward, hashlib.sha256(formula.encode()).hexdigest()[:12]))


def graph_fused(expr: sp.Expr, device: str) -> Callable:
    """``graph_program`` with its constants at 1."""
    run = graph_program(to_formula(expr))
    params = [torch.tensor(1.0, device=device, requires_grad=True) for _ in lower(expr, natives=True).params]
    return lambda x: run(x, *params)


def compiled(fn: Callable, device: str) -> float:
    """Seconds of the first call (the compile, where there is one)."""
    start = time.perf_counter()
    fn(torch.randn(8, device=device, requires_grad=True)).sum().backward()
    return time.perf_counter() - start


def interleaved(
    fns: dict[str, Callable | None], n: int, device: str, reps: int, block: int = 1
) -> dict[str, tuple[float, float]]:
    """Median seconds of forward+backward (per call, over ``block`` calls queued between synchronisations) and MB
    saved for backward of each variant, timed in turn."""
    x = torch.randn(n, device=device, requires_grad=True)
    grad = torch.ones_like(x)
    live: dict[str, Callable] = {}
    saved: dict[str, float] = {}
    for key, fn in fns.items():
        if fn is None:
            continue
        sizes: list[int] = []
        try:
            with torch.autograd.graph.saved_tensors_hooks(
                lambda t, sizes=sizes: sizes.append(t.numel() * t.element_size()) or t, lambda t: t
            ):
                fn(x).backward(grad)
            fn(x).backward(grad)
        except (RuntimeError, TypeError) as exc:  # e.g. lambdify's torch code for Max with a number
            print(f"  {key}: {type(exc).__name__}: {str(exc)[:80]}")
            continue
        live[key], saved[key] = fn, sum(sizes) / 2**20
    times: dict[str, list[float]] = {k: [] for k in live}
    keys = list(live)
    for rep in range(reps):
        for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
            x.grad = None
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(block):
                live[key](x).backward(grad)
            if device == "cuda":
                torch.cuda.synchronize()
            times[key].append((time.perf_counter() - start) / block)
    return {k: (statistics.median(v), saved[k]) for k, v in times.items()}


def kernels(fn: Callable, n: int, calls: int = 5) -> tuple[float, float]:
    """GPU kernels per forward+backward and their milliseconds (torch's profiler): the device's work, not the host's."""
    from torch.profiler import ProfilerActivity, profile

    x = torch.randn(n, device="cuda", requires_grad=True)
    grad = torch.ones_like(x)
    fn(x).backward(grad)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn(x).backward(grad)
        torch.cuda.synchronize()
    busy = [e for e in prof.key_averages() if e.self_device_time_total > 0]
    return sum(e.count for e in busy) / calls, sum(e.self_device_time_total for e in busy) / calls / 1e3


def kernel_ms(fn: Callable, n: int) -> float | None:
    """``kernels``' milliseconds; None where the profiler cannot see the GPU (the timings stand)."""
    try:
        return kernels(fn, n)[1]
    except Exception as exc:  # noqa: BLE001  # a profiler without CUPTI: the column stays empty
        print(f"  kernel time not measured: {type(exc).__name__}: {str(exc)[:80]}")
        return None


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("function", "formula") else "right")
    return table


def _ms(res: dict, key: str) -> str:
    return f"{res[key][0] * 1e3:.2f}" if key in res else "-"


def _ratio(res: dict, a: str, b: str) -> float | None:
    return res[a][0] / res[b][0] if a in res and b in res else None


def _fmt(r: float | None) -> str:
    return f"{r:.2f}" if r is not None else "-"


def known_table(
    console: Console, device: str, sizes: list[int], reps: int, block: int, where: str, composed: bool = True
) -> list[str]:
    """Table 1; returns the goal lines."""
    table = _table(
        f"1. torch's own activations as formulas: forward+backward, median of {reps} interleaved, {where}",
        [
            "function",
            "fused calls",
            "floats",
            "native ms",
            "lambdify ms",
            "symbolic ms",
            "fused ms",
            "composed fused ms",
            "fused/native",
            "symbolic/native",
            "composed fused/native",
            "saved MB native/symbolic/fused",
            "compile s (fused, composed)",
        ],
    )
    ratios: dict[int, list[float]] = {n: [] for n in sizes}
    for label, formula, native in KNOWN:
        expr = parse(formula)
        symbolic = compile_activation(expr).to(device)
        fused = compile_activation(expr, mode="fused").to(device)
        program = composed_fused(expr) if composed else None
        compile_s = f"{compiled(fused, device):.1f}, " + (f"{compiled(program, device):.1f}" if program else "-")
        natives = [op.fn for op in fused.program.ops if op.fn in NATIVES]
        calls = f"torch's {natives[0]}" if fused.program.native else "its program"
        variants = {
            "native": native,
            "lambdify": lambdified(expr),
            "symbolic": symbolic,
            "fused": fused,
            "composed": program,
        }
        for n in sizes:
            res = interleaved(variants, n, device, reps, block)
            ratio = _ratio(res, "fused", "native")
            if ratio is not None:
                ratios[n].append(ratio)
            table.add_row(
                label,
                calls,
                f"{n / 1e6:.0f}M",
                *(_ms(res, k) for k in variants),
                _fmt(ratio),
                _fmt(_ratio(res, "symbolic", "native")),
                _fmt(_ratio(res, "composed", "native")),
                "/".join(f"{res[k][1]:.0f}" if k in res else "-" for k in ("native", "symbolic", "fused")),
                compile_s,
            )
    console.print(table)
    console.print(
        "Where fused calls torch's own op, fused/native compares that op with itself (plus a Python call and the"
        " numbers around it): the spread of those ratios around 1 is this machine's timing noise."
    )
    return [
        f"goal (issue #27): median fused/native over the {len(r)} functions of table 1 <= {GOAL:.2f} at"
        f" {n / 1e6:.0f}M floats on {device}: median {statistics.median(r):.2f}, "
        + ("met" if statistics.median(r) <= GOAL else "missed")
        for n, r in ratios.items()
        if r
    ]


def compound_table(console: Console, device: str, sizes: list[int], reps: int, block: int, where: str) -> list[str]:
    """Table 2; returns the compiler issue's missed targets (compiled faster than lambdify on compound formulas)."""
    table = _table(
        f"2. formulas without a native equivalent: forward+backward, median of {reps} interleaved, {where}",
        ["function", "floats", "lambdify ms", "symbolic ms", "fused ms", "symbolic/lambdify", "fused/lambdify"],
    )
    misses = []
    for label, formula in COMPOUND:
        expr = parse(formula)
        fused = compile_activation(expr, mode="fused").to(device)
        compiled(fused, device)
        variants = {"lambdify": lambdified(expr), "symbolic": compile_activation(expr).to(device), "fused": fused}
        for n in sizes:
            res = interleaved(variants, n, device, reps, block)
            table.add_row(
                label,
                f"{n / 1e6:.0f}M",
                *(_ms(res, k) for k in variants),
                _fmt(_ratio(res, "symbolic", "lambdify")),
                _fmt(_ratio(res, "fused", "lambdify")),
            )
            for k in ("symbolic", "fused"):
                r = _ratio(res, k, "lambdify")
                if r is not None and r >= 1.0:
                    misses.append(f"{label} {n / 1e6:.0f}M: {k} {r:.2f}x lambdify (target < 1x on compound formulas)")
    console.print(table)
    return misses


def silu_table(console: Console, device: str, sizes: list[int], reps: int, block: int, where: str) -> None:
    """Table 3: the README's winners and random trees against torch's SiLU."""
    table = _table(
        f"3. the README's winners and random trees against torch's SiLU: forward+backward, median of {reps}"
        f" interleaved, {where}",
        [
            "formula",
            "floats",
            "SiLU ms",
            "symbolic ms",
            "fused ms",
            "graph ms",
            "symbolic/SiLU",
            "fused/SiLU",
            "graph/SiLU",
            "compile s fused, graph",
        ]
        + (["jit ms", "jit/SiLU", "kernels ms SiLU/symbolic/fused/graph/jit"] if device == "cuda" else []),
    )
    rows = [("winner", parse(f)) for f in WINNERS] + [("random", e) for e in random_trees(10)]
    fused_ratios: dict[int, list[float]] = {n: [] for n in sizes}
    jit_ratios: dict[int, list[float]] = {n: [] for n in sizes}
    for kind, expr in rows:
        fused, graph = compile_activation(expr, mode="fused").to(device), graph_fused(expr, device)
        compile_s = f"{compiled(fused, device):.1f}, {compiled(graph, device):.1f}"
        variants = {"silu": F.silu, "symbolic": compile_activation(expr).to(device), "fused": fused, "graph": graph}
        if device == "cuda":  # jit is the symbolic mode elsewhere
            variants["jit"] = jit = compile_activation(expr, mode="jit").to(device)
            compiled(jit, device)  # NVRTC compiles its two kernels at the first call
        for n in sizes:
            res = interleaved(variants, n, device, reps, block)
            ratio = _ratio(res, "fused", "silu")
            if ratio is not None and kind == "random":
                fused_ratios[n].append(ratio)
                if (jit_ratio := _ratio(res, "jit", "silu")) is not None:
                    jit_ratios[n].append(jit_ratio)
            table.add_row(
                f"{kind}: {sp.sstr(expr)}",
                f"{n / 1e6:.0f}M",
                *(_ms(res, k) for k in ("silu", "symbolic", "fused", "graph")),
                _fmt(_ratio(res, "symbolic", "silu")),
                _fmt(ratio),
                _fmt(_ratio(res, "graph", "silu")),
                compile_s,
                *(
                    [_ms(res, "jit"), _fmt(_ratio(res, "jit", "silu"))]
                    + ["/".join(_fmt(kernel_ms(variants[k], n)) for k in variants)]
                    if device == "cuda"
                    else []
                ),
            )
    console.print(table)
    for mode, ratios in (("fused", fused_ratios), ("jit", jit_ratios)):
        for n, r in ratios.items():
            if r:
                console.print(
                    f"random trees at {n / 1e6:.0f}M: {mode}/SiLU median {statistics.median(r):.2f},"
                    f" range {min(r):.2f}-{max(r):.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="floats per tensor (default: 1M on CPU, 16M on CUDA)")
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument(
        "--block",
        type=int,
        help="forward+backward calls queued between synchronisations per timing (default: 1 on the CPU, 20 on CUDA,"
        " where one synchronised call times mostly the host's launches and a training step queues its kernels)",
    )
    parser.add_argument("--threads", type=int, help="torch's CPU threads (default: torch's own choice)")
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], help="default: the CPU, and CUDA if present")
    parser.add_argument("--tables", nargs="+", type=int, choices=[1, 2, 3], default=[1, 2, 3])
    parser.add_argument("--no-composed", action="store_true", help="table 1 without the composed fused column")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console(width=230)
    console.print(f"$ python bench/compiler_speed.py {' '.join(sys.argv[1:])}".rstrip())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    console.print(
        f"Timing is interleaved (every variant of a row once per repetition, in rotating order): this machine ran other"
        f" CPU jobs at the same time (1-minute load average {load:.1f} at the start on {os.cpu_count()} cores)."
        " Compile times are those of the first call, with torch's on-disk inductor cache as this machine left it."
    )
    start = time.perf_counter()
    for device in args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        sizes = args.sizes or ([1_000_000] if device == "cpu" else [16_000_000])
        name = (
            torch.cuda.get_device_name()
            if device == "cuda"
            else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
        block = args.block or (20 if device == "cuda" else 1)
        where = f"torch {torch.__version__}, {device} ({name})" + (f", {block} calls per timing" if block > 1 else "")
        if 1 in args.tables:
            for line in known_table(console, device, sizes, args.reps, block, where, not args.no_composed):
                console.print(line)
        if 2 in args.tables:
            misses = compound_table(console, device, sizes, args.reps, block, where)
            console.print("compound targets missed: " + ("none" if not misses else "\n  " + "\n  ".join(misses)))
        if 3 in args.tables:
            silu_table(console, device, sizes, args.reps, block, where)
    console.print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
