import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evoact.cli import main
from evoact.commands import confirm_command, resume_command
from evoact.config import make_config
from evoact.genome import load_search_space
from evoact.run_files import RunStoreError
from evoact.store import RunStore


def test_the_confirm_command_trusts_a_users_task_only_where_the_run_trained_one():
    assert confirm_command(Path("runs/a"), ("mnist1d-mlp",)) == "evoact confirm runs/a"
    mine = confirm_command(Path("runs/a"), ("mnist1d-mlp", "my_task.py:net"))
    assert mine == "evoact confirm runs/a --group search --trust-task"  # confirm refuses user code without it


def test_the_resume_command_is_quoted_for_a_shell_and_trusts_a_users_task():
    """A run named with a space (``--name "my run"`` is taken) is named so that its command pastes into a shell."""
    assert resume_command(Path("runs/a")) == "evoact resume runs/a"
    said = resume_command(Path("runs/my run"), ("my_task.py:net",))
    assert said == "evoact resume 'runs/my run' --trust-task"
    echoed = subprocess.run(["sh", "-c", "printf '%s\\n' " + said.removeprefix("evoact resume ")], capture_output=True)
    assert echoed.stdout.decode().splitlines() == ["runs/my run", "--trust-task"]


def test_a_taken_run_name_and_the_runs_table_say_resume_as_it_pastes(tmp_path, monkeypatch):
    """The refusal of a taken name and ``evoact runs`` wrote ``evoact resume runs/my run``, which a shell splits."""
    path = tmp_path / "my run"
    config = make_config("tiny", tasks=["feynman-mlp"])
    space = load_search_space(config.space)
    written = {"config": config.to_dict(), "search_space": {"source": space.source, "text": space.text}}
    RunStore.create(path, written).close()  # a search killed before its baselines finished
    with pytest.raises(RunStoreError, match=f"continues with `evoact resume {shlex.quote(str(path))}`"):
        RunStore.create(path, {"config": {"seed": 1}})
    mine = tmp_path / "mine"  # a run of a user's task: resume refuses it without --trust-task
    RunStore.create(mine, {"config": {"tasks": ["my_task.py:net"]}}).close()
    with pytest.raises(RunStoreError, match=f"continues with `evoact resume {mine} --trust-task`"):
        RunStore.create(mine, {"config": {"seed": 1}})
    monkeypatch.chdir(tmp_path)
    listed = CliRunner(env={"COLUMNS": "60"}).invoke(main, ["runs", "."]).output  # a narrow terminal
    assert "  my run: evoact resume 'my run'\n" in listed, listed  # a whole line to copy, not a folded cell


def test_a_taken_name_whose_config_is_a_named_pipe_is_refused_without_reading_it(tmp_path):
    """The refusal reads the run's tasks for its hint: a named pipe there must not hang it."""
    path = tmp_path / "run"
    path.mkdir()
    os.mkfifo(path / "config.json")
    (path / "candidates.db").touch()  # a run's (a config.json alone is no run: refused without a hint to build)
    code = f"from pathlib import Path; from evoact.store import RunStore; RunStore.check_new(Path({str(path)!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "already holds a run" in done.stderr and "continues with `evoact resume" in done.stderr
