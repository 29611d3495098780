"""The Python API: the functions the command line calls, returning a run object (in the spirit of Optuna's study).

import evoact
run = evoact.search(budget="quick", seed=0)   # as `evoact search --budget quick --seed 0`
run.best, run.ranking(5), run.export("my_act.py"), run.confirm(), run.report("report.html")
run = evoact.open_run("runs/my-run")         # any run directory, also one still running
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from evoact.config import make_config
from evoact.driver import default_run_dir, run_search
from evoact.run import Run, open_run


def search(
    budget: str = "quick",
    *,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    quiet: bool = False,
    **settings: Any,
) -> Run:
    """Run a search and return it, finished and open for reading.

    ``settings`` are ``evoact search``'s options by their config names (``seed``, ``tasks``, ``epochs``,
    ``population``, ``workers``, ``mode``, ``space``...); ``quiet`` hides the progress display.
    """
    config = make_config(budget, **settings)
    run_dir = Path(runs_dir) / name if name else default_run_dir(config, Path(runs_dir))
    run_search(config, run_dir, Console(stderr=True, quiet=quiet))
    return open_run(run_dir)


__all__ = ["Run", "open_run", "search"]
