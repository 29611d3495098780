"""Held-out confirmation: re-train a run's best candidates and the reference baselines with fresh seeds, on test data.

Search fitness is measured on validation splits with the run's seed; claims are made here instead: every function
is trained again with seeds the search never used, on the run's tasks and on held-out tasks the search never saw,
and scored on the test split; each candidate is compared with ReLU and with the best baseline by a paired t-test
over the seeds (a pair shares the seed, hence the initialisation stream and batch order). Every training is
committed to the run as it finishes, so an interrupted confirmation continues where it stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from evoact.baselines import GLU_BASELINES, PLAIN_FFN_BASELINES, baseline_formula, baseline_params
from evoact.comparison import PLAIN_PREFIX, RATIO_REFERENCES, listed, stored_task, summarise, trained_on
from evoact.config import BOUNDS, CONFIRM_SEEDS, CONFIRM_TOP, SearchConfig, check, restated
from evoact.evaluation import make_job
from evoact.formula import FormulaError, X, constant_values, parse, to_formula
from evoact.interrupts import held
from evoact.progress import CountProgress
from evoact.racing import race_seed
from evoact.records import Candidate, ConfirmationTraining, Outcome, Status, TaskScore
from evoact.run import RunReader
from evoact.run_files import CONFIRM, RunStoreError
from evoact.store import RunStore, no_fitness
from evoact.summaries import Confirmation
from evoact.tasks import (
    GROUPS,
    DatasetTask,
    Task,
    UserTask,
    canonical_task_name,
    get_task,
    group_tasks,
    require_trusted,
    task_family,
    task_group,
)
from evoact.tasks.user import EPOCHS as USER_EPOCHS
from evoact.tasks.user import is_user_task
from evoact.terminal import measure
from evoact.training import TrainConfig
from evoact.workers import WorkerPool

#: The references every confirmation trains (the issue's five), whatever baselines the search used.
CONFIRM_BASELINES = ("relu", "gelu", "silu", "mish", "tanh")
#: Per task family (``tasks.FAMILIES``): the baselines confirm trains, what the ratios compare with, and the
#: activations of the plain-FFN baselines. On GLU tasks the functions are gates: ReGLU, GEGLU, SwiGLU, a sine gate,
#: expanded-range SiLU, and the plain FFN at equal parameters with ReLU and with GELU; ratios against GEGLU and SwiGLU.
FAMILY_BASELINES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "pointwise": (CONFIRM_BASELINES, RATIO_REFERENCES, ()),
    "glu": (GLU_BASELINES, ("gelu", "silu"), PLAIN_FFN_BASELINES),
}
#: The groups ``evoact confirm`` trains on unless told: the run's own tasks and the validation group. The test group
#: only reports results, so it is asked for by name (``--group test``).
DEFAULT_GROUPS = ("search", "validation")
#: Confirmation seeds start here: far from the small seeds searches use.
FRESH_SEED_BASE = 10_000


def fresh_seeds(count: int, search_seed: int, race_seeds: int = 1) -> list[int]:
    """``count`` training seeds the search did not use: neither its own nor those racing trained on."""
    used = {race_seed(search_seed, k) for k in range(max(race_seeds, 1))}
    return [s for s in range(FRESH_SEED_BASE, FRESH_SEED_BASE + count + len(used)) if s not in used][:count]


def default_tasks(run_tasks: tuple[str, ...] | list[str], groups: tuple[str, ...] = DEFAULT_GROUPS) -> list[str]:
    """What confirm trains on: the run's own tasks (the ``search`` group) if asked, then the tasks of the other groups
    asked for that the run did not use."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        raise ValueError(f"unknown task group {', '.join(map(repr, unknown)) or '(none)'}; groups: {', '.join(GROUPS)}")
    out = list(run_tasks) if "search" in groups else []
    family = task_family(run_tasks)
    for group in groups:
        if group != "search":
            out += [t for t in group_tasks(group, family) if t not in run_tasks and t not in out]
    return out


def group_of(task: str, run_tasks: tuple[str, ...] | list[str]) -> str | None:
    """A confirmed task's group: ``search`` for the run's own tasks, else the built-in task's group in the run's family
    (None: other, a user's task or one of another family)."""
    if task in run_tasks:
        return "search"
    return task_group(task) if task_family((task,)) == task_family(run_tasks) else None


def _say(console: Console | None, note: str) -> None:
    """A note on standard error (or on ``console``) before the trainings start."""
    (console or Console(stderr=True)).print(f"evoact: {note}", highlight=False, markup=False, soft_wrap=True)


def confirm_run(
    run_dir: Path,
    top: int = CONFIRM_TOP,
    seeds: int = CONFIRM_SEEDS,
    tasks: list[str] | None = None,
    epochs: int | None = None,
    workers: int | None = None,
    console: Console | None = None,
    trust_user_tasks: bool = False,
    address: str | None = None,
    data_dir: str | None = None,
    groups: tuple[str, ...] | None = None,
    also: list[str] | None = None,
    baselines_from: Path | None = None,
) -> Confirmation:
    """Train the top ``top`` candidates and the baselines (the task family's, ``FAMILY_BASELINES``, and the run's own)
    with ``seeds`` fresh seeds on each task; store and return the summary.

    Tasks default to the run's own and the validation group's (``default_tasks``); ``groups`` chooses other groups
    (``test`` only reports). The summary labels each task's group and gives each group's ratios against the best of
    the family's references (GELU, SiLU and Mish; GEGLU and SwiGLU on GLU tasks). ``also``: formulas of the caller's
    to confirm beside the run's top.
    Each task trains as long as in the run (its own epochs at the run's budget), or ``epochs`` on every task.
    Tasks named on the command line are the caller's; user tasks that come from the run's config are run only
    with ``trust_user_tasks`` (a run directory from elsewhere must not run code by being confirmed).
    Trainings that timed out or lost their worker are not stored, so running confirm again retries them.
    The run's stored Ray address and data directory are not used unless given again as ``address`` and ``data_dir``.
    ``baselines_from``: another run confirmed under the same training protocol, whose baseline trainings (same
    formula, task, seed and length) are copied instead of trained again (``shared_baselines``).
    """
    BOUNDS["confirm_top"].check("--top", top)
    BOUNDS["confirm_seeds"].check("--seeds", seeds)
    for name, value in (("epochs", epochs), ("workers", workers)):
        if value is not None:
            check(name, value)
    extra = [_canonical(f) for f in also or []]  # what is wrong with the arguments, before the run is opened to write
    if groups is not None:
        default_tasks((), groups)
    store = RunStore.reopen(run_dir, CONFIRM)
    pool = progress = None
    failing = False
    try:
        run = RunReader(store)
        config, notes = restated(run.config, address, data_dir)
        scale = config.training.epoch_scale
        if not epochs and config.training.epochs is not None:
            notes.append(
                f"every task trains {config.training.epochs} epoch(s), as this run's did (--epochs), whatever its own"
                " length (evoact tasks lists them; --epochs N chooses another)"
            )
        params = run.space.learnable
        if not tasks:
            require_trusted(config.tasks, trust_user_tasks, "confirm")
        tasks = (
            [canonical_task_name(t) for t in tasks] if tasks else default_tasks(config.tasks, groups or DEFAULT_GROUPS)
        )
        train = replace(config.training, epochs=epochs) if epochs else config.training
        loaded = {name: get_task(name, config.data_dir) for name in tasks}
        searched = store.meta().get("task_code") or {}  # the user tasks' code the search trained with
        if edited := [
            n for n, t in loaded.items() if isinstance(t, UserTask) and n in searched and searched[n] not in t.codes()
        ]:
            notes.append(
                f"{', '.join(edited)} changed since the search trained with it (a task's code is its whole file and"
                " the helpers it imports: an edit to another function of the file counts): this confirmation"
                " measures the new code, beside a ranking the earlier code made"
            )
        length = {name: _epochs(task, train) for name, task in loaded.items()}
        if not epochs and config.training.epochs is None and scale < 1:
            own = sorted({length[n] for n, t in loaded.items() if isinstance(t, UserTask)})
            notes.append(
                f"each task trains {scale:g} of its epochs, as this {config.budget} run did"
                + (f" (a task of your own {' or '.join(f'{e:g}' for e in own)} of {USER_EPOCHS})" if own else "")
                + ": too short for their differences to say much of longer trainings (--epochs N trains every task"
                " N epochs)",
            )
        family = task_family(config.tasks)
        if not tasks:
            raise ValueError(f"no tasks to confirm on: {family} tasks have no {listed(list(groups or ()))} group")
        baselines, references, plain = FAMILY_BASELINES[family]
        baselines = tuple(dict.fromkeys((*baselines, *config.baselines)))  # and the run's own (--baseline pau)
        best, passed = run.distinct(top)
        if passed:
            named = ", ".join(f"#{row.id} (a variant of #{head})" for row, head in passed[:5])
            more = f" and {len(passed) - 5} more" if len(passed) > 5 else ""
            notes.append(
                f"passed over {named}{more}: each only rescales or shifts a better-ranked candidate (evoact show"
                " nests it there); --also FORMULA confirms one anyway"
            )
        entries = _entries(store, best, extra, baselines, params, plain)
        seed_list = fresh_seeds(seeds, config.seed, config.race_seeds)
        if replaced := _fewer_seeds(store.meta().get("confirmation"), tasks, seeds, length):
            notes.append(replaced)
        if baselines_from is not None:
            copied = shared_baselines(store, baselines_from, run.config, entries, tasks, seed_list, length)
            notes.append(f"{copied} baseline trainings copied from {baselines_from}")
        for note in notes:  # once the arguments hold: a refusal is one line
            _say(console, note)
        for loaded_task in loaded.values():
            loaded_task.prepare()
        # one training per key: a top candidate with a baseline's formula shares its trainings (the baseline's name);
        # seed by seed: the pace (ETA) is every task's once the first seed is done, and a stopped confirm holds
        # every task's first seeds in whole pairs
        keyed = {
            (entry["formula"], stored_task(entry, task), seed): (entry, task, seed)
            for seed in seed_list
            for task in tasks
            for entry in trained_on(entries, task)
        }
        revisions = {name: task.revision() for name, task in loaded.items()}  # the tasks' code, as the cache keys it
        known = {name: task.revisions() for name, task in loaded.items()}  # what stored trainings of that code carry
        shown = {(e["formula"], e["plain"]): e["name"] for e in reversed(entries)}  # "#6 = mish" says more than "mish"

        def stale(done: ConfirmationTraining, task: str) -> bool:
            """Done by other code of the task (a user's file edited since, another evoact; a training stored before
            revisions were recorded is kept), or a user task's failure (what it needed may have been fixed since)."""
            if done.revision is not None and done.revision not in known[task]:
                return True
            return done.status != Status.OK and is_user_task(task)

        stored = {k: store.confirmation(k[0], k[1], k[2], length[job[1]]) for k, job in keyed.items()}
        again = {k for k, done in stored.items() if done is not None and stale(done, keyed[k][1])}
        todo = [job for k, job in keyed.items() if stored[k] is None or k in again]
        if reused := len(keyed) - len(todo):
            _say(console, f"{reused} of {len(keyed)} trainings already stored (an earlier confirm): {len(todo)} to go")
        if again:
            _say(
                console,
                f"{len(again)} stored trainings train again (made by other code of their task, or a user task's"
                " failures)",
            )
        if todo:
            progress = CountProgress(len(todo), "confirming", console, workers or config.workers)
            timeout = training_timeout(config, loaded, train)
            pool = WorkerPool(workers or config.workers, config.address, timeout, config.gpus_per_job)
            jobs = [
                make_job(
                    e["formula"],
                    (task,),
                    replace(train, seed=seed),
                    e["params"],
                    data_dir=config.data_dir,
                    plain=e["plain"],
                )
                for e, task, seed in todo
            ]
            for index, sent in pool.imap(jobs):
                entry, task, seed = todo[index]
                key = (entry["formula"], stored_task(entry, task), seed)
                metric = loaded[task].metric
                measured = "test_acc" if metric == "accuracy" else "test_loss"
                outcome = Outcome.from_plain(sent)
                score = outcome.scores.get(task, TaskScore())
                missing = outcome.status == Status.OK and score.measure(metric) is None
                if missing:
                    outcome = Outcome(Status.FAILED, error=f"task {task} reported no {measured}, which confirm needs")
                if not (outcome.transient or outcome.task_fault):  # neither is the function's outcome
                    training = ConfirmationTraining(
                        entry["formula"],
                        entry["name"],
                        key[1],
                        seed,
                        length[task],
                        outcome.status,
                        val_acc=outcome.val_acc,
                        test_acc=outcome.test_acc,
                        test_loss=score.test_loss,
                        learned=outcome.learned,
                        error=outcome.error,
                        revision=revisions[task],
                    )
                    store.add_confirmation(training)
                    stored[key] = store.confirmation(*key, length[task])  # as it now stands in the run
                said = (
                    f"{measured.replace('_', ' ')} {measure(score.measure(metric))}"
                    if outcome.status == Status.OK
                    else f"{outcome.status}: {outcome.error}"
                )
                progress.update(
                    f"{shown[entry['formula'], entry['plain']]} on {task} seed {seed}: {said}"
                    + (" (not stored: run confirm again to retry)" if outcome.transient else "")
                )
                if outcome.task_fault:  # the task itself is broken: every other training there fails alike
                    raise ValueError(f"{outcome.error}; the trainings done so far are kept")
                if missing and is_user_task(task):  # every other training of the task would miss it too: stop now
                    raise ValueError(
                        f"task {task} returned no {measured}, which confirm compares: add it to"
                        " what the function returns (README, 'Your own task'); the trainings done so far are kept"
                    )
        if all(r is None or r.status != Status.OK for r in stored.values()):
            first = next((r for r in stored.values() if r is not None), None)
            raise ValueError(
                "every confirmation training failed"
                + (f" ({first.name} on {first.task}: {first.error})" if first else "")
                + ("; the run's earlier confirmation is kept" if store.meta().get("confirmation") else "")
            )
        summary = summarise(
            store,
            entries,
            tasks,
            seed_list,
            length,
            {t: loaded[t].metric for t in tasks},
            [t for t in tasks if t not in config.tasks],
            epochs,
            {t: group_of(t, config.tasks) for t in tasks},
            references,
        )
        store.set_meta("confirmation", _with_earlier(summary, store.meta().get("confirmation")).to_json())
        return summary
    except BaseException:
        failing = True
        raise
    finally:
        with held(failing), contextlib.ExitStack() as closing:  # a signal waits for Ray's shutdown and the store's
            closing.callback(store.close)  # each closes even where one before it raised; the store last
            if pool is not None:
                closing.callback(pool.close)
            if progress is not None:
                closing.callback(progress.close)


def shared_baselines(
    store: RunStore,
    other: Path,
    config: SearchConfig,
    entries: list[dict[str, Any]],
    tasks: list[str],
    seeds: list[int],
    length: dict[str, float],
) -> int:
    """Copy into ``store`` the baseline trainings that the run at ``other`` already made with the same formula, task,
    seed and length, and return how many; a one-line error unless both runs were made by the same evoact version
    under the same training protocol (``config``: this run's stored config).

    A baseline's confirmation depends only on those (and on the task's code, which the version fixes for built-in
    tasks; a user task's file can change under the same name, so user tasks are never shared), so several runs of one
    budget need not each train the five baselines again. The source is recorded in the run (``baselines_from``).
    """
    user = [t for t in tasks if is_user_task(t)]
    if user:
        raise ValueError(f"--baselines-from: user tasks ({', '.join(user)}) are never shared; their code may change")
    try:
        source = RunStore.open(other)
    except RunStoreError as exc:
        raise ValueError(f"--baselines-from: {exc}") from None
    try:
        theirs = RunReader(source).config
        made = [_made_by(s.config().get("versions")) for s in (source, store)]
        if made[0] != made[1] or not made[0]:
            raise ValueError(
                f"--baselines-from {other}: that run was made by {listed(made[0] or ['an unknown version'])}, this one"
                f" by {listed(made[1] or ['an unknown version'])}; baselines are shared only between runs of the same"
                " versions (they decide the trainings and the tasks' data)"
            )
        for name, mine, other_value in (
            ("training protocol", replace(config.training, seed=0), replace(theirs.training, seed=0)),
            ("data directory", config.data_dir, theirs.data_dir),
        ):
            if mine != other_value:
                raise ValueError(
                    f"--baselines-from {other}: that run has another {name} ({other_value} against this run's {mine});"
                    " its baselines cannot be reused"
                )
        copied = 0
        for task in tasks:
            for entry in (e for e in trained_on(entries, task) if e["baseline"]):
                for seed in seeds:
                    key = stored_task(entry, task)
                    if store.confirmation(entry["formula"], key, seed, length[task]) is not None:
                        continue
                    row = source.confirmation(entry["formula"], key, seed, length[task])
                    if row is None or row.status != Status.OK or (row.test_acc, row.test_loss) == (None, None):
                        continue
                    store.add_confirmation(replace(row, name=entry["name"]))
                    copied += 1
        if copied:
            store.set_meta("baselines_from", str(Path(other).resolve()))
        return copied
    finally:
        source.close()


def _made_by(versions: Any) -> list[str]:
    """A run's recorded versions as text (``evoact 0.1.0``); a run made before SymPy was recorded has none of it."""
    if not isinstance(versions, dict) or versions.get("evoact") is None:
        return []
    return [f"{name} {versions[name]}" for name in ("evoact", "python", "torch", "sympy") if name in versions]


def _fewer_seeds(earlier: object, tasks: list[str], seeds: int, length: Mapping[str, float]) -> str | None:
    """A note where this confirmation, on fewer seeds, takes the place of a stored one's result on some task: what
    ``show``, the report and ``runs`` say of it would rest on less evidence, with no sign of it there."""
    if earlier is None:
        return None
    try:
        stored = Confirmation.from_json(earlier)
    except ValueError:  # unreadable: replaced whole, as ``_with_earlier`` does
        return None
    had = {t: len(r.seeds if r.seeds is not None else stored.seeds) for t, r in stored.tasks.items()}
    fewer = [t for t in tasks if had.get(t, 0) > seeds]
    if not fewer:
        return None
    most = max(had[t] for t in fewer)
    then = {stored.tasks[t].epochs for t in fewer}  # the stored trainings' length: this one's, or one --epochs
    same = then == {length[t] for t in fewer}
    forced = len(then) == 1 and None not in then
    again = f"--seeds {most}" + ("" if same or not forced else f" --epochs {next(iter(then)):g}")
    return (
        f"the stored confirmation of {listed(fewer)} is over {most} seeds: this one's {seeds} take its place in show,"
        f" the report and runs (its trainings stay stored: {again} says it again"
        + (", training nothing new)" if same or forced else ")")
    )


def _with_earlier(summary: Confirmation, earlier: object) -> Confirmation:
    """What the run stores: this confirmation, and the earlier one's results on tasks this one did not train (an
    earlier summary this evoact cannot read is replaced: its trainings stay in the run)."""
    if earlier is None:
        return summary
    try:
        return summary.after(Confirmation.from_json(earlier))
    except ValueError:
        return summary


def training_timeout(config: SearchConfig, tasks: Mapping[str, Task], train: TrainConfig) -> float:
    """A confirmation training's time limit: the run's, stretched by the most that ``train`` lengthens one of
    ``tasks`` against the run's own training of it (``--epochs`` on a run that trained each task a share of its own)."""
    stretch = (_epochs(task, train) / _epochs(task, config.training) for task in tasks.values())
    return config.timeout * max([1.0, *stretch])


def _epochs(task: Task, train: TrainConfig) -> float:
    """How long ``task`` trains under ``train``: what keys its stored trainings."""
    if isinstance(task, DatasetTask):
        return task.schedule(train).epochs
    return train.epochs if train.epochs is not None else max(1, round(USER_EPOCHS * train.epoch_scale))


def _entries(
    store: RunStore,
    best: list[Candidate],
    also: list[str],
    baselines: tuple[str, ...] = CONFIRM_BASELINES,
    params: dict[str, float] | None = None,
    plain: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The functions to confirm, each with where its constants start (``params``, a baseline's own): the hall of
    fame's ``best`` (``RunReader.distinct``), the caller's formulas, then the ``baselines``, then the ``plain``
    baselines (each activation in the plain FFN at equal parameters; GLU tasks only).

    A candidate or formula equal to a baseline is named so (``#7 = mish``, ``given 1 = gelu``) and shares its
    trainings, which are keyed by formula.
    """
    params = params or {}
    if not best:
        raise ValueError(f"{store.path}: {no_fitness(store)}; nothing to confirm")
    named = {baseline_formula(name): name for name in baselines}  # canonical formulas, as the store's are
    mine = [(f"#{r.id}", r.formula) for r in best] + [(f"--also {f}", _canonical(f)) for f in also]
    for who, formula in mine:
        if (name := named.get(formula)) is None:
            continue
        expr = parse(formula)
        if constant_values(expr, params) != constant_values(expr, baseline_params(name, params)):
            raise ValueError(
                f"{who} is the baseline {name}'s formula with other starting constants; confirmations are kept by"
                " formula, so the two cannot be confirmed together"
            )
    return (
        [
            {
                "name": f"#{r.id}" + (f" = {named[r.formula]}" if r.formula in named else ""),
                "formula": r.formula,
                "baseline": False,
                "params": params,
                "plain": False,
            }
            for r in best
        ]
        + [
            {
                "name": f"given {i}" + (f" = {named[formula]}" if formula in named else ""),
                "formula": formula,
                "baseline": False,
                "params": params,
                "plain": False,
            }
            for i, formula in enumerate(dict.fromkeys(_canonical(f) for f in also), 1)
        ]
        + [
            {
                "name": name,
                "formula": formula,
                "baseline": True,
                "params": baseline_params(name, params),
                "plain": False,
            }
            for formula, name in named.items()
        ]
        + [
            {
                "name": PLAIN_PREFIX + name,
                "formula": baseline_formula(name),
                "baseline": True,
                "params": baseline_params(name, params),
                "plain": True,
            }
            for name in plain
        ]
    )


def _canonical(text: str) -> str:
    """A formula of the caller's in canonical form (read by the safe parser; a one-line error if it is none)."""
    try:
        expr = parse(text)
    except FormulaError as exc:
        raise ValueError(f"--also {text!r}: {exc}") from None
    if X not in expr.free_symbols:  # a typo (``foo``) parses as a learnable constant: a function of nothing
        raise ValueError(f"--also {text!r}: no x in it (a constant function); an activation is a formula in x")
    return to_formula(expr)
