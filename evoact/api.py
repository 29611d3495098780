"""The Python API: the functions the command line calls, returning a run object (in the spirit of Optuna's study).

    import evoact
    run = evoact.search(budget="quick", seed=0)   # as `evoact search --budget quick --seed 0`
    run.best, run.ranking(5), run.export("my_act.py"), run.confirm(), run.report("report.html")
    run = evoact.open_run("runs/my-run")         # any run directory, also one still running

``Run`` adds the actions (export, confirm, resume, report) to the run reader (``evoact.run.RunReader``): the reader
sits below the driver, the confirmation and the report, and this layer above them, so imports run one way.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from rich.console import Console

from evoact.config import CONFIRM_SEEDS, CONFIRM_TOP, DEFAULT_BUDGET, listed, make_config, space_argument
from evoact.confirmation import confirm_run
from evoact.driver import resume_search, run_dir_for, run_search, with_guess_trees
from evoact.export import EXPORTERS
from evoact.hooks import Hook
from evoact.options import SEARCH_OPTIONS, in_python, refuse_option_names
from evoact.records import Candidate, RunState
from evoact.run import RunReader
from evoact.run_files import RUNS_ROOT, check_target
from evoact.search_space import read_search_space
from evoact.stopping import StopRules, parse_duration
from evoact.store import RunStore, no_fitness
from evoact.summaries import Confirmation
from evoact.tasks import is_user_task

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _python_names(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Errors of ``function`` that name a command-line flag name its Python keyword instead (``guesses=`` where the
    command line's message says ``--guess``): the caller wrote the keyword."""

    @functools.wraps(function)
    def named(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (in_python(exc.args[0]), *exc.args[1:])
            raise

    return named


class Run(RunReader):
    """A run directory: what the reader reads (config, ranking, best, summary...), and what can be done with it."""

    @property
    def best(self) -> Candidate | None:
        """The best evolved candidate so far (None before any has a fitness); warns (``UserWarning``) when it is not
        better than the run's best baseline, as ``show``, the report and the search's last lines say."""
        verdict = self.verdict()
        if verdict is not None and verdict.note:
            warnings.warn(verdict.note, UserWarning, stacklevel=2)
        return super().best

    def export(self, path: str | Path, candidate: int | None = None, format: str = "module") -> Path:
        """Write a candidate (default: the best) as ``module`` (standalone torch file), ``sympy``, ``latex``, ``json``
        or ``jax``; learnable constants start at the values the run trained. Writes over ``path`` as
        ``open(path, "w")`` would, except where it holds saved results (a run's database or config): a
        ``ValueError``, nothing written."""
        if format not in EXPORTERS:
            raise ValueError(f"unknown export format {format!r}; use one of {', '.join(EXPORTERS)}")
        check_target(Path(path))
        row = self.candidate(candidate) if candidate is not None else self._top()
        if row is None:
            raise ValueError(f"{self.path}: {no_fitness(self.store)}; nothing to export")
        if row.unfit:
            warnings.warn(f"{row.unfit}; exported as asked, but it has no fitness", UserWarning, stacklevel=2)
        return EXPORTERS[format](Path(path), row.formula, self.constants(row), self.learned(row))

    def confirm(
        self,
        top: int = CONFIRM_TOP,
        seeds: int = CONFIRM_SEEDS,
        tasks: list[str] | None = None,
        quiet: bool = False,
        *,
        groups: Sequence[str] | None = None,
        epochs: int | None = None,
        workers: int | None = None,
        trust_user_tasks: bool = False,
        also: list[str] | None = None,
        baselines_from: str | Path | None = None,
        address: str | None = None,
        data_dir: str | None = None,
        console: Console | None = None,
    ) -> Confirmation:
        """``evoact confirm``: re-train the top candidates and the baselines on fresh seeds, the run's tasks and the
        validation group's by default. The keywords are the command's options: ``groups`` (``--group``: "search",
        "validation", "test"), ``epochs``, ``workers``, ``trust_user_tasks`` (``--trust-task``: run the user tasks the
        run's config names), ``also`` (formulas to confirm beside the top), ``baselines_from`` (a run whose baseline
        trainings are copied), ``address``, ``data_dir``; ``quiet`` hides the progress display."""
        tasks, also = (  # text would be split into characters
            None if value is None else list(listed(name, value)) for name, value in (("tasks", tasks), ("also", also))
        )
        return confirm_run(
            self.path,
            top,
            seeds,
            tasks,
            epochs=epochs,
            workers=workers,
            console=console or Console(stderr=True, quiet=quiet),
            trust_user_tasks=trust_user_tasks,
            address=address,
            data_dir=data_dir,
            groups=None if groups is None else listed("groups", groups),
            also=also,
            baselines_from=Path(baselines_from) if baselines_from is not None else None,
        )

    @_python_names
    def resume(
        self,
        max_time: float | str | None = None,
        target_fitness: float | None = None,
        patience: int | None = None,
        quiet: bool = False,
        *,
        trust_user_tasks: bool = False,
        address: str | None = None,
        data_dir: str | None = None,
        callbacks: Sequence[Hook] = (),
        console: Console | None = None,
    ) -> Run:
        """``evoact resume``: continue this run where it stopped, under this session's stopping rules (``search``'s);
        returns it, reopened. ``trust_user_tasks`` (``--trust-task``): run the user tasks the run's config names;
        ``quiet`` hides the progress display."""
        with _resumable(self.path, self.config.tasks):
            resume_search(
                self.path,
                console=console or Console(stderr=True, quiet=quiet),
                trust_user_tasks=trust_user_tasks,
                address=address,
                data_dir=data_dir,
                stop=_rules(max_time, target_fitness, patience),
                callbacks=callbacks,
            )
        return open_run(self.path)

    def report(self, path: str | Path, top: int = 10) -> Path:
        """``evoact report``: the run as one self-contained HTML file, written over an HTML file only (as the command's
        is): any other existing file is a ``ValueError``, nothing written."""
        from evoact.report import write_report  # here: matplotlib is slow to import, and most commands draw nothing

        check_target(Path(path), (".html", ".htm"))
        return write_report(self.store, path, top)


def open_run(path: str | Path) -> Run:
    """Open a run directory for reading and acting on; safe while its search is still running."""
    return Run(RunStore.open(path))


def _check_arguments(
    name: object, runs_dir: object, max_time: object, target_fitness: object, callbacks: object
) -> None:
    """``search``'s own arguments, each of the kind it must be: a ``TypeError`` naming the argument (Python's own
    errors name what failed inside, not what was given)."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be text, got {type(name).__name__}")
    if not isinstance(runs_dir, (str, os.PathLike)):
        raise TypeError(f"runs_dir must be a path, got {type(runs_dir).__name__}")
    if isinstance(max_time, bool) or not (max_time is None or isinstance(max_time, (int, float, str))):
        raise TypeError(f"max_time must be seconds or a duration such as '10m', got {type(max_time).__name__}")
    if isinstance(target_fitness, bool) or not (target_fitness is None or isinstance(target_fitness, (int, float))):
        raise TypeError(f"target_fitness must be a number, got {type(target_fitness).__name__}")
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a list of evoact.hooks.Hook, got {type(callbacks).__name__}")


@_python_names
def search(
    budget: str = DEFAULT_BUDGET,
    *,
    name: str | None = None,
    runs_dir: str | Path = RUNS_ROOT,
    quiet: bool = False,
    max_time: float | str | None = None,
    target_fitness: float | None = None,
    patience: int | None = None,
    load_if_exists: bool = False,
    callbacks: Sequence[Hook] = (),
    **settings: Any,
) -> Run:
    """Run a search and return it, finished (or stopped by a rule) and open for reading.

    ``settings`` are ``evoact search``'s options by their config names (``seed``, ``tasks``, ``epochs``,
    ``population``, ``workers``, ``mode``, ``space``...); ``quiet`` hides the progress display. Stopping rules end
    the session early: ``max_time`` (seconds, or a duration such as ``"10m"``), ``target_fitness``, ``patience``
    (generations, or candidates proposed in async mode, without a better best); ``Run.resume`` continues a stopped run.
    ``callbacks``: hooks that hear the search's events (``evoact.hooks.Hook``; ``evoact.loggers.TensorBoardLogger``).
    ``load_if_exists`` (with ``name``; Optuna's ``create_study`` has it too): a run of that name made with the same
    settings is opened instead of refused, and resumed first if it did not finish; other settings are an error, and
    so is a run another process's search is writing now.
    """
    refuse_option_names(settings)
    _check_arguments(name, runs_dir, max_time, target_fitness, callbacks)
    config = make_config(budget, **settings)
    run_dir = run_dir_for(config, Path(runs_dir), name)
    if load_if_exists and name and run_dir.exists():
        existing = open_run(run_dir)
        # the stored warm-start trees were read from that run once (it may have gone on since); its path, resolved;
        # the guesses as the run stored them, formulas as the space's trees
        warm = str(Path(config.warm_start).resolve()) if config.warm_start else None
        mine = dict(with_guess_trees(config).to_dict(), workers=None, address=None, warm_trees=None, warm_start=warm)
        theirs = dict(existing.config.to_dict(), workers=None, address=None, warm_trees=None)
        theirs["space"] = space_argument(theirs["space"])  # a run stored before spaces were kept by absolute path
        if mine != theirs:
            existing.close()
            changed = ", ".join(sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)))
            raise ValueError(f"{run_dir} exists and was made with other settings ({changed}); choose another name")
        if existing.space.text != read_search_space(config.space).text:  # the same path, a file edited since
            existing.close()
            raise ValueError(
                f"{run_dir} exists and searched {existing.space.source} as it read then; the file has changed since"
                " (a run keeps the space it started with): choose another name"
            )
        if existing.state == RunState.RUNNING:  # its search goes on elsewhere: nothing finished to hand back yet
            existing.close()
            raise ValueError(
                f"{run_dir} is being written by another evoact process (its search is running); wait for it, or read"
                " it as it goes with evoact.open_run"
            )
        if existing.state in (RunState.INTERRUPTED, RunState.STOPPED):
            # the caller named these very tasks, so its user tasks are its own code
            return existing.resume(
                max_time,
                target_fitness,
                patience,
                console=Console(stderr=True, quiet=quiet),
                trust_user_tasks=True,
                address=config.address,
                data_dir=config.data_dir,
                callbacks=callbacks,
            )
        return existing
    with _resumable(run_dir, config.tasks):
        run_search(
            config,
            run_dir,
            Console(stderr=True, quiet=quiet),
            stop=_rules(max_time, target_fitness, patience),
            callbacks=callbacks,
        )
    return open_run(run_dir)


@contextlib.contextmanager
def _resumable(run_dir: Path, tasks: Sequence[str]) -> Iterator[None]:
    """A search stopped by Ctrl-C (a ``KeyboardInterrupt``) says, in a note on it, where its run is kept and how it
    goes on, as the command line says it."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if run_dir.exists():
            trust = "trust_user_tasks=True" if any(is_user_task(t) for t in tasks) else ""
            exc.add_note(
                f"evoact: stopped; what is finished is saved in {run_dir}: go on with"
                f" evoact.open_run({str(run_dir)!r}).resume({trust})"
            )
        raise


def _settings() -> str:
    """``search``'s settings, one line each, from the options table (the command line's ``--help`` says the same)."""
    said: dict[str, str] = {}
    for option in SEARCH_OPTIONS:
        if option.setting != "budget":  # the first argument
            said.setdefault(option.in_python, option.help)
    return "\n".join(f"    ``{keys}``: {text}" for keys, text in said.items())


if search.__doc__:  # not under ``python -OO``
    search.__doc__ += f"\n    The settings (``evoact search``'s options by their config names):\n\n{_settings()}\n"


def _rules(max_time: float | str | None, target_fitness: float | None, patience: int | None) -> StopRules:
    """Stopping rules from the API's arguments (a duration may be given as text, as on the command line)."""
    return StopRules(parse_duration(max_time) if isinstance(max_time, str) else max_time, target_fitness, patience)


__all__ = ["Run", "open_run", "search"]
