"""Parallel evaluation on Ray: a local loopback-only Ray by default, or an existing cluster by address."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

# Set before Ray is imported or started anywhere in evoact: no usage statistics leave the machine.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import evoact
from evoact.evaluation import evaluate

_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's local node address stays 127.0.0.1
FAILED_WORKER = "worker process died during the evaluation"
RETRIES_AFTER_DEATH = 1


class WorkerError(RuntimeError):
    """Ray cannot be started or reached as asked."""


def start_ray(workers: int, address: str | None = None) -> bool:
    """Connect to ``address`` (or ``$RAY_ADDRESS``) or start a private local Ray bound to 127.0.0.1.

    Returns True when this call started Ray (and so should shut it down).
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address or address.rpartition(":")[0] in ("127.0.0.1", "localhost"):
        # Without this Ray turns 127.0.0.1 into the machine's network address and binds or connects there.
        os.environ.setdefault(_LOOPBACK_SWITCH, "0")
    import ray

    if ray.is_initialized():
        return False
    quiet = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address:
        package = str(Path(evoact.__file__).parent)
        try:
            ray.init(address=address, runtime_env={"py_modules": [package]}, **quiet)
        except ConnectionError as exc:
            raise WorkerError(f"cannot reach the Ray cluster at {address} ({exc}); is it running (`ray status`)?") from None
    else:
        ray.init(  # "local": a new private Ray, even when a `ray start` cluster runs on this machine
            address="local", num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
            object_store_memory=128 * 1024 * 1024, **quiet,
        )
        bound = ray.get_runtime_context().gcs_address
        if not bound.startswith("127.0.0.1:"):
            ray.shutdown()
            raise WorkerError(f"local Ray bound to {bound}, not loopback: import evoact.workers before ray, or set {_LOOPBACK_SWITCH}=0")
    return True


class WorkerPool:
    """Runs jobs on Ray workers, at most ``workers`` at a time, with a per-job timeout.

    A job whose worker process dies (killed, a crash, out of memory) runs once more in a fresh worker
    before it is recorded as failed; a job over the timeout is cancelled. Either way the pool goes on.
    ``gpus_per_job`` reserves a (fraction of a) GPU per job, so GPU tasks are placed on and see a GPU.
    """

    def __init__(self, workers: int, address: str | None = None, timeout: float | None = None, gpus_per_job: float = 0.0,
                 function: Callable[[dict[str, Any]], dict[str, Any]] = evaluate) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self._owns_ray = start_ray(self.workers, address)  # before ray is imported: see start_ray
        import ray

        self.address = ray.get_runtime_context().gcs_address
        self._remote = ray.remote(num_cpus=1, num_gpus=gpus_per_job, max_retries=0)(function)

    def imap(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(index, result)`` for each job as it finishes; failures come back as results too."""
        import ray

        queue = [(index, job, 0) for index, job in enumerate(jobs)][::-1]
        running: dict[Any, tuple[int, dict[str, Any], int, float]] = {}
        while queue or running:
            while queue and len(running) < self.workers:
                index, job, attempt = queue.pop()
                running[self._remote.remote(job)] = (index, job, attempt, time.monotonic())
            wait = None
            if self.timeout:
                oldest = min(started for *_, started in running.values())
                wait = max(0.0, oldest + self.timeout - time.monotonic())
            ready, _ = ray.wait(list(running), num_returns=1, timeout=wait)
            for ref in ready:
                index, job, attempt, started = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    died = not isinstance(exc, ray.exceptions.RayTaskError)  # not an exception raised by the job itself
                    if died and attempt < RETRIES_AFTER_DEATH:
                        queue.append((index, job, attempt + 1))
                        continue
                    if died:
                        lines = str(exc).strip().splitlines()
                        error = f"{FAILED_WORKER} ({attempt + 1} attempts): {lines[0] if lines else type(exc).__name__}"
                    else:
                        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                        error = f"the evaluation raised {type(cause).__name__}: {cause}"
                    result = {"status": "failed", "error": error, "seconds": time.monotonic() - started, "transient": died}
                yield index, result
            if self.timeout:
                now = time.monotonic()
                for ref, (index, _, _, started) in list(running.items()):
                    if now - started >= self.timeout:
                        ray.cancel(ref, force=True)
                        del running[ref]
                        yield index, {"status": "failed", "error": f"timed out after {self.timeout:g} s", "seconds": now - started,
                                      "transient": True}

    def close(self) -> None:
        """Shut down Ray if this pool started it."""
        import ray

        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
