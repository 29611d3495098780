"""Shared test setup: a private dataset cache, an opt-in flag for slow end-to-end tests, a headless browser."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _stop_ray() -> None:
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(autouse=True)
def shared_ray(request):
    """The searches of one test process share one local Ray, as a notebook's searches do (a search uses the Ray it
    finds running and leaves it up): each then skips Ray's start, its workers' imports and its shutdown. A test marked
    ``own_ray`` runs with no Ray up, so its search starts and stops its own, as a command-line search does."""
    if request.node.get_closest_marker("own_ray"):
        _stop_ray()
        yield
        _stop_ray()
        return
    from evoact.workers import start_ray  # sets Ray's loopback and no-usage-statistics switches before importing it

    start_ray(2)
    yield


@pytest.fixture
def run_cli(tmp_path):
    """Run the real ``evoact`` console script in a subprocess, from a scratch directory."""

    def run(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "evoact.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"evoact {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run ``evoact`` in this process (click's runner), from a scratch directory, answering as ``run_cli`` does: for
    commands whose process start-up is not what a test checks. An unexpected error fails the test with its
    traceback (``EVOACT_DEBUG``); the one-line form of such errors is tested in real processes."""
    from click.testing import CliRunner
    from rich.console import Console

    import evoact.cli
    import evoact.views

    monkeypatch.chdir(tmp_path)
    plain = Console(width=160, color_system=None)  # as a real process piped to a file sees it, whatever pytest's -s
    monkeypatch.setattr(evoact.views, "console", plain)
    monkeypatch.setattr(evoact.cli, "console", plain)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        # EVOACT_DEBUG: an unexpected error propagates (its traceback fails the test) instead of its one-line form
        result = CliRunner(env={"EVOACT_DEBUG": "1"}).invoke(evoact.cli.main, list(args), prog_name="evoact")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if check and result.exit_code != 0:
            raise AssertionError(f"evoact {' '.join(args)} failed ({result.exit_code}):\n{result.output}")
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """A small real run directory made without training: a real config and space, candidates with results, and a
    checkpoint. Copy it before changing it."""
    from evoact.checkpoint import write_checkpoint
    from evoact.config import make_config
    from evoact.genome import load_search_space
    from evoact.store import RunStore

    path = tmp_path_factory.mktemp("small") / "run"
    config, space = make_config("tiny", seed=1, tasks=("mnist1d-cnn",)), load_search_space("default")
    store = RunStore.create(
        path, {"config": config.to_dict(), "search_space": {"text": space.text, "source": space.source}}
    )
    first = store.add_candidate("Max(0, x)", "baseline", label="relu")
    store.record_result(first, {"status": "ok", "fitness": 0.8, "val_acc": 0.8, "test_acc": 0.79})
    second = store.add_candidate("x*tanh(x)", "random", genome="mul(x, tanh(x))", generation=0, nodes=4)
    store.record_result(second, {"status": "ok", "fitness": 0.9, "val_acc": 0.9, "test_acc": 0.88})
    store.set_meta("state", "interrupted")
    store.close()
    write_checkpoint(
        path, 0, {"generation": 1, "told": 6, "seeded": True, "seen": [], "population": [], "rng": [3, [0] * 625, None]}
    )
    return path


def edited_copy(run: Path, to: Path, edit) -> Path:
    """A copy of run directory ``run`` at ``to`` whose ``config.json`` ``edit`` changed in place (a hand-edited or
    damaged run)."""
    import json

    shutil.copytree(run, to)
    stored = json.loads((to / "config.json").read_text())
    edit(stored)
    (to / "config.json").write_text(json.dumps(stored))
    return to


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by Selenium, offline; quit at the end of the test."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are missing: the README's install command installs them")
        pytest.skip("needs Debian's chromium and chromium-driver (the README's install command installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,2400",
    ):
        options.add_argument(flag)
    opened = webdriver.Chrome(service=Service(driver), options=options)
    yield opened
    opened.quit()


TINY_UNIT = """
name = "tiny_unit"
description = "three unary and two binary functions: 18 trees of one core unit"
structure = "core_units"
seeds = ["sigmul(scale(x), identity(x))"]
[primitives]
unary = ["identity", "tanh", "scale"]
binary = ["mul", "sigmul"]
[learnable]
beta = 1.0
[limits]
max_depth = 2
max_nodes = 5
init_min_depth = 2
init_max_depth = 2
"""


@pytest.fixture
def tiny_unit(tmp_path) -> Path:
    """A space file of one core unit over three unary and two binary functions: 18 trees, few enough to enumerate."""
    path = tmp_path / "tiny_unit.toml"
    path.write_text(TINY_UNIT)
    return path
