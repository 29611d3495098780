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
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoact.compiler import MODES, compile_activation
from evoact.export.torch_module import export_torch_module
from evoact.tasks import get_task
from evoact.tasks.cifar10 import FOLDER, TEST_FILE, TRAIN_FILES
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


def write_synthetic_cifar(root: Path, images: int, seed: int = 0) -> Path:
    """CIFAR-10's layout and shapes filled with ten class patterns plus noise: enough to see a network learn."""
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(10, 3, 4, 4))
    templates = np.kron(low, np.ones((1, 1, 8, 8)))  # 32 x 32, blocky class patterns
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    per_batch = images // (len(TRAIN_FILES) + 1)
    for name in (*TRAIN_FILES, TEST_FILE):
        labels = rng.integers(0, 10, per_batch)
        pixels = 128 + 4 * templates[labels] + 50 * rng.normal(size=(per_batch, 3, 32, 32))
        data = np.clip(pixels, 0, 255).astype(np.uint8).reshape(per_batch, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, f)
    return root


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
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/cuda_paths.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    from importlib.metadata import version

    print(f"# CUDA paths: torch {torch.__version__}, {torch.cuda.get_device_name()}, ray {version('ray')}\n")
    with tempfile.TemporaryDirectory() as tmp:
        print("## Compiled and exported activations on CUDA (float32) against a float64 CPU reference\n")
        print("| formula | path | max abs error f | d/dx | d/dbeta |\n| --- | --- | --- | --- | --- |")
        print("\n".join(correctness(Path(tmp))), flush=True)
        data_dir = write_synthetic_cifar(Path(tmp), args.images)
        print(
            f"\n## cifar10-resnet20 on the GPU, {args.epochs} epoch(s) on {args.images} synthetic images"
            " (not CIFAR-10)\n"
        )
        start = time.perf_counter()
        print("| activation | s / epoch | ratio to torch SiLU | val acc |\n| --- | --- | --- | --- |")
        print("\n".join(training(data_dir, args.epochs)), flush=True)
        print(f"\n({time.perf_counter() - start:.0f} s with warm-ups)")
    print("\n## What a Ray job sees (WorkerPool, local Ray)\n")
    print("| gpus_per_job | CUDA_VISIBLE_DEVICES | torch.cuda.is_available() |\n| --- | --- | --- |")
    print("\n".join(placement()))


if __name__ == "__main__":
    main()
