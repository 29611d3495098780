"""Benchmark: evoact's CUDA paths: compiled and exported activations, the training loop, cifar10-fast and GPU sharing.

Run on a machine with a CUDA GPU:  python bench/cuda_paths.py [--sections ...] [--train-images 55000] [--epochs 1]
Sections (all by default, in this order):
- ``correctness``: every compile mode, and the exported standalone module (plain and fused) moved with
  ``.to("cuda")``, on CUDA against a float64 CPU reference: the largest absolute error of the forward, d/dx, d/dbeta.
- ``modes``: ``cifar10-resnet20`` trained for ``--epochs`` per activation mode against torch's own SiLU.
- ``loop``: ``cifar10-resnet20``'s steps per second and GPU utilisation for one epoch: the loop before issue #27
  (each batch indexed on the host and copied, the loss read back every step), today's (the split on the device, the
  loss read every 16 steps), today's reading every step, and today's with bf16 autocast and channels-last.
- ``fast``: ``cifar10-fast``: one full training (the speedrun's schedule, 9.9 epochs at batch 1,024) with torch's GELU
  and with evoact's compiled formulas: seconds, and the synthetic problem's test accuracy.
- ``sharing``: candidates per hour on the one GPU with 1, 2, 4 and 8 cifar10-fast trainings sharing it (Ray workers
  with ``gpus_per_job`` 1/k).
- ``search``: a real search (the command line) of ``cifar10-fast`` with 8 workers sharing the GPU, and its summary.
- ``compile``: ``torch.compile`` of ResNet-20 with the candidate: one epoch's seconds with the compile against eager.
- ``placement``: what a Ray job of ``WorkerPool`` sees of the GPU with ``gpus_per_job`` 0 and 0.25.
The images are synthetic, in CIFAR-10's layout (``write_synthetic_cifar10``; evoact never downloads CIFAR-10):
``--train-images`` 55,000 leaves 50,000 to train on after the 5,000 held out for validation. Accuracies say that the
networks learn, not what they reach on CIFAR-10.

``--smoke`` runs every section tiny on the CPU, to check the script where no GPU is (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from compiler_speed import graph_program  # bench/ is on the path when this runs as a script
from torch import nn

from evoact.compiler import MODES, compile_activation, lower
from evoact.export.torch_module import export_torch_module
from evoact.formula import parse
from evoact.tasks import get_task
from evoact.tasks.cifar10_fast import write_synthetic_cifar10
from evoact.training import Dataset, Schedule, TrainConfig, measure, train
from evoact.workers import WorkerPool

WARMUP_EPOCHS = 0.05
FORMULAS = [
    "x*sigmoid(beta*x)",
    "2*x*tanh(atan(beta) + atan(x))",
    "-x*tanh((x + log(exp(x) + 1))*tanh(beta))",
    "Max(x, beta*tanh(x)) + erf(x)/(1 + x**2)",
]
SECTIONS = ("correctness", "modes", "loop", "fast", "sharing", "search", "compile", "placement")


def _values(module: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Output, d/dx and d/dbeta of ``module`` at ``x``, on ``x``'s device and dtype."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    beta = [p for n, p in module.named_parameters() if n.endswith("beta")]
    grads = torch.autograd.grad(y.sum(), [x, *beta])
    return [y.detach(), grads[0], grads[1] if beta else torch.zeros(())]


def _exported(formula: str, folder: Path) -> type[nn.Module]:
    """The ``Activation`` class of ``formula``'s exported module file, imported as a user would."""
    import importlib.util

    path = export_torch_module(folder / f"act_{abs(hash(formula))}.py", formula)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Activation


def correctness(folder: Path, device: str) -> Iterator[str]:
    """Markdown rows: each formula and path on ``device``, its largest error against the float64 CPU reference."""
    x = torch.linspace(-6, 6, 4097, dtype=torch.float64)
    yield from ["| formula | path | max abs error f | d/dx | d/dbeta |", "| --- | --- | --- | --- | --- |"]
    for formula in FORMULAS:
        reference = _values(compile_activation(formula, {"beta": 0.8}, mode="autograd").double(), x)
        exported = _exported(formula, folder)
        paths = {f"compile_activation, {mode}": compile_activation(formula, {"beta": 0.8}, mode=mode) for mode in MODES}
        for fused in (False, True):
            module = exported(fused=fused)
            with torch.no_grad():
                for name, p in module.named_parameters():
                    if name.endswith("beta"):
                        p.fill_(0.8)
            paths[f"exported module{', fused' if fused else ''}"] = module
        for path, module in paths.items():
            got = _values(module.to(device), x.float().to(device))
            errors = [float((g.double().cpu() - r).abs().max()) for g, r in zip(got, reference)]
            yield f"| `{formula}` | {path} | {errors[0]:.1e} | {errors[1]:.1e} | {errors[2]:.1e} |"


def modes(data_dir: Path, epochs: int) -> Iterator[str]:
    """Markdown rows: seconds per epoch and validation accuracy of cifar10-resnet20, per activation path."""
    task = get_task("cifar10-resnet20", str(data_dir))
    task.prepare()
    config = TrainConfig(epochs=epochs)
    paths: dict[str, object] = {"torch nn.SiLU (baseline)": nn.SiLU}
    for formula in ("x*sigmoid(x)", FORMULAS[1]):
        for mode in MODES:
            paths[f"`{formula}`, {mode}"] = lambda formula=formula, mode=mode: compile_activation(formula, mode=mode)
    yield from ["| activation | s / epoch | ratio to torch SiLU | val acc |", "| --- | --- | --- | --- |"]
    base = None
    for name, make in paths.items():
        task.run(make, TrainConfig(epoch_scale=WARMUP_EPOCHS / task.epochs))  # cuDNN's autotuning, torch.compile
        result = task.run(make, config)
        per_epoch = result.seconds / epochs
        base = base or per_epoch
        yield f"| {name} | {per_epoch:.2f} | {per_epoch / base:.2f} | {result.val_acc:.3f} |"


class Utilisation:
    """The GPU's mean utilisation (NVML's percent of time a kernel ran) over a ``with`` block, sampled every 20 ms;
    None off CUDA or where NVML cannot be read."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.samples.append(torch.cuda.utilization())
            except Exception:  # noqa: BLE001  # no NVML (pynvml) here: no reading, not a failed benchmark
                return

    def __enter__(self) -> Utilisation:
        if torch.cuda.is_available():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def _train_before(model: nn.Module, data: Dataset, schedule: Schedule, device: torch.device) -> float:
    """The training loop as it was before issue #27 (evoact d3cfe6f^): each batch indexed on the host and copied to
    the device, the loss checked and read back every step; then the final measure, as then. Returns the loop's
    seconds."""
    model.to(device)
    opt = schedule.make_optimizer(model.parameters())
    order = torch.Generator().manual_seed(schedule.seed)
    n = len(data.x_train)
    total, step, loss_sum = schedule.steps(n), 0, 0.0
    _sync(device)
    start = time.perf_counter()
    while step < total:
        perm = torch.randperm(n, generator=order)
        for i in range(0, n, schedule.batch_size):
            idx = perm[i : i + schedule.batch_size]
            opt.zero_grad(set_to_none=True)
            value = F.cross_entropy(model(data.x_train[idx].to(device)), data.y_train[idx].to(device))
            if not torch.isfinite(value):
                raise RuntimeError("non-finite loss")
            value.backward()
            opt.step()
            loss_sum, step = loss_sum + value.item(), step + 1
            if step == total:
                break
    seconds = time.perf_counter() - start
    measure(model, data.x_val, data.y_val)
    measure(model, data.x_test, data.y_test)
    return seconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def loop(data_dir: Path, smoke: bool) -> Iterator[str]:
    """Markdown rows: cifar10-resnet20's steps per second and GPU utilisation for one epoch, per loop."""
    task = get_task("cifar10-resnet20", str(data_dir))
    data, device = task.load(), task.device()
    schedule = task.schedule(TrainConfig(epochs=1, batch_size=16 if smoke else None))
    warm = task.schedule(TrainConfig(epoch_scale=WARMUP_EPOCHS / task.epochs))
    steps = schedule.steps(len(data.x_train))
    formula = FORMULAS[1]
    loops: dict[str, Callable[[Schedule], float]] = {
        "before #27: host batches, loss read every step": lambda s: _train_before(
            task.build_model(nn.SiLU), data, s, device
        ),
        "today: split on the device, loss read every 16 steps": lambda s: (
            train(task.build_model(nn.SiLU), data, s, device=device).seconds
        ),
        "today, loss read every step": lambda s: (
            train(task.build_model(nn.SiLU), data, s, device=device, readback=1).seconds
        ),
        "today + bf16 autocast and channels-last": lambda s: (
            train(task.build_model(nn.SiLU), data, s, device=device, bf16=True).seconds
        ),
        f"today, `{formula}` (symbolic)": lambda s: (
            train(task.build_model(lambda: compile_activation(formula)), data, s, device=device).seconds
        ),
        f"today + bf16, `{formula}` (symbolic)": lambda s: (
            train(task.build_model(lambda: compile_activation(formula)), data, s, device=device, bf16=True).seconds
        ),
    }
    yield from [
        f"{steps} steps at batch {schedule.batch_size} (one epoch), activation torch's SiLU unless named. GPU"
        " utilisation: NVML's mean over the whole call (the model built, the split copied where the loop does, the"
        " loop, the final measure of validation and test), sampled every 20 ms.\n",
        "| loop | s (the loop) | steps / s | ratio to before | GPU utilisation |",
        "| --- | --- | --- | --- | --- |",
    ]
    base = None
    for name, run in loops.items():
        torch.manual_seed(0)
        run(warm)  # cuDNN's choices and first launches
        with Utilisation() as busy:
            seconds = run(schedule)
        base = base or seconds
        util = busy.mean()
        yield (
            f"| {name} | {seconds:.2f} | {steps / seconds:.0f} | {base / seconds:.2f}x |"
            f" {'n/a' if util is None else f'{util:.0f}%'} |"
        )


def compiled_model(data_dir: Path, smoke: bool) -> Iterator[str]:
    """Markdown rows: one epoch of cifar10-resnet20 with the model torch.compile'd (its compile included) and eager."""
    task = get_task("cifar10-resnet20", str(data_dir))
    data, device = task.load(), task.device()
    schedule = task.schedule(TrainConfig(epochs=1, batch_size=16 if smoke else None))
    yield from [
        "Each cell: the seconds of a whole call of `train` for one epoch (the loop and the final measure); the first"
        " call of the compiled model includes its compiles (training and evaluation graphs).\n",
        "| model | first call, s | second call, s |",
        "| --- | --- | --- |",
    ]
    for name, wrap in (("eager", lambda m: m), ("torch.compile", torch.compile)):
        step_model = wrap(task.build_model(nn.SiLU))
        calls = []
        for _ in range(2):
            _sync(device)
            start = time.perf_counter()
            train(step_model, data, schedule, device=device)
            calls.append(time.perf_counter() - start)
        yield f"| {name} | {calls[0]:.1f} | {calls[1]:.2f} |"


class GraphActivation(nn.Module):
    """bench/compiler_speed.py's "graph" (``graph_program``) as a module whose constants are parameters."""

    def __init__(self, formula: str) -> None:
        super().__init__()
        self.names = lower(parse(formula), natives=True).params
        self.params = nn.ParameterDict({p: nn.Parameter(torch.tensor(1.0)) for p in self.names})
        self.run = graph_program(formula)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, *(self.params[p] for p in self.names))


def fast_training(data_dir: Path, smoke: bool) -> Iterator[str]:
    """Markdown rows: seconds of full cifar10-fast trainings and the synthetic test accuracy, per activation."""
    task = get_task("cifar10-fast", str(data_dir))
    config = TrainConfig(epochs=1, batch_size=64) if smoke else TrainConfig()
    steps = task.steps(config)
    paths: dict[str, tuple[object, int]] = {"torch nn.GELU (the reference)": (nn.GELU, 3)}
    for formula, mode, seeds in (
        ("gelu(x)", "auto", 1),
        (FORMULAS[1], "auto", 2),
        (FORMULAS[1], "fused", 2),
        (FORMULAS[1], "jit", 2),
    ):
        make = functools.partial(compile_activation, formula, mode=mode)
        paths[f"`{formula}`, {mode}"] = (make, seeds)
    paths[f"`{FORMULAS[1]}`, graph (table 3's)"] = (functools.partial(GraphActivation, FORMULAS[1]), 2)
    yield from [
        f"{len(task.load().x_train)} training images, {steps} steps at batch {config.batch_size or task.batch_size};"
        " seconds of the training loop (whitening and the final test-time-flipped measures not included); the"
        " warm-up is one epoch first (cuDNN's autotuning, first launches, a fused formula's compiles)\n",
        "| activation | warm-up epoch s | seed | s / training | ratio to torch GELU's first | synthetic test acc |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    base = None
    for name, (make, seeds) in paths.items():
        warm = task.run(make, TrainConfig(epochs=1, batch_size=64 if smoke else 1024)).seconds
        for seed in range(1 if smoke else seeds):
            result = task.run(make, TrainConfig(seed=seed, epochs=config.epochs, batch_size=config.batch_size))
            base = base or result.seconds
            yield (
                f"| {name} | {warm:.1f} | {seed} | {result.seconds:.2f} | {result.seconds / base:.2f} |"
                f" {result.test_acc:.3f} |"
            )


def _train_fast(job: dict) -> dict:
    import os

    from torch import nn

    from evoact.tasks import get_task
    from evoact.training import TrainConfig

    task = get_task("cifar10-fast", job["data_dir"])
    result = task.run(nn.GELU, TrainConfig(seed=job["seed"], **job["config"]))
    return {"seconds": result.seconds, "test_acc": result.test_acc, "pid": os.getpid()}


def _shared(pool: WorkerPool, jobs: list[dict]) -> list[dict]:
    """The pool's results for ``jobs``; a failed training stops the benchmark with its error."""
    results = [r for _, r in pool.imap(jobs)]
    failed = [r for r in results if "test_acc" not in r]
    if failed:
        raise SystemExit(f"a shared training failed: {failed[0]}")
    return results


def sharing(data_dir: Path, smoke: bool, per_gpu: list[int]) -> Iterator[str]:
    """Markdown rows: candidates per hour on one GPU with k cifar10-fast trainings sharing it (k per GPU)."""
    config = {"epochs": 1, "batch_size": 64} if smoke else {}
    warm = {"epochs": 1, "batch_size": 64 if smoke else 1024}
    yield from [
        "Each worker first trains one epoch (its process, data and CUDA context ready), then 2k full trainings are"
        " timed.\n",
        "| per GPU | trainings | wall s | candidates / hour | s per training | worker processes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for k in per_gpu:
        pool = WorkerPool(k, gpus_per_job=0 if smoke else 1 / k, function=_train_fast)
        _shared(pool, [{"data_dir": str(data_dir), "seed": 0, "config": warm}] * k)
        start = time.perf_counter()
        results = _shared(pool, [{"data_dir": str(data_dir), "seed": s, "config": config} for s in range(2 * k)])
        wall = time.perf_counter() - start
        pool.close()
        seconds = [r["seconds"] for r in results]
        yield (
            f"| {k} | {len(results)} | {wall:.1f} | {3600 * len(results) / wall:.0f} |"
            f" {sum(seconds) / len(seconds):.2f} | {len({r['pid'] for r in results})} |"
        )


def search(data_dir: Path, smoke: bool, workers: int = 8) -> Iterator[str]:
    """Lines: a real search of cifar10-fast from the command line, ``workers`` sharing the GPU, and its summary."""
    runs = Path(tempfile.mkdtemp())
    size = (
        ["--population", "4", "--offspring", "2", "--epochs", "1"]
        if smoke
        else ["--population", "8", "--offspring", "8"]
    )
    command = [
        "evoact", "search", "--task", "cifar10-fast", "--data-dir", str(data_dir), "--workers", str(workers),
        "--gpus-per-job", "0" if smoke else f"{1 / workers:g}", *size, "--generations", "2", "--race", "0",
        "--runs-dir", str(runs), "--name", "gpu-fast", "--seed", "0",
    ]  # fmt: skip
    yield f"```\n$ {' '.join(command)}\n```\n"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evoact.cli", *command[1:]], check=True, stdout=subprocess.DEVNULL)
    yield f"wall time {time.perf_counter() - start:.0f} s\n"
    show = subprocess.run(
        [sys.executable, "-m", "evoact.cli", "show", str(runs / "gpu-fast")], check=True, capture_output=True, text=True
    ).stdout
    yield f"```\n{show.rstrip()}\n```"


def _probe(job: dict) -> dict:
    import torch

    return {
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        "cuda": torch.cuda.is_available(),
    }


def placement() -> Iterator[str]:
    """Markdown rows: what a Ray job of evoact's pool sees of the GPU, with and without --gpus-per-job."""
    yield from ["| gpus_per_job | CUDA_VISIBLE_DEVICES | torch.cuda.is_available() |", "| --- | --- | --- |"]
    for gpus in (0.0, 0.25) if torch.cuda.is_available() else (0.0,):  # a GPU share never starts without a GPU
        pool = WorkerPool(1, gpus_per_job=gpus, function=_probe)  # starts Ray on loopback: import ray after it
        (result,) = pool.imap([{}])
        pool.close()
        seen = result[1]
        yield f"| {gpus} | `{seen['CUDA_VISIBLE_DEVICES']}` | {seen['cuda']} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument(
        "--train-images", type=int, default=55000, help="synthetic training images (5,000 of them validate)"
    )
    parser.add_argument("--test-images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the modes section")
    parser.add_argument(
        "--per-gpu", type=int, nargs="+", default=[1, 2, 4, 8], help="trainings sharing the GPU (sharing section)"
    )
    parser.add_argument("--smoke", action="store_true", help="every section tiny on the CPU: checks the script only")
    args = parser.parse_args()
    if args.smoke:
        args.train_images, args.test_images, args.epochs = 200, 40, 1
        args.per_gpu = [k for k in args.per_gpu if k <= 2] or [1]
    elif not torch.cuda.is_available():
        raise SystemExit("bench/cuda_paths.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    from importlib.metadata import version

    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (smoke run)"
    print(f"# CUDA paths: torch {torch.__version__}, {name}, ray {version('ray')}\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        write_synthetic_cifar10(data_dir, train=args.train_images, test=args.test_images)
        sections: dict[str, tuple[str, Callable[[], list[str]]]] = {
            "correctness": (
                "Compiled and exported activations on CUDA (float32) against a float64 CPU reference",
                lambda: correctness(data_dir, str(device)),
            ),
            "modes": (
                f"cifar10-resnet20, {args.epochs} epoch(s) per activation mode",
                lambda: modes(data_dir, args.epochs),
            ),
            "loop": (
                "cifar10-resnet20: the training loop before and after issue #27",
                lambda: loop(data_dir, args.smoke),
            ),
            "fast": ("cifar10-fast: full trainings", lambda: fast_training(data_dir, args.smoke)),
            "sharing": (
                "cifar10-fast trainings sharing one GPU (Ray workers, gpus_per_job 1/k)",
                lambda: sharing(data_dir, args.smoke, args.per_gpu),
            ),
            "search": ("A real search of cifar10-fast, 8 workers on the GPU", lambda: search(data_dir, args.smoke)),
            "compile": (
                "cifar10-resnet20 with torch.compile of the model",
                lambda: compiled_model(data_dir, args.smoke),
            ),
            "placement": ("What a Ray job sees (WorkerPool, local Ray)", placement),
        }
        for key in args.sections:
            title, run = sections[key]
            start = time.perf_counter()
            print(f"## {title}\n", flush=True)
            for line in run():
                print(line, flush=True)
            print(f"\n({time.perf_counter() - start:.0f} s with warm-ups)\n", flush=True)


if __name__ == "__main__":
    main()
