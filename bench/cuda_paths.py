"""Benchmark: evoact's CUDA paths: compiled and exported activations, GPU training, and where Ray puts a GPU job.

Run on a machine with a CUDA GPU:  python bench/cuda_paths.py [--images 50000] [--epochs 1]
1. Every compile mode, and the exported standalone module (plain and fused) moved with ``.to("cuda")``, on CUDA
   against a float64 CPU reference: the largest absolute error of the forward, d/dx and d/dbeta.
2. ``cifar10-resnet20`` trained on the GPU for ``--epochs`` on synthetic images of CIFAR-10's shape and count (class
   patterns plus noise, written in torchvision's layout: not CIFAR-10, which evoact never downloads): seconds per
   epoch for each activation mode against torch's own SiLU, and the validation accuracy reached (learning works;
   not a CIFAR-10 result).
3. A Ray job of ``WorkerPool`` with ``gpus_per_job`` 0 and 0.25: its CUDA_VISIBLE_DEVICES and whether torch sees the
   GPU.
4. ``cifar10-fast``: one full training (the speedrun's schedule, 9.9 epochs at batch 1024) on 50,000 synthetic images
   in CIFAR-10's layout, with torch's GELU and with evoact's compiled formulas (seconds, and the synthetic problem's
   test accuracy); then candidates per hour on the one GPU with 1, 2, 4 and 8 trainings sharing it (Ray workers with
   ``gpus_per_job`` 1/k).

``--smoke`` runs every section tiny on the CPU, to check the script where no GPU is (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from evoact.compiler import MODES, compile_activation
from evoact.export.torch_module import export_torch_module
from evoact.tasks import get_task
from evoact.tasks.cifar10_fast import write_synthetic_cifar10
from evoact.training import TrainConfig
from evoact.workers import WorkerPool

WARMUP_EPOCHS = 0.05
FORMULAS = [
    "x*sigmoid(beta*x)",
    "2*x*tanh(atan(beta) + atan(x))",
    "-x*tanh((x + log(exp(x) + 1))*tanh(beta))",
    "Max(x, beta*tanh(x)) + erf(x)/(1 + x**2)",
]


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


def correctness(folder: Path) -> list[str]:
    """Markdown rows: each formula and path on CUDA, its largest error against the float64 CPU reference."""
    x = torch.linspace(-6, 6, 4097, dtype=torch.float64)
    rows = []
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
            got = _values(module.to("cuda"), x.float().cuda())
            errors = [float((g.double().cpu() - r).abs().max()) for g, r in zip(got, reference)]
            rows.append(f"| `{formula}` | {path} | {errors[0]:.1e} | {errors[1]:.1e} | {errors[2]:.1e} |")
    return rows


def training(data_dir: Path, epochs: int) -> list[str]:
    """Markdown rows: seconds per epoch and validation accuracy of cifar10-resnet20 on the GPU, per activation path."""
    task = get_task("cifar10-resnet20", str(data_dir))
    task.prepare()
    config = TrainConfig(epochs=epochs)
    paths: dict[str, object] = {"torch nn.SiLU (baseline)": nn.SiLU}
    for formula in ("x*sigmoid(x)", FORMULAS[1]):
        for mode in MODES:
            paths[f"`{formula}`, {mode}"] = lambda formula=formula, mode=mode: compile_activation(formula, mode=mode)
    rows, base = [], None
    for name, make in paths.items():
        task.run(make, TrainConfig(epoch_scale=WARMUP_EPOCHS / task.epochs))  # cuDNN's autotuning, torch.compile
        result = task.run(make, config)
        per_epoch = result.seconds / epochs
        base = base or per_epoch
        rows.append(f"| {name} | {per_epoch:.2f} | {per_epoch / base:.2f} | {result.val_acc:.3f} |")
    return rows


def fast_training(data_dir: Path, smoke: bool) -> list[str]:
    """Markdown rows: seconds of one full cifar10-fast training and its synthetic test accuracy, per activation."""
    task = get_task("cifar10-fast", str(data_dir))
    config = TrainConfig(epochs=1, batch_size=64) if smoke else TrainConfig()
    paths: dict[str, object] = {"torch nn.GELU (the reference)": nn.GELU}
    for formula in ("gelu(x)", FORMULAS[1]):
        paths[f"`{formula}`, auto"] = lambda formula=formula: compile_activation(formula)
    rows, base = [], None
    for name, make in paths.items():
        task.run(make, TrainConfig(epochs=1, batch_size=64 if smoke else 1024))  # cuDNN's autotuning, first launches
        result = task.run(make, config)
        base = base or result.seconds
        rows.append(f"| {name} | {result.seconds:.2f} | {result.seconds / base:.2f} | {result.test_acc:.3f} |")
    return rows


def _train_fast(job: dict) -> dict:
    from torch import nn

    from evoact.tasks import get_task
    from evoact.training import TrainConfig

    task = get_task("cifar10-fast", job["data_dir"])
    result = task.run(nn.GELU, TrainConfig(seed=job["seed"], **job["config"]))
    return {"seconds": result.seconds, "test_acc": result.test_acc}


def sharing(data_dir: Path, smoke: bool) -> list[str]:
    """Markdown rows: candidates per hour on one GPU with k cifar10-fast trainings sharing it (k per GPU)."""
    config = {"epochs": 1, "batch_size": 64} if smoke else {}
    rows = []
    for k in (1, 2) if smoke else (1, 2, 4, 8):
        pool = WorkerPool(k, gpus_per_job=0 if smoke else 1 / k, function=_train_fast)
        list(pool.imap([{"data_dir": str(data_dir), "seed": 0, "config": config}] * k))  # warm every worker up
        start = time.perf_counter()
        jobs = [{"data_dir": str(data_dir), "seed": s, "config": config} for s in range(2 * k)]
        results = [r for _, r in pool.imap(jobs)]
        wall = time.perf_counter() - start
        pool.close()
        failed = [r for r in results if "seconds" not in r]
        if failed:
            raise SystemExit(f"a shared training failed: {failed[0]}")
        seconds = [r["seconds"] for r in results]
        rows.append(
            f"| {k} | {len(results)} | {wall:.1f} | {3600 * len(results) / wall:.0f} |"
            f" {sum(seconds) / len(seconds):.2f} |"
        )
    return rows


def _probe(job: dict) -> dict:
    import torch

    return {
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        "cuda": torch.cuda.is_available(),
    }


def placement() -> list[str]:
    """Markdown rows: what a Ray job of evoact's pool sees of the GPU, with and without --gpus-per-job."""
    rows = []
    for gpus in (0.0, 0.25):
        pool = WorkerPool(1, gpus_per_job=gpus, function=_probe)  # starts Ray on loopback: import ray after it
        (result,) = pool.imap([{}])
        pool.close()
        seen = result[1]
        rows.append(f"| {gpus} | `{seen['CUDA_VISIBLE_DEVICES']}` | {seen['cuda']} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60000, help="synthetic images in all (train and test)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="every section tiny on the CPU: checks the script only")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.epochs = 240, 1
    elif not torch.cuda.is_available():
        raise SystemExit("bench/cuda_paths.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    from importlib.metadata import version

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (smoke run)"
    print(f"# CUDA paths: torch {torch.__version__}, {device}, ray {version('ray')}\n")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        write_synthetic_cifar10(data_dir, train=args.images * 5 // 6, test=args.images // 6)
        if not args.smoke:  # sections 1 and 2 need the GPU; they were measured before (bench/results/cuda_paths.md)
            print("## Compiled and exported activations on CUDA (float32) against a float64 CPU reference\n")
            print("| formula | path | max abs error f | d/dx | d/dbeta |\n| --- | --- | --- | --- | --- |")
            print("\n".join(correctness(Path(tmp))), flush=True)
            print(
                f"\n## cifar10-resnet20 on the GPU, {args.epochs} epoch(s) on {args.images} synthetic images"
                " (not CIFAR-10)\n"
            )
            start = time.perf_counter()
            print("| activation | s / epoch | ratio to torch SiLU | val acc |\n| --- | --- | --- | --- |")
            print("\n".join(training(data_dir, args.epochs)), flush=True)
            print(f"\n({time.perf_counter() - start:.0f} s with warm-ups)")
        print(
            f"\n## cifar10-fast: one full training on {args.images * 5 // 6} synthetic images (not CIFAR-10)\n"
            "\n| activation | s / training | ratio to torch GELU | synthetic test acc |\n| --- | --- | --- | --- |"
        )
        print("\n".join(fast_training(data_dir, args.smoke)), flush=True)
        print(
            "\n## cifar10-fast trainings sharing one GPU (Ray workers, gpus_per_job 1/k)\n"
            "\n| per GPU | trainings | wall s | candidates / hour | s per training |\n| --- | --- | --- | --- | --- |"
        )
        print("\n".join(sharing(data_dir, args.smoke)), flush=True)
    print("\n## What a Ray job sees (WorkerPool, local Ray)\n")
    print("| gpus_per_job | CUDA_VISIBLE_DEVICES | torch.cuda.is_available() |\n| --- | --- | --- |")
    print("\n".join(placement()))


if __name__ == "__main__":
    main()
