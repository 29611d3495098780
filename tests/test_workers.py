import pytest

from evoact.evaluation import make_job
from evoact.training import TrainConfig
from evoact.workers import WorkerPool


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(2, timeout=60)
    yield p
    p.close()


def test_jobs_run_in_parallel_on_real_ray_and_failures_are_results(pool):
    fast = TrainConfig(epochs=1)
    jobs = [make_job(f, "mnist1d-mlp", fast, {}) for f in ("relu(x)", "exp(exp(exp(x)))", "tanh(x)", "x +")]
    results = dict(pool.imap(jobs))
    assert sorted(results) == [0, 1, 2, 3]
    assert results[0]["status"] == results[2]["status"] == "ok"
    assert results[1] == {**results[1], "status": "failed", "error": "non-finite loss in epoch 1"}
    assert results[3]["status"] == "failed" and "FormulaError" in results[3]["error"]


def test_a_job_over_the_timeout_is_cancelled_and_the_pool_goes_on(pool):
    slow = WorkerPool(2, timeout=4)  # shares the running Ray started by the fixture
    jobs = [make_job("relu(x)", "mnist1d-cnn", TrainConfig(epochs=500), {}), make_job("relu(x)", "mnist1d-mlp", TrainConfig(epochs=1), {})]
    results = dict(slow.imap(jobs))
    assert results[0]["status"] == "failed" and results[0]["error"] == "timed out after 4 s"
    assert results[1]["status"] == "ok"
