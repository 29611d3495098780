import time

import pytest
import torch

from evoact.evaluation import make_job
from evoact.training import TrainConfig
from evoact.workers import START_LIMIT, WorkerPool


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(2, timeout=60)
    yield p
    p.close()


def test_jobs_run_in_parallel_on_real_ray_and_failures_are_results(pool):
    fast = TrainConfig(epochs=1)
    jobs = [make_job(f, ("mnist1d-mlp",), fast, {}) for f in ("relu(x)", "exp(exp(exp(x)))", "tanh(x)", "x +")]
    results = dict(pool.imap(jobs))
    assert sorted(results) == [0, 1, 2, 3]
    assert results[0]["status"] == results[2]["status"] == "ok"
    assert results[1] == {**results[1], "status": "failed", "error": "non-finite loss in epoch 1"}
    assert results[3]["status"] == "failed" and "FormulaError" in results[3]["error"]


def test_a_job_over_the_timeout_is_cancelled_and_the_pool_goes_on(pool):
    slow = WorkerPool(2, timeout=10)  # shares the running Ray started by the fixture; 10 s: a loaded machine's 1 epoch
    jobs = [
        make_job("relu(x)", ("mnist1d-cnn",), TrainConfig(epochs=500), {}),
        make_job("relu(x)", ("mnist1d-mlp",), TrainConfig(epochs=1), {}),
    ]
    results = dict(slow.imap(jobs))
    assert results[0]["status"] == "failed" and results[0]["error"] == "timed out after 10 s"
    assert results[1]["status"] == "ok", results[1]


def test_the_timeout_counts_from_a_job_s_start_not_from_its_wait_for_a_place(pool):
    """More jobs than Ray has CPUs (a busy or still-growing cluster): the one that waits for a place is not timed out
    for the time it waited."""
    import ray

    def naps(job):  # defined here so that Ray ships it by value to the workers
        import time

        time.sleep(job["seconds"])
        return {"status": "ok"}

    cpus = int(ray.cluster_resources()["CPU"])
    crowded = WorkerPool(cpus + 1, timeout=6, function=naps)  # one job more than Ray can run at once
    results = dict(crowded.imap([{"seconds": 4}] * (cpus + 1)))
    assert [r["status"] for _, r in sorted(results.items())] == ["ok"] * (cpus + 1), results


def test_a_job_no_worker_can_start_fails_as_never_started(pool):
    """A job asking for a GPU the cluster lacks waits ``START_LIMIT`` timeouts, then fails saying why."""
    import ray

    if ray.cluster_resources().get("GPU"):
        pytest.skip("this machine has a GPU")
    nowhere = WorkerPool(1, timeout=0.5, gpus_per_job=1)  # shares the fixture's Ray: not its own, so it may grow
    results = dict(nowhere.imap([make_job("relu(x)", ("mnist1d-mlp",), TrainConfig(epochs=1), {})]))
    error = results[0]["error"]
    assert results[0]["status"] == "failed" and error.startswith(f"not started after {START_LIMIT * 0.5:g} s"), error
    assert "no worker of the cluster took it (it needs {'CPU': 1.0, 'GPU': 1}" in error
    nowhere.close()


def test_closing_a_pool_on_a_ray_it_did_not_start_cancels_its_unfinished_jobs(pool):
    """A search stopped in a notebook must not go on training in the notebook's Ray: the CPUs come back."""
    import ray

    guest = WorkerPool(2, timeout=600)  # shares the running Ray started by the fixture
    total = ray.cluster_resources()["CPU"]
    for _ in range(3):  # two start, one waits in the pool's queue
        guest.submit(make_job("relu(x)", ("mnist1d-cnn",), TrainConfig(epochs=500), {}))
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) > total - 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) <= total - 2  # both are training
    guest.close()
    assert guest.busy == 0 and ray.is_initialized()  # not its Ray: left running
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < total and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == total


def test_local_ray_listens_on_loopback_only(pool):
    import ray

    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_a_ray_imported_before_evoact_still_runs_jobs_on_loopback_only():
    """A notebook that imports ray first: the private local Ray a pool starts still binds 127.0.0.1 (Ray reads the
    switch at its import)."""
    import os
    import subprocess
    import sys

    script = (
        "import ray\n"
        "from evoact.workers import WorkerPool\n"
        "pool = WorkerPool(1, timeout=60)\n"
        "print(ray.get_runtime_context().gcs_address)\n"
        "pool.close()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}  # as a fresh shell has it
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("127.0.0.1:")


def test_worker_faults_are_retried_once_then_recorded_and_the_pool_goes_on(pool, tmp_path):
    def faulty(job):  # defined here so that Ray ships it by value to the workers
        import os
        import signal
        import time

        if job["kind"] == "dies once" and not os.path.exists(job["marker"]):
            open(job["marker"], "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        if job["kind"] == "always dies":
            os.kill(os.getpid(), signal.SIGKILL)
        if job["kind"] == "hangs":
            time.sleep(600)
        if job["kind"] == "raises":
            raise ValueError("broken candidate")
        return {"status": "ok", "fitness": 0.5, "pid": os.getpid()}

    kinds = ["dies once", "always dies", "hangs", "raises", "fine"]
    faults = WorkerPool(2, timeout=15, function=faulty)
    results = dict(faults.imap([{"kind": k, "marker": str(tmp_path / "died")} for k in kinds]))
    assert (tmp_path / "died").exists() and results[0]["status"] == "ok"  # died, then ran again in a fresh worker
    assert results[1]["status"] == "failed" and results[1]["error"].startswith(
        "worker process died during the evaluation (2 attempts)"
    )
    assert results[2] == {**results[2], "status": "failed", "error": "timed out after 15 s"}
    assert results[3] == {
        **results[3],
        "status": "failed",
        "error": "the evaluation raised ValueError: broken candidate",
    }
    assert results[4]["status"] == "ok"


@pytest.mark.slow
@pytest.mark.own_ray  # it connects to its own cluster
def test_an_async_search_across_a_multi_node_cluster_loses_nothing_when_a_node_dies(tmp_path, monkeypatch):
    """A head and two worker nodes on loopback (ray.cluster_utils); one worker node is killed mid-run."""
    import json
    import subprocess
    import sys
    import time

    from ray.cluster_utils import Cluster

    from evoact.store import RunStore

    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # nodes bind 127.0.0.1
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    )
    nodes = [cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1") for _ in range(2)]
    cluster.wait_for_nodes()
    address = cluster.address
    try:
        args = [
            "search",
            "--budget",
            "tiny",
            "--task",
            "mnist1d-cnn",
            "--epochs",
            "3",
            "--generations",
            "5",
            "--workers",
            "4",
            "--mode",
            "async",
            "--address",
            address,
            "--name",
            "multi",
        ]
        search = subprocess.Popen(
            [sys.executable, "-m", "evoact.cli", *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        db = tmp_path / "runs" / "multi" / "candidates.db"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and search.poll() is None:
            if (
                db.exists()
                and sum(r.status != "pending" and not r.label for r in RunStore.open(db.parent).candidates()) >= 6
            ):
                break
            time.sleep(0.5)
        assert search.poll() is None, search.stdout.read()
        cluster.remove_node(nodes[0], allow_graceful=False)  # a worker node dies with evaluations in flight
        out, _ = search.communicate(timeout=600)
        assert search.returncode == 0, out
    finally:
        cluster.shutdown()
    store = RunStore.open(tmp_path / "runs" / "multi")
    rows = store.candidates()
    assert store.meta()["state"] == "finished" and store.counts()["pending"] == 0
    assert store.meta()["ray_address"] == address and store.meta()["mode"] == "async"
    errors = [r.outcome.error for r in rows]
    assert not any("worker process died" in (e or "") for e in errors), json.dumps(errors)
    assert sum(not r.label and r.outcome.stage != "static" for r in rows) >= 6 + 4 * 4  # the whole budget was evaluated


def _pid(job: dict) -> dict:
    import os

    return {"pid": os.getpid()}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_job_reuses_its_worker_process_and_its_cuda_context():
    gpu = WorkerPool(2, gpus_per_job=0.5, function=_pid)
    try:
        pids = {result["pid"] for _, result in gpu.imap([{}] * 6)}
    finally:
        gpu.close()
    assert len(pids) <= 2  # Ray's own default would start a process per GPU job: six


@pytest.mark.own_ray
def test_a_private_ray_without_a_place_for_the_job_is_refused_at_once():
    import ray

    from evoact.workers import WorkerError

    with pytest.raises(WorkerError, match="this machine has no place for a job that needs .*drop --gpus-per-job"):
        WorkerPool(1, gpus_per_job=64)
    assert not ray.is_initialized()


@pytest.mark.own_ray
def test_a_sigterm_handler_set_before_ray_starts_is_kept():
    """ray.init installs its own SIGTERM handler (exit at once); the command line's (stop as Ctrl-C does, saving what
    finished) must survive it."""
    import signal

    import ray

    def stop_like_ctrl_c(signum, frame):  # noqa: ANN001, ANN202 - a signal handler's signature
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    pool = None
    try:
        pool = WorkerPool(1, timeout=60)
        assert ray.is_initialized() and signal.getsignal(signal.SIGTERM) is stop_like_ctrl_c
    finally:
        if pool is not None:
            pool.close()
        signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_while_ray_starts_stops_as_the_command_line_s_handler_says():
    """Between ray.init's first line and its return, Ray's own handler would exit at once (code 15, nothing said);
    the caller's acts instead: the command line says it stops, and exits 143 as it does at any other moment."""
    import subprocess
    import sys

    script = (
        "import os, signal, threading\n"
        "import ray\n"
        "from evoact.interrupts import exit_stopped, stopping\n"
        "from evoact.workers import start_ray\n"
        "with stopping() as received:\n"
        "    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()  # Ray takes seconds to start\n"
        "    try:\n"
        "        start_ray(1)\n"
        "    except KeyboardInterrupt:\n"
        "        ray.shutdown()\n"
        "        exit_stopped(received)\n"
        "print('Ray started before the signal')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 143 and "stopping; terminated (SIGTERM)" in done.stderr, (done.stdout, done.stderr)


def test_a_sigterm_the_command_was_started_ignoring_stays_ignored_after_ray_starts():
    import subprocess
    import sys

    script = (
        "import signal\n"
        "import ray\n"
        "from evoact.interrupts import stopping\n"
        "from evoact.workers import start_ray\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "with stopping():\n"
        "    start_ray(1)\n"
        "    print(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)\n"
        "    ray.shutdown()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout == "True\n", (done.stdout, done.stderr)  # not Ray's own handler, left there by start_ray


def test_an_address_that_takes_no_connection_is_refused_at_once_and_the_run_keeps_its_state(
    run_cli, small_run, tmp_path
):
    """Ray retries an unreachable cluster for minutes, warning every few seconds; evoact says so in one line at once,
    before a resumed run records a session or loses why it stopped."""
    import shutil

    from evoact.store import RunStore

    run = tmp_path / "stopped"
    shutil.copytree(small_run, run)
    store = RunStore.reopen(run)
    store.set_meta("state", "stopped")
    store.set_meta("stopped_because", "the session ran 61 s, its limit is 60 s")
    before = store.meta()
    store.close()
    start = time.monotonic()
    out = run_cli("resume", str(run), "--address", "127.0.0.1:1", check=False)
    assert time.monotonic() - start < 60 and out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        "Error: cannot reach the Ray cluster at 127.0.0.1:1 (Connection refused); is it running (`ray status`)?"
    ]
    after = RunStore.open(run).meta()
    assert {key: after.get(key) for key in before} == before  # its state, why it stopped, its sessions
