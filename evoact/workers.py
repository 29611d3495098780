"""Parallel evaluation on Ray: a local loopback-only Ray by default, or an existing cluster by address."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from evoact.evaluation import evaluate

_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's local node address stays 127.0.0.1
FAILED_WORKER = "worker process died during the evaluation"
RETRIES_AFTER_DEATH = 1
_SLICE = 0.25  # seconds the pool waits on Ray at a time
_STARTED = "started"  # what a job streams first, once a worker runs it: its timeout counts from then
START_LIMIT = 10  # timeouts a job may wait for a worker to start it before it fails as never started


class WorkerError(RuntimeError):
    """Ray cannot be started or reached as asked."""


def start_ray(workers: int, address: str | None = None) -> bool:
    """Connect to ``address`` (or ``$RAY_ADDRESS``) or start a private local Ray bound to 127.0.0.1.

    Returns True when this call started Ray (and so should shut it down).
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before Ray is imported: no usage statistics leave the machine
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address or address.rpartition(":")[0] in ("127.0.0.1", "localhost"):
        # Without this Ray turns 127.0.0.1 into the machine's network address and binds or connects there.
        os.environ.setdefault(_LOOPBACK_SWITCH, "0")
        _loopback_if_imported()
    import ray

    if ray.is_initialized():
        return False
    # ray.init sets its own SIGTERM handler (sys.exit at once); one the caller set (the command line: stop as Ctrl-C
    # does, saving what finished) acts instead for a SIGTERM meanwhile, and is put back after it unless a signal
    # meanwhile stopped the start (the caller's first signal sets what the next one does)
    term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    restore = term is not None  # None: a handler not set from Python, which Python cannot put back
    try:
        _init(address, workers)
    except SystemExit as exc:
        if exc.code == signal.SIGTERM and callable(term):
            restore = False
            term(signal.SIGTERM, None)
        raise
    except KeyboardInterrupt:
        restore = False
        raise
    finally:
        if restore:
            signal.signal(signal.SIGTERM, term)
    return True


#: Seconds to wait for a Ray cluster's address to take a connection before saying it cannot be reached.
CONNECT_SECONDS = 10.0


def check_address(address: str | None) -> None:
    """A one-line ``WorkerError`` at once where ``address`` (or ``$RAY_ADDRESS``) names a host and port that take no
    connection: Ray itself retries for minutes, warning every few seconds, before it gives up."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():  # Ray says what is wrong with such an address
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise WorkerError(
            f"cannot reach the Ray cluster at {address} ({reason}); is it running (`ray status`)?"
        ) from None


def _init(address: str | None, workers: int) -> None:
    """``ray.init`` on ``address``, or a new private local Ray of ``workers`` CPUs bound to loopback."""
    import ray

    quiet: dict[str, Any] = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address:
        check_address(address)
        package = str(Path(__file__).resolve().parent)
        try:
            ray.init(address=address, runtime_env={"py_modules": [package]}, **quiet)
        except ConnectionError as exc:
            raise WorkerError(
                f"cannot reach the Ray cluster at {address} ({exc}); is it running (`ray status`)?"
            ) from None
    else:
        ray.init(  # "local": a new private Ray, even when a `ray start` cluster runs on this machine
            address="local",
            num_cpus=workers,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=128 * 1024 * 1024,
            **quiet,
        )
        bound = ray.get_runtime_context().gcs_address
        if not bound.startswith("127.0.0.1:"):
            ray.shutdown()
            raise WorkerError(
                f"local Ray bound to {bound}, not loopback: import evoact.workers before ray,"
                f" or set {_LOOPBACK_SWITCH}=0"
            )


def _loopback_if_imported() -> None:
    """Ray reads the loopback switch once, when it is imported: a Ray imported before evoact (a notebook's ``import
    ray`` first) is told here too, where its constant still exists (the bind check after ``ray.init`` stays)."""
    constants = getattr(getattr(sys.modules.get("ray"), "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER") and os.environ.get(_LOOPBACK_SWITCH) == "0":
        constants.ENABLE_RAY_CLUSTER = False


def _announced(function: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], Iterator[Any]]:
    """``function`` as a Ray streaming task: it first says that a worker runs it, then gives its result."""

    def run(job: dict[str, Any]) -> Iterator[Any]:
        yield _STARTED
        yield function(job)

    return run


class WorkerPool:
    """Runs jobs on Ray workers, at most ``workers`` at a time, with a per-job timeout.

    ``submit`` queues a job and returns its ticket; ``results`` yields ``(ticket, result)`` as jobs finish. A job whose
    worker process dies (killed, a crash, out of memory) runs once more in a fresh worker before it is recorded as
    failed; a job over the timeout is cancelled. Either way the pool goes on. The timeout counts from the moment a
    worker starts the job, not from its submission: on a cluster busy with other work, or one that is still adding
    nodes, a job waiting for a place is not cut short; one that no worker starts within ``START_LIMIT`` timeouts fails
    as never started. ``gpus_per_job`` reserves a (fraction of a) GPU per job, so GPU tasks are placed on and see a
    GPU; a private local Ray without such a place is refused at once.
    """

    def __init__(
        self,
        workers: int,
        address: str | None = None,
        timeout: float | None = None,
        gpus_per_job: float = 0.0,
        function: Callable[[dict[str, Any]], dict[str, Any]] = evaluate,
    ) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self._owns_ray = start_ray(self.workers, address)  # before ray is imported: see start_ray
        import ray

        self.address = ray.get_runtime_context().gcs_address
        self.needs = {"CPU": 1.0} | ({"GPU": gpus_per_job} if gpus_per_job else {})
        if self._owns_ray and not any(
            node["Alive"] and all(node["Resources"].get(k, 0.0) >= v for k, v in self.needs.items())
            for node in ray.nodes()
        ):  # a private Ray never grows: a job it cannot place would wait for ever
            has = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
            ray.shutdown()
            raise WorkerError(
                f"this machine has no place for a job that needs {self.needs} (its Ray has {has}): drop"
                " --gpus-per-job, or give --address of a cluster with GPUs"
            )
        # max_calls=0: a worker runs job after job, also on a GPU, where Ray's default starts a fresh process for each
        # (and so a fresh CUDA context, imports and data load per candidate)
        self._remote = ray.remote(
            num_cpus=1, num_gpus=gpus_per_job, max_retries=0, max_calls=0, num_returns="streaming"
        )(_announced(function))
        self._queue: list[tuple[int, dict[str, Any], int]] = []  # waiting for a free worker, next one last
        # a job's stream -> its ticket, job, attempt, when it was submitted, when a worker started it (None: not yet)
        self._running: dict[Any, tuple[int, dict[str, Any], int, float, float | None]] = {}
        self._tickets = 0

    def submit(self, job: dict[str, Any]) -> int:
        """Queue a job; it starts as soon as a worker is free. Returns its ticket."""
        self._tickets += 1
        self._queue.insert(0, (self._tickets, job, 0))
        self._fill()
        return self._tickets

    @property
    def busy(self) -> int:
        """Jobs submitted and not yet finished."""
        return len(self._queue) + len(self._running)

    def _fill(self) -> None:
        while self._queue and len(self._running) < self.workers:
            ticket, job, attempt = self._queue.pop()
            self._running[self._remote.remote(job)] = (ticket, job, attempt, time.monotonic(), None)

    def results(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Wait for the next job(s) to finish and yield ``(ticket, result)`` for each; failures come back as results
        too."""
        import ray

        while self._running:
            wait = _SLICE  # ray.wait holds back Python's signal handlers: Ctrl-C must act within a slice
            if self.timeout:
                deadline = min(self._deadline(submitted, started) for *_, submitted, started in self._running.values())
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            ready, _ = ray.wait(list(self._running), num_returns=1, timeout=wait)
            if ready:  # and whatever else streamed meanwhile, in one go
                ready, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=0)
            finished = [self._streamed(stream) for stream in ready] + self._timed_out()
            self._fill()
            done = [item for item in finished if item is not None]
            if done:
                yield from done
                return

    def _streamed(self, stream: Any) -> tuple[int, dict[str, Any]] | None:
        """What a job's stream gave: its start (noted; None), or its end (its result, a failure, or None to run it
        again after its worker died)."""
        import ray

        ticket, job, attempt, submitted, started = self._running.pop(stream)
        try:
            value = ray.get(next(stream))
            if value == _STARTED:
                self._running[stream] = (ticket, job, attempt, submitted, time.monotonic())
                return None
            return ticket, value
        except ray.exceptions.RayError as exc:
            died = not isinstance(exc, ray.exceptions.RayTaskError)  # not an exception raised by the job itself
            if died and attempt < RETRIES_AFTER_DEATH:
                self._queue.append((ticket, job, attempt + 1))
                return None
            if isinstance(exc, ray.exceptions.RayTaskError):  # not died: the job itself raised
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                error = f"the evaluation raised {type(cause).__name__}: {cause}"
            else:
                lines = str(exc).strip().splitlines()
                error = f"{FAILED_WORKER} ({attempt + 1} attempts): {lines[0] if lines else type(exc).__name__}"
            return ticket, {
                "status": "failed",
                "error": error,
                "seconds": time.monotonic() - started if started is not None else 0.0,
                "transient": died,
            }

    def _timed_out(self) -> list[tuple[int, dict[str, Any]]]:
        import ray

        if not self.timeout:
            return []
        now, out = time.monotonic(), []
        for stream, (ticket, _, _, submitted, started) in list(self._running.items()):
            if now < self._deadline(submitted, started):
                continue
            ray.cancel(stream, force=True)
            del self._running[stream]
            error = (
                f"timed out after {self.timeout:g} s"
                if started is not None
                else f"not started after {START_LIMIT * self.timeout:g} s: no worker of the cluster took it (it needs"
                f" {self.needs}; `ray status` shows what the cluster has)"
            )
            out.append(
                (
                    ticket,
                    {
                        "status": "failed",
                        "error": error,
                        "seconds": now - (started or now),
                        "transient": True,
                        "exhausted": started is not None,
                    },
                )
            )
        return out

    def _deadline(self, submitted: float, started: float | None) -> float:
        """When a job fails: a timeout after its start, or ``START_LIMIT`` timeouts after its submission while no
        worker has started it."""
        assert self.timeout  # only asked with a timeout
        return started + self.timeout if started is not None else submitted + START_LIMIT * self.timeout

    def imap(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Run ``jobs`` and yield ``(index, result)`` for each as it finishes."""
        index = {self.submit(job): i for i, job in enumerate(jobs)}
        while index and self.busy:
            for ticket, result in self.results():
                if ticket in index:
                    yield index.pop(ticket), result

    def close(self) -> None:
        """Stop this pool's jobs and shut down Ray if this pool started it; on a Ray it found running (a notebook's, a
        cluster) its unfinished jobs are cancelled instead, so that a stopped search does not go on training there."""
        import ray

        if not ray.is_initialized():
            return
        if self._owns_ray:
            ray.shutdown()
            return
        for stream in self._running:
            ray.cancel(stream, force=True)  # a job deep in a training may not see a polite interrupt for minutes
        self._running.clear()
        self._queue.clear()
