"""Evaluate one candidate: formula text in, JSON-ready metrics out. This is what a worker runs."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import torch

from evoact.compiler import CompiledActivation, choose_mode
from evoact.formula import parse
from evoact.screening.config import ScreeningConfig
from evoact.screening.stability import stability_reason
from evoact.tasks import get_task
from evoact.training import TrainConfig, TrainingError, train


def make_job(formula: str, task: str, train: TrainConfig, params: dict[str, float],
             screening: ScreeningConfig | None = None, hurdle: float | None = None) -> dict[str, Any]:
    """A job is plain data (formula text, names and numbers), so workers never unpickle evoact objects.

    With ``screening`` the worker runs the stability check first and measures the quality hurdle's accuracy
    after ``hurdle_fraction`` of the epochs, stopping there when it is below ``hurdle``.
    """
    return {"formula": formula, "task": task, "train": asdict(train), "params": dict(params),
            "screening": asdict(screening) if screening and screening.active else None, "hurdle": hurdle}


def hurdle_epoch(epochs: int, screening: ScreeningConfig) -> int:
    """The epoch after which the quality hurdle is measured (at least 1)."""
    return max(1, round(epochs * screening.hurdle_fraction))


def evaluate(job: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """Compile the job's formula, train the task's model with it and return metrics or the failure reason."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        expr = parse(job["formula"])
        task = get_task(job["task"])
        config = TrainConfig(**job["train"])
        data = task.load()
        mode = choose_mode(config.activation_mode, config.epochs * -(-len(data.x_train) // config.batch_size))
        make = lambda: CompiledActivation(expr, job["params"], mode)  # noqa: E731
        screening = ScreeningConfig(**job["screening"]) if job.get("screening") else None
        probe = None
        if screening is not None:
            reason = stability_reason(make, screening, config.seed)
            if reason:
                return {"status": "rejected", "stage": "stability", "error": reason, "seconds": time.perf_counter() - start}
            probe = hurdle_epoch(config.epochs, screening)
        torch.manual_seed(config.seed)
        model = task.build_model(make)
        result = train(model, data, config, probe, job.get("hurdle"))
        if result.stopped:
            return {"status": "rejected", "stage": "quality", "probe_acc": result.probe_acc, "train_seconds": result.seconds,
                    "error": f"validation accuracy {result.probe_acc:.4f} after {probe} epoch(s) is below the hurdle {job['hurdle']:.4f}",
                    "seconds": time.perf_counter() - start}
    except TrainingError as exc:
        return {"status": "failed", "error": str(exc), "seconds": time.perf_counter() - start}
    except Exception as exc:  # a candidate must never stop the run: record why it failed
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - start}
    learned: dict[str, list[float]] = {}
    for module in model.modules():
        if isinstance(module, CompiledActivation):
            for name, p in module.params.items():
                learned.setdefault(name, []).append(round(p.item(), 6))
    return {
        "status": "ok", "fitness": result.val_acc, "val_acc": result.val_acc, "test_acc": result.test_acc,
        "train_loss": result.train_loss, "train_seconds": result.seconds, "seconds": time.perf_counter() - start,
        "learned": learned, "probe_acc": result.probe_acc,
    }
