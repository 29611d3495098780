"""Evaluate one candidate: formula text in, JSON-ready metrics out. This is what a worker runs."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import torch

from evoact.compiler import CompiledActivation, lower
from evoact.formula import parse
from evoact.tasks import get_task
from evoact.training import TrainConfig, TrainingError, train


def make_job(formula: str, task: str, train: TrainConfig, params: dict[str, float]) -> dict[str, Any]:
    """A job is plain data (formula text, names and numbers), so workers never unpickle evoact objects."""
    return {"formula": formula, "task": task, "train": asdict(train), "params": dict(params)}


def evaluate(job: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """Compile the job's formula, train the task's model with it and return metrics or the failure reason."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        program = lower(parse(job["formula"]))
        task = get_task(job["task"])
        config = TrainConfig(**job["train"])
        data = task.load()
        torch.manual_seed(config.seed)
        model = task.build_model(lambda: CompiledActivation(program, job["params"]))
        result = train(model, data, config)
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
        "learned": learned,
    }
