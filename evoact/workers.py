"""Parallel evaluation on Ray: a local loopback-only Ray by default, or an existing cluster by address."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

# Set before Ray is imported or started anywhere in evoact: no usage statistics leave the machine.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import evoact
from evoact.evaluation import evaluate

FAILED_WORKER = "worker process died during the evaluation"


def start_ray(workers: int, address: str | None = None) -> bool:
    """Connect to ``address`` (or ``$RAY_ADDRESS``) or start a private local Ray bound to 127.0.0.1.

    Returns True when this call started Ray (and so should shut it down).
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address:
        package = str(Path(evoact.__file__).parent)
        ray.init(address=address, runtime_env={"py_modules": [package]}, **quiet)
    else:
        ray.init(
            num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
            object_store_memory=128 * 1024 * 1024, **quiet,
        )
    return True


class WorkerPool:
    """Runs evaluation jobs on Ray workers, at most ``workers`` at a time, with a per-job timeout."""

    def __init__(self, workers: int, address: str | None = None, timeout: float | None = None) -> None:
        import ray

        self.workers = max(1, workers)
        self.timeout = timeout
        self._owns_ray = start_ray(self.workers, address)
        self._remote = ray.remote(num_cpus=1, max_retries=0)(evaluate)

    def imap(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(index, result)`` for each job as it finishes; failures come back as results too."""
        import ray

        queue = list(enumerate(jobs))[::-1]
        running: dict[Any, tuple[int, float]] = {}
        while queue or running:
            while queue and len(running) < self.workers:
                index, job = queue.pop()
                running[self._remote.remote(job)] = (index, time.monotonic())
            wait = None
            if self.timeout:
                oldest = min(started for _, started in running.values())
                wait = max(0.0, oldest + self.timeout - time.monotonic())
            ready, _ = ray.wait(list(running), num_returns=1, timeout=wait)
            for ref in ready:
                index, started = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    result = {"status": "failed", "error": f"{FAILED_WORKER}: {first}", "seconds": time.monotonic() - started}
                yield index, result
            if not ready and self.timeout:
                now = time.monotonic()
                for ref, (index, started) in list(running.items()):
                    if now - started >= self.timeout:
                        ray.cancel(ref, force=True)
                        del running[ref]
                        yield index, {"status": "failed", "error": f"timed out after {self.timeout:g} s", "seconds": now - started}

    def close(self) -> None:
        """Shut down Ray if this pool started it."""
        import ray

        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
