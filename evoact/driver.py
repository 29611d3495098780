"""Run or resume a search: the driver that wires the algorithm, the problem and the hooks.

The algorithm asks and is told; the problem turns proposals into fitness; the progress display and the
checkpoints hang on hooks. Generation by generation: ask for a generation's quota (topped up where stage 1
rejects), evaluate it, tell the algorithm, checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import math
import platform
import re
import shlex
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console

from evoact.checkpoint import read_checkpoint
from evoact.config import RUNTIME_SETTINGS, SearchConfig, restated
from evoact.evolution import ALGORITHMS, Evolution, Proposal
from evoact.formula import FormulaError, parse
from evoact.genome import Genome, TreeSyntaxError
from evoact.hooks import Checkpoints, Hook, Hooks
from evoact.interrupts import held
from evoact.options import reproduce_command
from evoact.problem import Problem
from evoact.progress import SearchProgress
from evoact.records import USER_ORIGINS, Candidate, RunState, Stage, Status
from evoact.run import RunReader, read_run
from evoact.run_files import CONFIG_FILE, DB_FILE, RESUME, RUNS_ROOT, RunStoreError, is_run_directory
from evoact.search_space import SearchSpace, read_search_space
from evoact.stopping import Stopper, StopRules
from evoact.store import RunStore
from evoact.tasks import UserTask, get_task, require_trusted
from evoact.terminal import shorten
from evoact.version import VERSION
from evoact.workers import WorkerPool, check_address

_MAX_TOP_UPS = 25
_CHECKPOINT_SECONDS = 1.0  # steady state: at most one checkpoint a second (results are in the store already)


def run_dir_for(config: SearchConfig, root: Path = RUNS_ROOT, name: str | None = None) -> Path:
    """Where a new run goes: ``root/name``, a one-line error for a name that is not one folder's (a path, ``..``,
    a hidden name), or without a name (None or empty) ``root/<date>-<time>-<space>-<task>-s<seed>``."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"runs folder {root}: a file, not a folder (give another --runs-dir)")
    if is_run_directory(root):  # a run inside it would hide there: `evoact runs` lists neither it nor its parent
        raise ValueError(f"runs folder {root}: a run, not a folder of runs (give its parent or another --runs-dir)")
    if not name:
        return _default_run_dir(config, root)
    if name.startswith(".") or len(name) > 200 or not name.isprintable() or re.search(r"[/\\]", name):
        raise ValueError(
            f"run name {name!r}: a run's name is one folder's name under the runs folder (no '/', no leading '.', at"
            " most 200 printable characters)"
        )
    return root / name


def _default_run_dir(config: SearchConfig, root: Path = RUNS_ROOT) -> Path:
    """``runs/<date>-<time>-<space>-<task>-s<seed>``: sortable and says what ran (a user task by its function)."""
    space = Path(config.space).stem
    task = re.sub(r"[^\w.-]+", "_", config.task.rpartition(":")[2]) + (
        f"+{len(config.tasks) - 1}" if len(config.tasks) > 1 else ""
    )
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{space}-{task}-s{config.seed}"


def versions() -> dict[str, str]:
    """What a run records of the software that made it: evoact's code, and what decides the tasks' numbers and data
    (torch; Python, whose standard library and documentation are corpora; SymPy, whose docstrings are one)."""
    import sympy

    return {
        "evoact": VERSION,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "sympy": sympy.__version__,
    }


def run_search(
    config: SearchConfig,
    run_dir: Path,
    console: Console | None = None,
    stop: StopRules | None = None,
    callbacks: Sequence[Hook] = (),
) -> RunStore:
    """Evaluate the baselines, then evolve for ``config.generations`` generations; returns the closed store.

    What can be checked before the run directory exists is (``check_search``); a search that still fails before
    its first evaluation leaves no run directory behind. ``stop``: rules that end this session early (the run is
    then ``stopped``, and ``resume_search`` continues it). A ``warm_start`` run's hall of fame is read here, once, into
    the config's ``warm_trees``, so that the run keeps what it started from. ``callbacks``: hooks
    (``evoact.hooks.Hook``) that hear the search's events beside the progress display and the checkpoints, such as
    ``evoact.loggers``'.
    """
    Hooks(*callbacks)  # a callback that is no hook is refused before anything is made
    config = with_guess_trees(with_warm_start(config))
    space = check_search(config)
    store = RunStore.create(
        run_dir,
        {
            "config": config.to_dict(),
            "command": reproduce_command(config, run_dir),
            "search_space": {"source": space.source, "text": space.text},
            "versions": versions(),
        },
    )
    try:
        return _drive(store, config, space, False, console, stop=stop, callbacks=callbacks)
    except BaseException as exc:
        with contextlib.suppress(RunStoreError, sqlite3.Error):
            if not evaluated(run_dir):
                shutil.rmtree(run_dir, ignore_errors=True)  # nothing was evaluated: nothing to keep or resume
                exc.add_note(f"evoact: stopped before the first evaluation; no run directory was kept ({run_dir})")
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not run_dir.exists():
            raise RunStoreError(
                f"{run_dir.parent}: the disk is full; no run was kept, as nothing was evaluated (free space, then"
                " start it again)"
            ) from None
        raise


def evaluated(run_dir: Path) -> bool:
    """Whether the run at ``run_dir`` holds a finished evaluation: a search stopped before its first keeps no run
    directory."""
    with contextlib.closing(RunStore.open(run_dir)) as written:
        return any(n for status, n in written.counts().items() if status != Status.PENDING)


def check_search(config: SearchConfig) -> SearchSpace:
    """The config's space with its seed trees, guesses and warm-start trees parsed, and its tasks found; raises what
    is wrong with them."""
    space = read_search_space(config.space)
    genome = Genome(space)  # a bad seed tree fails here
    for flag, trees in (("--guess", config.guesses), ("--warm-start", config.warm_trees)):
        for tree in trees:
            try:
                parsed = genome.parse(tree)
            except TreeSyntaxError as exc:
                raise ValueError(
                    f"{flag} {tree!r}: {exc}; give a tree of the space's vocabulary, as its seeds:"
                    f" {space.seeds[0] if space.seeds else 'mul(x, sigmoid(x))'}"
                ) from None
            if not genome.within_limits(parsed):
                raise ValueError(f"{flag} {tree!r} exceeds the space's limits (depth and nodes)")
    for name in config.tasks:
        get_task(name, config.data_dir).check()
    return space


def with_warm_start(config: SearchConfig) -> SearchConfig:
    """``config`` with its ``warm_start`` run's best trees (up to half the population) as ``warm_trees``; a one-line
    error when that run searched another space or has no evolved candidate with a fitness."""
    if not config.warm_start or config.warm_trees:
        return config
    try:
        source = read_run(config.warm_start)
    except RunStoreError as exc:
        raise ValueError(f"--warm-start: {exc}") from None
    try:
        if source.space.text != (mine := read_search_space(config.space)).text:
            searched = (
                f"its space file {mine.source} has changed since that run read it"
                if source.space.source == mine.source
                else f"that run searched {source.space.source}, this search {mine.source}"
            )
            raise ValueError(f"--warm-start {config.warm_start}: {searched}; a warm start needs the same space")
        trees = tuple(r.genome for r in source.ranking(max(1, config.evolution.population // 2)) if r.genome)
    finally:
        source.store.close()
    if not trees:
        raise ValueError(f"--warm-start {config.warm_start}: that run has no evolved candidate with a fitness yet")
    return replace(config, warm_start=str(Path(config.warm_start).resolve()), warm_trees=trees)


def with_guess_trees(config: SearchConfig) -> SearchConfig:
    """``config`` with each guess that is a formula (``x*tanh(softplus(x))``) replaced by the space's tree for it, so
    that the run stores the trees it evolves from; a one-line error for a guess that is neither a tree of the space
    nor a formula the space's vocabulary writes exactly."""
    if not config.guesses:
        return config
    genome, trees = Genome(read_search_space(config.space)), []
    for guess in config.guesses:
        try:
            genome.parse(guess)
            trees.append(guess)
            continue
        except TreeSyntaxError as as_tree:
            try:
                expr = parse(guess)
            except FormulaError as exc:
                raise ValueError(
                    f"--guess {guess!r}: neither a tree of the space ({as_tree}) nor a formula ({exc})"
                ) from None
        try:
            trees.append(str(genome.from_formula(expr)))
        except TreeSyntaxError as exc:
            raise ValueError(
                f"--guess {guess!r}: {exc}; a tree of the space is taken as it is (`evoact inspect RUN ID` prints a"
                " candidate's as its genome)"
            ) from None
    return replace(config, guesses=tuple(trees))


def resume_search(
    run_dir: Path,
    console: Console | None = None,
    trust_user_tasks: bool = False,
    address: str | None = None,
    data_dir: str | None = None,
    stop: StopRules | None = None,
    callbacks: Sequence[Hook] = (),
) -> RunStore:
    """Continue an interrupted or stopped run from its newest intact checkpoint, reusing every finished evaluation.

    The result equals an uninterrupted run's with the same seed: the algorithm restarts from its saved state,
    proposes the same candidates, and finds their rows (finished ones are reused, in-flight ones re-run).
    A run that trains with user tasks is resumed only with ``trust_user_tasks``: its config names code to run.
    Its stored Ray address and data directory are not used unless given again as ``address`` and ``data_dir``.
    ``stop``: this session's stopping rules (those of an earlier session are not kept).
    """
    store = RunStore.reopen(run_dir, RESUME)
    try:
        if store.meta().get("state") == RunState.FINISHED:
            raise RunStoreError(f"{run_dir} already finished; there is nothing to resume")
        run = RunReader(store)  # the one reader of a run's config and space
        config, notes = restated(run.config, address, data_dir)
        if used := [name for name in check_edits(store) if name not in ("address", "data_dir")]:  # never used
            notes.append(
                f"{CONFIG_FILE} was edited since the run started: resuming with "
                + ", ".join(f"{name} {getattr(config, name)}" for name in used)
            )
        require_trusted(config.tasks, trust_user_tasks, "resume")
        space = run.space
    except BaseException:
        store.close()
        raise
    return _drive(store, config, space, True, console, notes, stop, callbacks)


def check_edits(store: RunStore) -> list[str]:
    """The settings of the run's config.json edited since it started, where a resume may take them (where its code
    runs: ``RUNTIME_SETTINGS``); a ``RunStoreError`` naming any other edited setting, since the run's results so far
    were made under the first."""
    edited = store.edited_settings()
    if results := [name for name in edited if name not in RUNTIME_SETTINGS]:
        why = (
            "a run's length is fixed when it starts; restore it, or go on from this run's best in a new search"
            f" (evoact search --warm-start {shlex.quote(str(store.path))} ...)"
            if results == ["generations"]
            else "its results so far were made under the settings it started with, and a resume would rank both"
            " together; restore them, or start a new search"
        )
        raise RunStoreError(
            f"{store.path / CONFIG_FILE} was edited since the run started ({shorten(', '.join(results), 200)}): {why}"
        )
    return edited


def _same_code(store: RunStore, stored: dict[str, str], tasks: Mapping[str, UserTask]) -> None:
    """Refuse to go on with user tasks whose code changed since the run trained with them (``stored``; none in a run
    made before codes were kept): its results so far are the earlier code's, and one ranking would hold both (a
    changed metric would even mix accuracies and losses)."""
    changed = [name for name, task in tasks.items() if name in stored and stored[name] not in task.codes()]
    if changed and store.counts()[Status.OK]:  # with no result yet (every baseline failed), a fixed task goes on
        raise RunStoreError(
            f"{', '.join(changed)} changed since {store.path} trained with it: a task's code is its whole file and"
            " the helpers it imports (an edit to another function of the file counts); the run's results so far are"
            " the earlier code's, and a resume would rank both together: restore the earlier code, or start a new"
            " search (and keep task variants in files of their own)"
        )


def _drive(
    store: RunStore,
    config: SearchConfig,
    space: SearchSpace,
    resuming: bool,
    console: Console | None,
    notes: Sequence[str] = (),
    stop: StopRules | None = None,
    callbacks: Sequence[Hook] = (),
) -> RunStore:
    total = config.evaluations
    try:
        hooks = Hooks(
            SearchProgress(
                total,
                config.generations,
                console,
                config.workers,
                len(config.baselines),
                trainings=config.screening.selecting,
            ),
            Checkpoints(store.path),
            *callbacks,
        )
    except BaseException:
        store.close()
        raise
    problem = None
    try:  # nothing below may leave the store open (and its writer lock held) if it fails
        tasks = [get_task(name, config.data_dir) for name in config.tasks]
        users = {name: task for name, task in zip(config.tasks, tasks) if isinstance(task, UserTask)}
        stored = store.meta().get("task_code") or {}
        if resuming:  # before anything is written: a refused resume leaves the run as it was
            _same_code(store, stored, users)
        store.set_meta("task_code", {**stored, **{name: task.code() for name, task in users.items()}})
        metrics = {task.name: task.metric for task in tasks}
        store.set_meta("metrics", metrics)  # for the readers, which never import a user's task
        problem = Problem(store, config, space, hooks, metrics)
        steady = config.steady
        guess, warm = USER_ORIGINS
        first = tuple((t, guess) for t in config.guesses) + tuple((t, warm) for t in config.warm_trees)
        algorithm = ALGORITHMS[config.algorithm](
            Genome(space), config.evolution, config.seed, admissible=problem.admissible, steady=steady, first=first
        )
        algorithm.seen.update(
            problem.baseline_formulas.values()
        )  # explore beyond the baselines (seeds may still equal one)
        checkpoint = read_checkpoint(store.path, _checker(algorithm, config, total)) if resuming else None
        if checkpoint is not None and checkpoint.generation >= 0:
            try:
                algorithm.restore(checkpoint.state["algorithm"] if steady else checkpoint.state)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise RunStoreError(
                    f"{store.path}: checkpoint of generation {checkpoint.generation} cannot be continued"
                    f" by this evoact ({type(exc).__name__}: {exc})"
                ) from None
            _check_population(store, algorithm, checkpoint.generation)
        check_address(config.address)  # before the session is recorded: a run that cannot start keeps its state
        run = {"run_dir": str(store.path.resolve()), "run_started": store.meta().get("started_at")}
        hooks.start({**config.to_dict(), **run})
        if (planned := algorithm.planned()) is not None and planned <= total:  # else the budget ends the run first
            hooks.planned(planned)
        skipped = checkpoint.skipped if checkpoint else ()
        for note in [*notes, *(f"skipping checkpoint {name}" for name in skipped)]:
            hooks.note(note)
        if checkpoint is not None and checkpoint.generation >= 0:
            problem.known_through(math.inf if steady else checkpoint.generation)
        if checkpoint is not None:
            done = f"{checkpoint.generation} evaluations" if steady else f"generation {checkpoint.generation}"
            hooks.note(
                f"resuming after {done}"
                if checkpoint.generation >= 0
                else "resuming from the start (no intact checkpoint); finished evaluations are reused"
            )
        if resuming:
            problem.retry_failed_baselines()
            for row in store.candidates():  # what earlier sessions finished counts in the progress, read again or not
                if row.status != Status.PENDING:
                    hooks.resumed(row)
        store.set_meta("sessions", [*(store.sessions() if resuming else []), [time.time(), None]])
        store.set_meta("state", RunState.RUNNING)
        store.set_meta("stopped_because", None)
        store.set_meta("mode", "async" if steady else "generational")
        stopper = Stopper(stop or StopRules())
    except BaseException:
        with held(failing=True):
            _end_session(RunState.INTERRUPTED, hooks, None, problem, store)
        raise
    pool, failing = None, False
    try:
        for task in tasks:
            task.prepare()  # generate and cache the data once, before any worker needs it
        pool = WorkerPool(config.workers, config.address, config.timeout, config.gpus_per_job)
        store.set_meta("ray_address", pool.address)
        problem.evaluate_baselines(pool)
        if steady:
            reason = run_steady(
                problem,
                algorithm,
                hooks,
                config,
                checkpoint.state if checkpoint and checkpoint.generation >= 0 else None,
                stopper,
            )
        else:
            reason = run_generations(problem, algorithm, hooks, config, stopper)
        if reason is None:
            problem.race_to_end()
            problem.finish()
            if lost := problem.racing.lost:  # an unfinished ranking: a resume trains them
                reason = (
                    f"{lost} raced seed(s) were lost to timeouts, memory or dead workers, not to the functions; a"
                    " resume trains them (a seed that runs past the timeout or out of memory again is its function's"
                    " failure)"
                )
        if reason is None:
            if algorithm.ran_out:  # it ends as finished: there is nothing left to propose, and so none to resume
                hooks.note(f"the search ends early: {algorithm.ran_out}")
                store.set_meta("stopped_because", algorithm.ran_out)
            store.set_meta("state", RunState.FINISHED)
        else:
            hooks.note(f"stopping: {reason}")
            store.set_meta("stopped_because", reason)
            store.set_meta("state", RunState.STOPPED)
    except BaseException:
        failing = True
        store.set_meta("state", RunState.INTERRUPTED)
        raise
    finally:
        with held(failing):  # a signal now stops the command after the session's end is recorded and Ray shut down
            try:
                now = time.time()
                store.set_meta("finished_at", now)
                *earlier, (began, _) = store.sessions()
                store.set_meta("sessions", [*earlier, [began, now]])
            finally:  # a full disk here still shuts Ray down and frees the writer lock
                try:
                    state = str(store.meta().get("state"))
                except (sqlite3.Error, OSError, RunStoreError):  # unreadable now: the session did not end as meant
                    state = str(RunState.INTERRUPTED)
                _end_session(state, hooks, pool, problem, store)
    return store


def _end_session(state: str, hooks: Hooks, pool: WorkerPool | None, problem: Problem | None, store: RunStore) -> None:
    """Tell the hooks the session ended, then close them, the workers, the problem and the store (its writer lock):
    each closes even where one before it raised (a user's hook, a logger's server), and then the error is raised."""
    with contextlib.ExitStack() as closing:  # runs its callbacks last-in first-out: the store closes last
        closing.callback(store.close)
        if problem is not None:
            closing.callback(problem.close)
        if pool is not None:
            closing.callback(pool.close)
        closing.callback(hooks.close)
        hooks.end(state)


def _check_population(store: RunStore, algorithm: Evolution, generation: int) -> None:
    """The checkpoint's population must be rows of the database as it holds them: a database replaced by an older copy,
    or one that lost its write-ahead log, would otherwise be continued with new candidates under reused ids."""
    for member in algorithm.population:
        row = store.candidate(member.id)
        if row is None or row.genome != str(member.tree):
            raise RunStoreError(
                f"{store.path}: its checkpoint after generation {generation} names candidate #{member.id}"
                f" {member.tree}, which {store.path / DB_FILE} does not hold as such (was it replaced by an older copy,"
                " or its -wal file lost?); the run cannot continue from it"
            )


def _checker(algorithm: Evolution, config: SearchConfig, total: int) -> Callable[[int, dict], str | None]:
    """What a checkpoint must hold to continue this run: a checkpoint is a file from a run directory, so checked."""

    def problem(generation: int, state: dict) -> str | None:
        # steady state counts every result, stage-1 rejections too: allow a thousand per evaluation
        most = total * 1000 if config.steady else config.generations
        if generation > most:
            return f"generation {generation} is beyond this run's {most}"
        if not config.steady:
            return algorithm.state_problem(state, most)
        if not (
            isinstance(awaited := state.get("awaited"), list)
            and all(isinstance(i, int) and i >= 0 for i in awaited)
            and isinstance(state.get("asked_through"), int)
            and state["asked_through"] >= 0
        ):
            return "its proposals in flight are not candidate ids"
        return algorithm.state_problem(state.get("algorithm"), most)

    return problem


def run_generations(
    problem: Problem, algorithm: Evolution, hooks: Hooks, config: SearchConfig, stopper: Stopper | None = None
) -> str | None:
    """Generation by generation: ask for a generation's quota (topped up where stage 1 rejects), evaluate all of it,
    race the new top, tell, checkpoint. A seed fixes the whole run, resumed or not. With ``--surrogate-pool F`` a
    generation asks F times its quota and its quota counts trainings: the surrogate picks which (``Problem.submit``).

    Returns why ``stopper`` ended the session after a checkpoint before the last generation, or None."""
    for generation in range(algorithm.generation, config.generations):
        if algorithm.exhausted:
            break
        hooks.generation(generation)
        problem.start_generation()
        target = config.evolution.population if generation == 0 else config.evolution.offspring
        proposals: list[Proposal] = []
        candidates: list[Candidate] = []
        kept = 0
        factor, selecting = problem.pool_factor(generation), config.screening.selecting
        for _ in range(_MAX_TOP_UPS):  # refill stage-1 rejections, so each generation evaluates `target`
            batch = algorithm.ask((target - kept) * factor)
            if not batch:
                break
            made, passed = problem.submit(batch, generation, train=target - kept if selecting else None)
            proposals, candidates, kept = proposals + batch, candidates + made, kept + passed
            if kept >= target:
                break
        problem.drain()
        problem.race_to_end()
        algorithm.tell(proposals, [c.id for c in candidates], [problem.fitness(c.id) for c in candidates])
        hooks.step(generation, algorithm.state())
        if stopper is not None and generation < config.generations - 1:
            reason = stopper.check(generation, _best(problem.store))
            if reason is not None:
                return reason
    return None


def _best(store: RunStore) -> float | None:
    """The best evolved candidate's fitness as the ranking sees it (its raced mean where raced; a hit on another run's
    result in the fitness cache counts, as ``show`` ranks it)."""
    best = store.hall_of_fame(1)
    return best[0].rank_fitness if best else None


def _proposal(row: Candidate) -> Proposal:
    """The proposal a stored evolved candidate was made from (a row without its tree is a damaged run)."""
    if row.genome is None or row.nodes is None:
        raise RunStoreError(f"candidate #{row.id} has no stored tree; the run directory is damaged")
    return Proposal(row.genome, row.formula, row.nodes, row.origin, tuple(row.parents))


def run_steady(
    problem: Problem,
    algorithm: Evolution,
    hooks: Hooks,
    config: SearchConfig,
    saved: dict | None,
    stopper: Stopper | None = None,
) -> str | None:
    """Asynchronous steady state (regularized evolution, Real et al. 2019): whenever an outcome arrives the algorithm is
    told and asked for one new proposal, so every worker always holds work; aging counts evaluations.

    The run evaluates as many candidates past stage 1 as the generational schedule would. Each pass's proposals and
    outcomes commit together. A checkpoint (after every ``offspring`` results, at most one a second, after the commit)
    holds the algorithm's state and the proposals it awaits; a resumed run tells what finished meanwhile and re-runs
    the rest. Returns why ``stopper`` ended the session after a checkpoint (evaluations in flight are re-run by a
    resume), or None.
    """
    total = config.evaluations
    per_label = config.evolution.offspring  # progress and reports group evaluations by this many, like generations
    awaited: dict[int, Proposal] = {}
    kept = 0
    if saved is None and any(r.label is None for r in problem.store.candidates()):
        # no intact checkpoint: every stored candidate was proposed after it, and is told again as it is collected (a
        # fresh algorithm's proposals would differ, and train a second budget); the seeds are among them
        saved, algorithm.seeded = {"awaited": [], "asked_through": 0}, True
    if saved is not None:  # what the checkpoint awaited, and what was proposed after it, is in the store
        every = problem.store.candidates()
        rows = [r for r in every if r.label is None]
        awaited_ids = set(saved["awaited"])
        unknown = [r for r in rows if r.id in awaited_ids or r.id > saved["asked_through"]]
        algorithm.seen.update(r.formula for r in every)  # the checkpoint leaves them out: they grow with the run
        awaited = {r.id: _proposal(r) for r in unknown}
        kept = sum(not (r.status == Status.REJECTED and r.outcome.stage == Stage.STATIC) for r in rows)
        problem.readmit([r.id for r in unknown])
    last_step, last_time, label = algorithm.told, time.monotonic(), -1
    asked_through = max(awaited, default=saved["asked_through"] if saved else 0)
    while True:
        with problem.batch():  # what one pass proposes and learns commits at once
            if algorithm.told // per_label != label:  # before the pass's proposals: theirs, not the baselines' label
                label = algorithm.told // per_label
                hooks.generation(min(label, config.generations - 1))
            while kept < total and problem.in_flight < config.workers and not algorithm.exhausted:
                for proposal in algorithm.ask(1):  # the first ask also brings the space's seed trees
                    (candidate,), passed = problem.submit(
                        [proposal], min(algorithm.told // per_label, config.generations - 1)
                    )
                    awaited[candidate.id], kept, asked_through = proposal, kept + passed, candidate.id
            finished = [c for c in problem.collect() if c.id in awaited]
            if finished:
                algorithm.tell(
                    [awaited.pop(c.id) for c in finished],
                    [c.id for c in finished],
                    [problem.fitness(c.id) for c in finished],
                )
                problem.race()  # the seeds a new top lacks train beside the next children
        if finished:
            last = (kept >= total or algorithm.exhausted) and not awaited
            if last or (
                algorithm.told - last_step >= per_label
                and (time.monotonic() - last_time >= _CHECKPOINT_SECONDS or (stopper is not None and stopper.overdue()))
            ):
                last_step, last_time = algorithm.told, time.monotonic()
                hooks.step(
                    algorithm.told,
                    {
                        "algorithm": algorithm.state(seen=False),
                        "awaited": sorted(awaited),
                        "asked_through": asked_through,
                    },
                )
                if stopper is not None and not last:
                    reason = stopper.check(algorithm.told, _best(problem.store), problem.race_settled())
                    if reason is not None:
                        return reason
        elif problem.in_flight:
            problem.poll()
        elif kept >= total or algorithm.exhausted:
            return None
