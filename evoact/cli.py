"""The ``evoact`` command line: search, resume, confirm, show, inspect, plot, report, export, runs, compare, dashboard
and tasks."""

from __future__ import annotations

import json
import math
import os
import shlex
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
import sympy as sp
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from evoact.api import Run, open_run
from evoact.catalog import labelled
from evoact.commands import confirm_command, resume_command, show_command
from evoact.config import BOUNDS, BUDGETS, CONFIRM_SEEDS, CONFIRM_TOP, SearchConfig, check, make_config
from evoact.driver import evaluated
from evoact.export import EXPORTERS
from evoact.formula import DEFAULT_CONSTANT, X, constant_names, unknown_constant
from evoact.hooks import Hook
from evoact.interrupts import exit_stopped, stopping
from evoact.loggers import LOGGERS, make_logger
from evoact.options import FLAG, MULTIPLE, SEARCH_OPTIONS, STOP_OPTIONS, settings_from, stop_rules_from
from evoact.records import Candidate, RunState, Status
from evoact.run_files import RUNS_ROOT, RunStoreError, check_target, is_run_directory
from evoact.search_space import SearchSpaceError
from evoact.store import RunStore, no_fitness
from evoact.tasks import GROUPS, SUITE_ALIASES, SUITES, is_user_task, require_trusted, task_group
from evoact.terminal import plain, shown, survive_closed_pipes
from evoact.views import console, print_comparison, print_confirmation, print_run, print_runs, print_verdict
from evoact.workers import WorkerError


class _Error(click.ClickException):
    """A one-line error whose text came from files or input: printed with its control characters written out."""

    def format_message(self) -> str:
        return plain(self.message)


class _UsageError(_Error):
    """A command line evoact cannot parse: one line, with where its help is, not click's four."""

    exit_code = 2


def _one_line(exc: click.UsageError, ctx: click.Context) -> _UsageError:
    """The usage error as one line that names the help of its command (``ctx``'s, or the subcommand it invoked)."""
    if exc.ctx is not None:
        command = exc.ctx.command_path
    else:  # some parser errors carry no context
        command = " ".join([ctx.command_path, *([ctx.invoked_subcommand] if ctx.invoked_subcommand else [])])
    said = exc.format_message()
    if isinstance(exc, click.NoSuchOption) and command.endswith(" resume") and exc.option_name in _EDITED_TO_RESUME:
        said = (
            f"{said.rstrip('.')}: resume takes the run's settings from its config.json, where"
            f" {_EDITED_TO_RESUME[exc.option_name]} may be edited (the resume goes on with it, and says so)"
        )
    return _UsageError(f"{said} (see '{command} --help')")


#: The search options a resume cannot take but the run's config.json may change (config.RUNTIME_SETTINGS).
_EDITED_TO_RESUME = {"--workers": "workers", "--timeout": "timeout", "--gpus-per-job": "gpus_per_job"}


def _fail(message: str) -> NoReturn:
    raise _Error(message)


def _target_arguments(verb: str) -> Callable:
    """RUN ID or --expr FORMULA, and --param values: what inspect, plot and export act on."""
    decorators = [
        click.argument("run", type=click.Path(path_type=Path), required=False),
        click.argument("candidate_id", type=int, required=False),
        click.option("--expr", "formula", default=None, help=f"{verb} this formula instead of a run's candidate."),
        click.option(
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            help="Value of a learnable constant (repeatable; default: the run's trained value, else 1).",
        ),
    ]

    def apply(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def _target(
    run: Path | None, candidate_id: int | None, formula: str | None, params: tuple[str, ...]
) -> tuple[Run | None, Candidate | None, str, sp.Expr, dict[str, float]]:
    """Run, candidate, formula, its expression (parsed once, here) and constant values for RUN ID (RUN alone: its
    best evolved candidate; candidate None for --expr); --param values win. A one-line error when both or neither of
    RUN and --expr are given.
    """
    if (formula is None) == (run is None):
        _fail("give either RUN [ID] or --expr FORMULA")
    values = _params(params)
    opened: Run | None = None
    row: Candidate | None = None
    if formula is None and run is not None:
        opened = open_run(run)
        if candidate_id is not None:
            row = opened.store.candidate(candidate_id)
        else:
            row = next(iter(opened.ranking(1)), None)  # the best, as `show` ranks (its raced mean)
            verdict = opened.verdict()
            if row is not None and verdict is not None and verdict.note:  # on stderr: --json output stays JSON
                click.echo(f"note: {' '.join(verdict.note.split())}", err=True)
        if row is None:
            _fail(
                f"{run}: no candidate with id {candidate_id}"
                if candidate_id is not None
                else f"{run}: {no_fitness(opened.store)}; give an ID"
            )
        formula = row.formula
    assert formula is not None  # checked above: either RUN ID or --expr
    expr = _checked(formula)
    if problem := unknown_constant(expr, values):
        _fail(f"--param {problem}")
    trained = opened.constants(row) if opened is not None and row is not None else {}
    return opened, row, formula, expr, {**trained, **values}


#: The widest x range ``plot`` draws: far wider ones overflow (exp(x) at 1e308), and numpy warns through the drawing.
PLOT_LIMIT = 1e4


def _file_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """An output option's file; a name ending in a separator names a folder (``Path`` would drop the separator and
    write a file of the folder's name)."""
    if value is not None and os.path.basename(value) in ("", ".", ".."):
        raise click.BadParameter(f"{value}: a folder's name; give a file name", ctx, param)
    return None if value is None else Path(value)


def _file_option(*decls: str, **kwargs: Any) -> Callable:
    """An option naming a file to write (``_file_path``)."""
    return click.option(*decls, type=click.Path(), callback=_file_path, **kwargs)


def _file_or_stdout(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``_file_path``, or None for ``-`` as typed: standard output (``./-`` names a file)."""
    return None if value == "-" else _file_path(ctx, param, value)


def _score_text(score: dict[str, Any], metric: str) -> str:
    """One task's stored score in a few words: its validation and test measure, and whether it stopped early."""
    val, test = ("val_acc", "test_acc") if metric == "accuracy" else ("val_loss", "test_loss")
    text = " ".join(
        f"{name.replace('_', ' ')} {score[name]:.4g}" for name in (val, test) if score.get(name) is not None
    )
    return text + (" (stopped at the quality hurdle)" if score.get("stopped") else "")


def _constants_note(expr: sp.Expr, values: dict[str, float], typed: bool) -> str | None:
    """Name the learnable constants a formula has: for one ``typed`` (``--expr``), so that a typo (``y + 1``) is seen
    to become one; for a run's candidate, with the values it starts from (the trained ones, or ``--param``'s)."""
    names = constant_names(expr)
    if not names:
        return None
    listed = ", ".join(f"{n} = {values.get(n, DEFAULT_CONSTANT):.6g}" for n in names)
    if not typed:
        return f"learnable constants: {shown(listed)} (its starting values: as trained in the run, or --param's)"
    return f"learnable constants: {shown(listed)} (every name that is neither x nor a function is a learnable constant)"


_LISTS, _STARTS = "`evoact runs` lists runs", "`evoact search` starts a search"
#: Names other tools give these commands, each with evoact's own: a mistyped command is told where to go.
_OTHER_NAMES = {"list": _LISTS, "ls": _LISTS, "run": _STARTS, "start": _STARTS, "continue": "`evoact resume` does"}


class _Commands(click.Group):
    """evoact's commands: whatever a damaged or hostile file, a bad input or a full disk raises ends in one line."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        survive_closed_pipes()  # `evoact search | head`: the search goes on when head has gone
        return super().main(*args, **kwargs)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] in _OTHER_NAMES and args[0] not in self.commands and not ctx.resilient_parsing:
            ctx.fail(f"No such command {args[0]!r}; {_OTHER_NAMES[args[0]]}")
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:  # plain `evoact`: the help, as click shows it
            raise
        except click.UsageError as exc:
            raise _one_line(exc, ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc, ctx) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("stopped (Ctrl-C); nothing saved was lost", err=True)
            ctx.exit(130)
        except (RunStoreError, SearchSpaceError, WorkerError, ValueError) as exc:
            raise _Error(" ".join(str(exc).split()) or type(exc).__name__) from None
        except Exception as exc:  # a damaged or hostile file can fail anywhere: one line, never a traceback
            if os.environ.get("EVOACT_DEBUG"):
                raise
            if isinstance(exc, OSError) and exc.filename is not None:  # a path that cannot be written or read
                raise _Error(f"{exc.filename}: {exc.strerror or type(exc).__name__}") from None
            from evoact.evaluation import raised_at

            detail, where = " ".join(str(exc).split())[:300], raised_at(exc).strip()[1:-1]  # "at FILE:LINE in F"
            raise _Error(
                f"{detail + ' ' if detail else ''}({type(exc).__name__}{', ' + where if where else ''};"
                " a damaged file, or a fault in evoact or in your code; EVOACT_DEBUG=1 shows the traceback)"
            ) from None


@click.group(cls=_Commands)
@click.version_option(package_name="evoact")
def main() -> None:
    """Search for activation functions, inspect the results and export the winners to torch."""


def _search_options(command: Callable) -> Callable:
    """The ``search`` command's options, made from the one table (``evoact.options.SEARCH_OPTIONS``)."""
    for option in reversed(SEARCH_OPTIONS):
        kind, extra = option.kind, dict[str, Any]()
        if kind == FLAG:
            extra = {"is_flag": True}
        elif kind == MULTIPLE:
            extra = {"multiple": True}
        elif isinstance(kind, tuple):
            extra = {"type": click.Choice(list(kind))}
        elif kind in (int, float):
            extra = {"type": kind}
        if option.default is not None:
            extra.update(default=option.default, show_default=True)
        command = click.option(option.flag, option.name, help=option.help, **extra)(command)
    return _stop_options(command)


def _stop_options(command: Callable) -> Callable:
    """A session's options for ``search`` and ``resume``: the stopping rules (``evoact.options.STOP_OPTIONS``) and
    ``--log-to``."""
    for option in reversed(STOP_OPTIONS):
        command = click.option(option.flag, option.name, type=option.kind, default=None, help=option.help)(command)
    return click.option(
        "--log-to",
        type=(click.Choice(list(LOGGERS)), click.Path(path_type=Path)),
        multiple=True,
        metavar="LOGGER DIR",
        help="Also log every candidate, the config and the best-so-far curve to an experiment tracker's local files:"
        " tensorboard DIR (pip install evoact[tensorboard]) or mlflow DIR (pip install evoact[mlflow]); repeat for"
        " both.",
    )(command)


def _callbacks(log_to: tuple[tuple[str, Path], ...]) -> list[Hook]:
    """The loggers ``--log-to`` asks for (a one-line error if one cannot be made)."""
    try:
        return [make_logger(kind, folder) for kind, folder in log_to]
    except (ImportError, ValueError) as exc:
        _fail(str(exc))


@main.command()
@_search_options
@click.option("--name", default=None, help="Run directory name under --runs-dir (default: date-time-space-task-seed).")
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path),
    default=RUNS_ROOT,
    show_default=True,
    help="Where run directories go.",
)
def search(name: str | None, runs_dir: Path, **values: Any) -> None:
    """Run an evolutionary search and store every candidate in a run directory."""
    from evoact.driver import check_search, run_dir_for, run_search, with_guess_trees, with_warm_start

    log_to = values.pop("log_to")
    stop = stop_rules_from({o.name: values.pop(o.name) for o in STOP_OPTIONS})
    settings = settings_from(values)
    config = make_config(settings.pop("budget"), **settings)
    # what is wrong with the space, the tasks, a guess or a warm start, before the run is announced
    config = with_guess_trees(with_warm_start(config))
    if own := [t for t in config.tasks if is_user_task(t)]:  # its module's top level runs now: say so, should it hang
        click.echo(
            f"evoact: importing your task{'s' if len(own) > 1 else ''} {plain(', '.join(own))} to check", err=True
        )
    check_search(config)
    run_dir = run_dir_for(config, runs_dir, name)
    RunStore.check_new(run_dir)  # before the run is announced
    console.print(
        f"evoact: {config.algorithm} over {shown(config.space)} on {shown(', '.join(config.tasks))}"
        f" ({_budget_said(config)}, seed {config.seed}{_mode_said(config)}) into [bold]{shown(run_dir)}[/]",
        highlight=False,
        soft_wrap=not console.is_terminal,  # a log keeps the run directory on the line that names it
    )
    callbacks = _callbacks(log_to)
    _run_to_end(run_dir, lambda: run_search(config, run_dir, stop=stop, callbacks=callbacks), config.tasks)


@main.command()
def tasks() -> None:
    """List the built-in tasks and suites (a user task is given as MODULE:FUNCTION or FILE.py:FUNCTION)."""
    from evoact.tasks import TASKS

    table = Table(title="built-in tasks", title_justify="left")
    for col in ("name", "group", "metric", "epochs", "measures", "description"):
        table.add_column(col, overflow="fold")
    for name, task in TASKS.items():
        table.add_row(name, task_group(name) or "-", task.metric, f"{task.epochs:g}", task.measures, task.description)
    console.print(table)
    console.print(
        "groups: search (the default fitness, --suite general), validation (what confirm adds and what settings are"
        " chosen by; once named heldout), test (only reported: evoact confirm RUN --group test; never searched on)."
        " GLU tasks (the function is the gate of each GLU feed-forward layer) have their own: search --suite glu,"
        " validation glu-validation (what confirm adds to a GLU run), test glu-test. epochs: each task's training at"
        " the quick budget, which the others scale ("
        + ", ".join(f"{name} {preset['epoch_scale']:g}" for name, preset in BUDGETS.items() if name != "quick")
        + "); --epochs N trains every task N"
    )
    for name, members in SUITES.items():
        if name not in SUITE_ALIASES:
            console.print(f"  {name}: {', '.join(members)}", highlight=False)


_TRUST = click.option(
    "--trust-task",
    "trust",
    is_flag=True,
    help="Run the user task (MODULE:FUNCTION or FILE.py:FUNCTION) that the run's config names.",
)


_ADDRESS = click.option(
    "--address",
    default=None,
    help="Ray cluster address HOST:PORT (default: $RAY_ADDRESS, else a private"
    " local Ray; the address stored in the run is never used on its own).",
)
_DATA_DIR = click.option(
    "--data-dir",
    default=None,
    help="Where tasks that read files find them (the folder stored in the run is never used on its own).",
)


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
@_TRUST
@_ADDRESS
@_DATA_DIR
@_stop_options
def resume(
    run: Path,
    trust: bool,
    address: str | None,
    data_dir: str | None,
    log_to: tuple[tuple[str, Path], ...],
    **rules: Any,
) -> None:
    """Continue an interrupted search (killed, crashed, stopped with Ctrl-C or by a stopping rule) where it stopped;
    stopping rules given here apply to this session."""
    from evoact.driver import check_edits, resume_search

    stop = stop_rules_from(rules)
    opened = open_run(run)  # what is wrong with the directory, and trust for its code, before it is announced
    state, tasks = opened.state, opened.config.tasks
    try:
        if state == RunState.FINISHED:
            _fail(f"{run} already finished; there is nothing to resume")
        if state == RunState.RUNNING:
            _fail(
                f"{run} is being written by another evoact process (its search is running); wait for it or stop it"
                " first"
            )
        check_edits(opened.store)
    finally:
        opened.close()
    require_trusted(tasks, trust, "resume")
    callbacks = _callbacks(log_to)
    console.print(f"evoact: resuming [bold]{shown(str(run))}[/]", highlight=False)
    _run_to_end(
        run,
        lambda: resume_search(
            run, trust_user_tasks=trust, address=address, data_dir=data_dir, stop=stop, callbacks=callbacks
        ),
        tasks,
    )


def _mode_said(config: SearchConfig) -> str:
    """Where ``--mode auto`` chose asynchronous evolution, that and why: its results depend on their arrival order, so
    a rerun of the seed may differ."""
    if config.mode != "auto" or not config.steady:
        return ""
    return (
        f"; asynchronous, as its {config.workers} workers outnumber a generation's {config.evolution.offspring}"
        " children: a rerun of the seed may differ (--mode generational repeats it)"
    )


def _budget_said(config: SearchConfig) -> str:
    """The budget, with the sizes given in place of its own, and its racing where they made the search smaller (racing
    costs the same trainings however small the rest is)."""
    budget = BUDGETS[config.budget]
    sizes = {
        "population": config.evolution.population,
        "offspring": config.evolution.offspring,
        "generations": config.generations,
    }
    changed = [f"{name} {value}" for name, value in sizes.items() if value != budget[name]]
    if not changed:
        return f"{config.budget} budget"
    racing = (
        f"; racing the top {config.race_top} on {config.race_seeds} seeds, which --race 0 turns off"
        if config.race_top and any(value < budget[name] for name, value in sizes.items())
        else ""
    )
    return f"{config.budget} budget with {', '.join(changed)}{racing}"


def _after_interrupt(run_dir: Path) -> tuple[str, bool]:
    """What to do after Ctrl-C: resume the run (with --trust-task where it trains user code), or, where it had already
    finished, look at it; and whether it had."""
    try:
        run = open_run(run_dir)
        state, tasks = run.state, run.config.tasks
        run.close()
    except (RunStoreError, ValueError, sqlite3.Error, OSError):  # only a hint: never a traceback instead
        state, tasks = RunState.INTERRUPTED, ()
    if state == RunState.FINISHED:
        return f"interrupted after the run had finished; it is complete: {shown(show_command(run_dir))}", True
    said = f"interrupted; everything finished so far is saved in {shown(str(run_dir))}; continue with:"
    return f"{said} {shown(resume_command(run_dir, tasks))}", False


def _run_to_end(run_dir: Path, start: Callable[[], object], tasks: Sequence[str]) -> None:
    """Run a search on ``tasks`` with clean errors; Ctrl-C or SIGTERM stops after saving (``interrupts.stopping``)."""

    def then() -> str | None:
        """The resume command; None while nothing is evaluated (stopped then, the search keeps no run directory)."""
        try:
            kept = run_dir.exists() and evaluated(run_dir)
        except Exception:  # in a signal handler, whatever the run holds: say how it goes on, as it may
            kept = True
        return resume_command(run_dir, tasks) if kept else None

    with stopping(then) as received:
        try:
            start()
        except KeyboardInterrupt:
            if run_dir.exists():
                said, complete = _after_interrupt(run_dir)
                console.print(said, highlight=False, soft_wrap=True)  # a command to copy: one line
                if complete:  # the search's work is done: a script sees success
                    return
            else:
                console.print("interrupted before the first evaluation; no run directory was kept", highlight=False)
            exit_stopped(received)
    finished = open_run(run_dir)
    summary = finished.summary(10, None)
    print_run(finished, summary, top=10, status=None)  # its verdict's note included
    if finished.state == RunState.STOPPED:
        console.print(
            f"\nstopped early: continue with {shown(resume_command(run_dir, finished.config.tasks))} (with another"
            " stopping rule, or none)",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"\nnext: {next_steps(run_dir, finished.config.tasks)}", highlight=False, soft_wrap=True)


def next_steps(run_dir: Path, tasks: tuple[str, ...]) -> str:
    """What to do after a search: show it, confirm it (on your own tasks where it ran on them, on fresh seeds; else on
    your own network), export, list the runs."""
    own = any(is_user_task(t) for t in tasks)
    where = shown(shlex.quote(str(run_dir)))  # quoted as confirm_command quotes it: each pastes into a shell
    confirm = shown(confirm_command(run_dir, tasks)) + (
        " (fresh seeds on your tasks)" if own else " --task my_task.py:fn (your own network)"
    )
    return (
        f"{shown(show_command(run_dir))}   |   {confirm}   |   evoact export {where} ID -o my_act.py"
        f"   |   evoact runs {shown(shlex.quote(str(run_dir.parent)))}"
    )


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--top",
    type=int,
    default=CONFIRM_TOP,
    show_default=True,
    help="How many of the hall of fame to confirm (a variant show nests under a better candidate is passed over).",
)
@click.option(
    "--seeds", type=int, default=CONFIRM_SEEDS, show_default=True, help="Fresh training seeds per function and task."
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    help="Task to confirm on (repeatable; default: the tasks of the groups given by --group).",
)
@click.option(
    "--group",
    "groups",
    type=click.Choice(GROUPS),
    multiple=True,
    help="Task group to confirm on (repeatable): search (the run's own tasks), validation, test (only reported)."
    " Default: search and validation.",
)
@click.option(
    "--also",
    multiple=True,
    metavar="FORMULA",
    help="A formula of your own to confirm beside the run's top (repeatable), e.g. another run's winner.",
)
@click.option(
    "--baselines-from",
    type=click.Path(path_type=Path),
    default=None,
    metavar="RUN",
    help="Copy the baselines' trainings from another run confirmed under the same protocol instead of training them.",
)
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the run's).")
@click.option("--workers", type=int, default=None, help="Parallel Ray workers (default: the run's).")
@_TRUST
@_ADDRESS
@_DATA_DIR
@click.option("--markdown", is_flag=True, help="Print the result as Markdown tables (for a README or a paper draft).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def confirm(
    run: Path,
    top: int,
    seeds: int,
    tasks: tuple[str, ...],
    groups: tuple[str, ...],
    also: tuple[str, ...],
    baselines_from: Path | None,
    epochs: int | None,
    workers: int | None,
    trust: bool,
    address: str | None,
    data_dir: str | None,
    markdown: bool,
    as_json: bool,
) -> None:
    """Re-train the top candidates and ReLU, GELU, SiLU, Mish, tanh (on GLU tasks the gates ReGLU, GEGLU, SwiGLU,
    sine, xSiLU; and the run's own baselines) with fresh seeds; report test measures, p-values and, per task group,
    each function's ratio to the best of GELU, SiLU and Mish (GEGLU and SwiGLU on GLU tasks).

    Every training is stored in the run as it finishes (an interrupted confirm continues), and so is the summary;
    ``show`` prints it with what earlier confirmations found on other tasks.
    """
    if tasks and groups:
        _fail("give --task or --group, not both")
    from evoact.confirmation import confirm_run

    with stopping("the same command") as received:
        try:
            summary = confirm_run(
                run,
                top,
                seeds,
                list(tasks) or None,
                epochs,
                workers,
                trust_user_tasks=trust,
                address=address,
                data_dir=data_dir,
                groups=groups or None,
                also=list(also),
                baselines_from=baselines_from,
            )
        except KeyboardInterrupt:
            click.echo("stopped; the trainings done are stored, and the same command again goes on", err=True)
            exit_stopped(received)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        print_confirmation(summary, markdown)
        print_verdict(open_run(run).verdict(), "the tables above")


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--top", type=int, default=20, show_default=True, help="How many ranked candidates to list.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in Status]),
    default=None,
    help="List candidates of one status instead of the ranking.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(run: Path, top: int, status: str | None, as_json: bool) -> None:
    """Show a run's hall of fame (baselines marked) and status counts; works while it runs."""
    BOUNDS["show_top"].check("--top", top)
    opened = open_run(run)
    if as_json:
        click.echo(json.dumps(opened.summary(top, status).to_json(), indent=2))
        return
    print_run(opened, opened.summary(top, status), top, status)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path), default=RUNS_ROOT, required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def runs(folder: Path, as_json: bool) -> None:
    """List the runs in FOLDER (default: runs): state, tasks, best against the best baseline, size, duration, and the
    command that runs each again. A run whose process died shows as interrupted."""
    from evoact.run import list_runs

    if is_run_directory(folder):  # a run, not a folder of runs
        _fail(f"{folder} is a run, not a folder of runs: {show_command(folder)} describes it")
    listed, unreadable = list_runs(folder)
    overviews = [o for _, o in listed]
    for run, _ in listed:
        run.close()
    if as_json:
        click.echo(json.dumps([o.to_json() for o in overviews], indent=2))
        for line in unreadable:
            click.echo(f"not listed: {plain(line)}", err=True)
        return
    if not listed and not unreadable:
        if (
            not folder.is_dir()
            and click.get_current_context().get_parameter_source("folder") != ParameterSource.DEFAULT
        ):
            _fail(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
        if folder.is_dir():
            console.print(f"no runs in {shown(str(folder))}", highlight=False)
        elif folder.exists():
            _fail(f"{folder}: not a folder")
        else:  # the default folder, absent: probably run from another folder than the searches
            console.print(
                f"no runs: no {shown(str(folder))} folder in {shown(os.getcwd())} (searches make their runs in"
                f" ./{RUNS_ROOT} of the folder they run in; give another folder: evoact runs FOLDER)",
                highlight=False,
                soft_wrap=True,
            )
        return
    print_runs(folder, overviews, unreadable)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top", type=int, default=3, show_default=True, help="Best functions to list per run.")
def compare(run_dirs: tuple[Path, ...], top: int) -> None:
    """Put runs side by side, e.g. one search with different seeds: settings, results and each run's best functions."""
    if len(run_dirs) < 2:
        _fail("compare needs two or more run directories")
    BOUNDS["compare_top"].check("--top", top)
    opened = [open_run(path) for path in run_dirs]
    overviews = [r.overview() for r in opened]
    print_comparison(opened, overviews, top)


#: ``inspect``'s printed names for two sizes ``--json`` keeps under their keys: the formula's and the genome tree's
_INSPECT_LABELS = {"nodes": "formula nodes", "tree_nodes": "tree nodes"}
#: What a size counts: the two differ (the search's tree holds what simplification folds, and the reverse).
_INSPECT_NOTES = {
    "nodes": "of the formula as written here",
    "tree_nodes": "of the tree the search built, as show counts",
}


@main.command()
@_target_arguments("Describe")
@_file_option("--plot", "plot_path", help="Also write an image (.png, .svg, .pdf or .jpg) of f and f' with references.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(
    run: Path | None,
    candidate_id: int | None,
    formula: str | None,
    params: tuple[str, ...],
    plot_path: Path | None,
    as_json: bool,
) -> None:
    """Describe a candidate (RUN ID) or a formula (--expr): forms, properties, nearest known activations, lineage."""
    from evoact.inspection import describe_candidate, describe_formula

    if plot_path is not None:  # refused before the work
        from evoact.plotting import IMAGE_FORMATS, image_format, write_plot

        check_target(plot_path, tuple(IMAGE_FORMATS))
        image_format(plot_path)
    opened, row, formula, expr, values = _target(run, candidate_id, formula, params)
    info = (
        describe_candidate(opened, row.id, values, expr)
        if opened is not None and row is not None
        else describe_formula(formula, values, expr)
    )
    if plot_path is not None:
        write_plot(plot_path, expr, info["constant_values"])
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    properties, nearest = info.pop("properties"), info.pop("nearest_known")
    if note := _constants_note(expr, info["constant_values"], typed=row is None):
        console.print(note, highlight=False)
    for key, value in info.items():
        if value is None or value == {} or value == []:
            continue  # --json gives every key; here only what there is
        if key == "scores":  # a line per task, without the learning curves (--json has them)
            value = {task: _score_text(score, info["metrics"].get(task, "accuracy")) for task, score in value.items()}
        label = _INSPECT_LABELS.get(key, key)
        if key in _INSPECT_NOTES:
            value = f"{value} ({_INSPECT_NOTES[key]})"
        console.print(
            f"[bold]{label:>15}[/]  {shown(json.dumps(value) if isinstance(value, (dict, list)) else str(value))}",
            highlight=False,
        )
    table = Table(title="properties", title_justify="left")
    for col in ("property", "value", "found", "detail"):
        table.add_column(col, overflow="fold")
    for name, p in properties.items():
        detail = ", ".join(f"{k} {v}" for k, v in p.items() if k not in ("value", "how"))
        table.add_row(name, shown(str(p["value"])), p["how"], shown(detail))
    console.print(table)
    table = Table(
        title="nearest known activations (relative RMS distance after fitting output scale and beta; 'of -x': the"
        " known function of -x, as a network whose weights flip sign learns it)",
        title_justify="left",
    )
    for col in ("name", "distance", "scale", "beta", "verdict", "reference"):
        table.add_column(col, overflow="fold")
    for m in nearest:
        table.add_row(
            labelled(m["name"], m["mirrored"]),
            f"{m['distance']:.4f}",
            f"{m['scale']:.3g}",
            "-" if m["beta"] is None else f"{m['beta']:.3g}",
            "rediscovery" if m["rediscovery"] else "-",
            shown(m["reference"]),
        )
    console.print(table)
    if plot_path is not None:
        console.print(f"wrote {plot_path}", highlight=False)


@main.command()
@_target_arguments("Export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORTERS)),
    default="module",
    show_default=True,
    help="module: standalone torch file; sympy: a file rebuilding the SymPy expression; latex; json; jax: a"
    " jax.numpy function (needs only jax).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    callback=_file_or_stdout,
    required=True,
    help="File to write (a new one, unless --force); '-': standard output.",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def export(
    run: Path | None,
    candidate_id: int | None,
    formula: str | None,
    params: tuple[str, ...],
    fmt: str,
    output: Path | None,
    force: bool,
) -> None:
    """Export a candidate (RUN ID; RUN alone: its best) or a formula (--expr): a standalone torch module (imports only
    torch), SymPy, LaTeX, JSON or a JAX function (imports only jax).

    A run's learnable constants start at their trained values (the mean over layers and raced seeds); --param
    overrides.
    """
    if output is not None:  # else the file on standard output, the notes on standard error
        check_target(output)  # before the candidate is chosen and its notes printed
        if output.exists() and not force:
            _fail(f"{output} exists; nothing was written (pass --force to overwrite it)")
    said = Console(stderr=True, highlight=False, soft_wrap=True) if output is None else console
    opened, row, formula, expr, values = _target(run, candidate_id, formula, params)
    if row is None and X not in expr.free_symbols:  # a typo (z for x) made a constant with no slope
        _fail(f"--expr {formula!r}: no x in it (a constant function); an activation is a formula in x")
    if row is not None and row.unfit:
        said.print(
            f"note: {shown(row.unfit)}; exported as asked, but it has no fitness", highlight=False, soft_wrap=True
        )
    learned = opened.learned(row) if opened and row else None
    if output is None:
        with tempfile.TemporaryDirectory(prefix="evoact-export-") as folder:
            text = EXPORTERS[fmt](Path(folder) / "export", formula, values, learned).read_text(encoding="utf-8")
        click.echo(text, nl=False)
    else:
        EXPORTERS[fmt](output, formula, values, learned)
        said.print(f"wrote {shown(str(output))} ({fmt}): {shown(formula)}", highlight=False)
    if note := _constants_note(expr, values, typed=row is None):
        said.print(note, highlight=False)


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
@_file_option("-o", "--output", help="HTML file to write [default: RUN/report.html].")
@click.option("--top", type=int, default=10, show_default=True, help="Hall-of-fame entries to describe.")
def report(run: Path, output: Path | None, top: int) -> None:
    """Write a self-contained HTML report of a run (config, progress, cascade, hall of fame with plots, baselines)."""
    BOUNDS["report_top"].check("--top", top)
    opened = open_run(run)
    target = output or run / "report.html"
    try:
        opened.report(target, top)
    except OSError as exc:
        if output is not None or exc.filename is None:
            raise
        _fail(f"{exc.filename}: {exc.strerror}; write the report elsewhere with -o FILE.html")
    console.print(f"wrote {target}", highlight=False)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path), default=RUNS_ROOT, required=False)
@click.option("--port", type=int, default=8750, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option(
    "--refresh", type=float, default=2.0, show_default=True, help="Seconds between an open page's checks for news."
)
@click.option("--top", type=int, default=10, show_default=True, help="Hall-of-fame entries on a run's page.")
def dashboard(folder: Path, port: int, refresh: float, top: int) -> None:
    """Serve a live, read-only web page over the runs in FOLDER (default: runs), on 127.0.0.1 only: the runs, each
    run's progress, cascade, hall of fame and confirmations, and runs side by side. Pages follow running searches."""
    from evoact.dashboard import make_server

    BOUNDS["port"].check("--port", port)
    BOUNDS["refresh"].check("--refresh", refresh)
    BOUNDS["report_top"].check("--top", top)
    if folder.exists() and not folder.is_dir():
        _fail(f"{folder}: not a folder")
    if is_run_directory(folder):
        _fail(f"{folder} is a run, not a folder of runs: evoact dashboard {folder.parent} shows it with its neighbours")
    try:
        server = make_server(folder, port, top, refresh)
    except OSError as exc:
        _fail(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc} (choose another --port, or 0 for any)")
    console.print(
        f"evoact dashboard for {shown(str(folder))} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)",
        highlight=False,
    )
    if not folder.exists():
        console.print(f"{shown(str(folder))} does not exist yet: runs appear as searches make them", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("dashboard stopped", highlight=False)
    finally:
        server.server_close()


@main.command()
@_target_arguments("Plot")
@click.option("--range", "span", type=(float, float), default=(-5.0, 5.0), show_default=True, help="x range.")
@_file_option("-o", "--output", required=True, help="Image to write: .png, .svg, .pdf or .jpg.")
def plot(
    run: Path | None,
    candidate_id: int | None,
    formula: str | None,
    params: tuple[str, ...],
    span: tuple[float, float],
    output: Path,
) -> None:
    """Plot a candidate (RUN ID) or a formula (--expr) and its derivative, with ReLU, GELU and SiLU for reference."""
    from evoact.plotting import IMAGE_FORMATS, image_format, write_plot

    check_target(output, tuple(IMAGE_FORMATS))
    image_format(output)
    _, _, _, expr, values = _target(run, candidate_id, formula, params)
    if not all(math.isfinite(v) and abs(v) <= PLOT_LIMIT for v in span):  # numpy warns its way through the rest
        _fail(f"--range {span[0]:g} {span[1]:g}: give finite numbers within ±{PLOT_LIMIT:g}")
    if not span[0] < span[1]:
        _fail(f"--range {span[0]:g} {span[1]:g}: the start must be below the end")
    write_plot(output, expr, values, span)
    console.print(f"wrote {output}", highlight=False)


def _checked(formula: str) -> sp.Expr:
    """The formula parsed by the safe parser; a one-line error if it refuses it."""
    from evoact.formula import FormulaError, parse

    try:
        return parse(formula)
    except FormulaError as exc:
        _fail(f"invalid formula: {exc}")


def _params(pairs: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            _fail(f"--param {pair!r}: expected NAME=VALUE")
        if name.strip() in out:
            _fail(f"--param {pair!r}: {name.strip()} was given a value already; give each constant once")
        try:
            out[name.strip()] = check("param", float(value))
        except ValueError as exc:
            _fail(
                f"--param {pair!r}: " + (f"{value!r} is not a number" if "could not convert" in str(exc) else str(exc))
            )
    return out


if __name__ == "__main__":
    main()
