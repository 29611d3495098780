"""Evaluate one candidate: a plain job in, a plain outcome out (``records.Outcome``). This is what a worker runs."""

from __future__ import annotations

import contextlib
import site
import sysconfig
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sympy as sp
import torch

from evoact.compiler import CompiledActivation, choose_mode
from evoact.formula import parse
from evoact.records import Outcome, Stage, Status, TaskScore
from evoact.scoring import fitness
from evoact.screening.config import ScreeningConfig
from evoact.screening.stability import stability_reason
from evoact.tasks import get_task
from evoact.tasks.user import UserTask
from evoact.training import Hurdle, TaskError, TrainConfig, TrainingError

#: What torch raises when a device runs out of memory: ``torch.OutOfMemoryError`` in newer torch; the torch 2.3 the
#: project allows has only the CUDA one, which newer torch's is.
_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class _TaskChanged(TaskError):
    """The task's code is not what the search began with: its file was edited while the search ran."""


def make_job(
    formula: str,
    tasks: str | tuple[str, ...] | list[str],
    train: TrainConfig,
    params: dict[str, float],
    screening: ScreeningConfig | None = None,
    data_dir: str | None = None,
    hurdles: dict[str, Hurdle] | None = None,
    score: str = "accuracy",
    plain: bool = False,
    codes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A job is plain data (formula text, task names and numbers), so workers never unpickle evoact objects.

    ``plain``: train each task's plain-FFN form (``Task.plain``: GLU tasks only), the function its activation.
    ``codes``: the user tasks' code (``UserTask.code``) the search began with; a worker that loads other code (the
    file was edited meanwhile) fails the job as the task's fault, so one ranking never holds two versions.

    Tasks are trained in order, cheapest first. With ``screening`` the worker runs the stability check first and
    measures each task's quality hurdle (``hurdles``, by task) after ``hurdle_fraction`` of its training, rejecting
    the candidate at the first task it misses, without training on the rest (EvoNorms).
    """
    names = [tasks] if isinstance(tasks, str) else list(tasks)
    return {
        "formula": formula,
        "tasks": names,
        "train": asdict(train),
        "params": dict(params),
        "screening": asdict(screening) if screening and screening.active else None,
        "hurdles": {name: asdict(h) for name, h in (hurdles or {}).items()},
        "data_dir": data_dir,
        "score": score,
        "plain": plain,
        "codes": dict(codes or {}),
    }


def evaluate(job: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """Compile the job's formula, train each task's model with it and return the plain ``Outcome``.

    ``val_acc``, ``test_acc`` and ``learned`` are the first task's; ``scores`` holds every task's. Torch's
    process-wide settings are as they were before, after the job: a worker runs the next one as it ran this.
    """
    torch.set_num_threads(threads)
    with _torch_settings_kept():
        return _evaluate(job)


@contextlib.contextmanager
def _torch_settings_kept() -> Iterator[None]:
    """Torch's process-wide settings, restored after the block: a task that changes one (the default dtype or device,
    grad mode, deterministic algorithms, anomaly detection, matmul precision and TF32, cuDNN's flags) and does not put
    it back must not change the next job's training in the same worker (float64 weights failed every later one)."""
    dtype, device, grad = torch.get_default_dtype(), torch.get_default_device(), torch.is_grad_enabled()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    anomaly, precision = torch.is_anomaly_enabled(), torch.get_float32_matmul_precision()
    cudnn = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32
    tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        if torch.get_default_device() != device:  # set only where changed: a default device costs every op a check
            torch.set_default_device(None if device.type == "cpu" else device)
        torch.set_grad_enabled(grad)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.autograd.set_detect_anomaly(anomaly)
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32 = cudnn
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _evaluate(job: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    scores: dict[str, TaskScore] = {}
    metrics: dict[str, str] = {}
    try:
        expr = parse(job["formula"])
        config = TrainConfig(**job["train"])
        screening = ScreeningConfig(**job["screening"]) if job.get("screening") else None
        for index, name in enumerate(job["tasks"]):
            task = get_task(name, job.get("data_dir"))
            began = (job.get("codes") or {}).get(name)
            if began is not None and isinstance(task, UserTask) and began not in task.codes():
                raise _TaskChanged(
                    f"{name} changed since this search began with it (a task's code is its whole file and the helpers"
                    " it imports): one ranking would hold results of both; restore its code"
                )
            task = task.plain() if job.get("plain") else task
            metrics[name] = task.metric
            mode = choose_mode(config.activation_mode, task.steps(config), task.device().type)
            made: list[CompiledActivation] = []
            make = _factory(expr, job["params"], mode, made)

            if screening is not None and index == 0:
                reason = stability_reason(make, screening, config.seed)
                if reason:
                    return Outcome(
                        Status.REJECTED, stage=Stage.STABILITY, error=reason, seconds=time.perf_counter() - start
                    ).plain()
                made.clear()
            probe = task.probe_step(config, screening.hurdle_fraction) if screening is not None else None
            hurdle = Hurdle(**job["hurdles"][name]) if name in (job.get("hurdles") or {}) else None
            result = task.run(make, config, probe, hurdle)
            if job.get("score") == "loss" and result.val_loss is None:
                raise TaskError(
                    f"--score loss compares validation losses, and task {name} returned no val_loss (a task of your"
                    " own returns it beside its val_acc: a finite number, never negative)"
                )
            scores[name] = TaskScore(
                result.val_acc,
                result.test_acc,
                result.seconds,
                result.probe_acc,
                _learned(made),
                result.val_loss,
                result.test_loss,
                result.probe_loss,
                result.stopped,
                result.curve,
            )
            if result.stopped:
                assert hurdle is not None  # training stops early only at a hurdle
                measured = (
                    f"accuracy {result.probe_acc:.4f}"
                    if hurdle.metric == "accuracy"
                    else f"loss {result.probe_loss:.4g}"
                )
                return Outcome(
                    Status.REJECTED,
                    stage=Stage.QUALITY,
                    probe_acc=result.probe_acc,
                    train_seconds=_trained(scores),
                    scores=scores,
                    error=f"{name}: validation {measured} after {probe} step(s) is "
                    f"{'below' if hurdle.metric == 'accuracy' else 'above'} the hurdle {hurdle.limit:.4f}",
                    seconds=time.perf_counter() - start,
                ).plain()
    except TaskError as exc:  # every function alike; an edit under the search is no fault of the function either
        changed = isinstance(exc, _TaskChanged)
        seconds = time.perf_counter() - start
        return Outcome(Status.FAILED, error=str(exc), seconds=seconds, task_fault=True, transient=changed).plain()
    except TrainingError as exc:
        return Outcome(Status.FAILED, error=str(exc), seconds=time.perf_counter() - start).plain()
    except (MemoryError, _OUT_OF_MEMORY) as exc:  # the machine's (a shared GPU), not the function's: once
        error = f"out of memory ({type(exc).__name__}: {str(exc).strip()[:200]}){raised_at(exc)}"
        failed = Outcome(
            Status.FAILED, error=error, seconds=time.perf_counter() - start, transient=True, exhausted=True
        )
        return failed.plain()
    except Exception as exc:  # a candidate must never stop the run: record why it failed, and where
        error = f"{type(exc).__name__}: {exc}{raised_at(exc)}"
        return Outcome(Status.FAILED, error=error, seconds=time.perf_counter() - start).plain()
    first = scores[job["tasks"][0]]
    return Outcome(
        Status.OK,
        fitness(scores, job["tasks"], metrics=metrics, score=job.get("score", "accuracy")),
        first.val_acc,
        first.test_acc,
        _trained(scores),
        time.perf_counter() - start,
        first.probe_acc,
        first.learned,
        scores=scores,
    ).plain()


def _factory(
    expr: sp.Expr, params: dict[str, float], mode: str, made: list[CompiledActivation]
) -> Callable[..., CompiledActivation]:
    """What a task calls for each nonlinearity: a fresh module (kept in ``made`` for its learned constants), taking
    ``inplace`` as torch's activations do, so that a user's model may pass it as timm's or torchvision's
    ``act_layer``/``activation_layer``."""

    def make(inplace: bool | None = False) -> CompiledActivation:
        made.append(CompiledActivation(expr, params, mode, False if inplace is None else inplace))
        return made[-1]

    return make


def _trained(scores: dict[str, TaskScore]) -> float:
    """Seconds spent training, all tasks together (every score here was measured, so none is None)."""
    return sum(s.train_seconds or 0.0 for s in scores.values())


_LIBRARIES = tuple(
    {sysconfig.get_path(n) for n in ("stdlib", "platstdlib", "purelib", "platlib")} | {site.getusersitepackages()}
)


def raised_at(exc: BaseException) -> str:
    """`` (at FILE:LINE in FUNCTION)``: the innermost frame of the traceback outside Python's own files and installed
    packages (a user's task file, say), so that a failure stored without its traceback still says where to look;
    empty where there is none."""
    for frame, line in reversed(list(traceback.walk_tb(exc.__traceback__))):
        name = frame.f_code.co_filename
        if not name.startswith(_LIBRARIES) and not {"site-packages", "dist-packages"} & set(Path(name).parts):
            return f" (at {name}:{line} in {frame.f_code.co_name})"
    return ""


def _learned(made: list[CompiledActivation]) -> dict[str, tuple[float, ...]]:
    """Each learnable constant's trained value in every layer that has it."""
    learned: dict[str, list[float]] = {}
    for module in made:
        for name, p in module.params.items():
            learned.setdefault(name, []).append(float(f"{p.item():.7g}"))  # 7 significant digits: small ones too
    return {name: tuple(values) for name, values in learned.items()}
