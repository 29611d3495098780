"""The one table of search options: each ``evoact search`` option's flag, setting, kind, help and default.

The command line builds its ``search`` options from ``SEARCH_OPTIONS`` and turns what was given into settings with
``settings_from``; the command a run records for running it again is written back from the same table
(``reproduce_command``), so every option round-trips.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evoact.baselines import BASELINES, DEFAULT_BASELINES, GLU_BASELINES
from evoact.compiler import MODES as COMPILE_MODES
from evoact.config import (
    BOUNDS,
    BUDGETS,
    DEFAULT_AGGREGATE,
    DEFAULT_BUDGET,
    DEFAULT_SCORE,
    MODES,
    SELECTIONS,
    SearchConfig,
    default_baselines,
    make_config,
    unused_settings,
)
from evoact.evolution import ALGORITHMS, REPLACEMENTS
from evoact.run_files import RUNS_ROOT
from evoact.scoring import AGGREGATES, SCORES
from evoact.screening import ScreeningConfig
from evoact.stopping import StopRules, parse_duration
from evoact.surrogate import EXPLORE, MIN_TRAINED
from evoact.tasks import SUITES, TEST_SUITES

_SCREENING = ScreeningConfig()  # the cascade's defaults, as the help text states them


def _budget_race(budget: str) -> str:
    """A budget's racing, as ``--race`` writes it."""
    preset = BUDGETS[budget]
    return f"{preset['race_top']},{preset['race_seeds']}" if preset["race_top"] else "0"


#: Option kinds besides a type or a tuple of choices: an on/off flag, a repeatable text, comma-separated numbers,
#: and racing's ``K,N`` (or 0).
FLAG, MULTIPLE, NUMBERS, RACE = "flag", "multiple", "numbers", "race"


@dataclass(frozen=True)
class Option:
    """One ``evoact search`` option.

    ``setting``: the config setting it sets (``make_config``'s name); ``kind``: ``int``, ``float``, ``str``, a tuple of
    choices, ``FLAG``, ``MULTIPLE``, ``NUMBERS`` or ``RACE`` (``K,N``); ``default``: the command line's own default
    (None: the budget preset's); ``flag_value``: what a ``FLAG`` sets its setting to.
    """

    flag: str
    setting: str
    kind: Any
    help: str
    default: Any = None
    flag_value: Any = True

    @property
    def name(self) -> str:
        """The keyword the command receives the option's value as."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def in_python(self) -> str:
        """How ``evoact.search`` takes it: ``race_top=K, race_seeds=N``, a flag's ``setting=value``, else
        ``setting=...``."""
        if self.kind == RACE:
            return "race_top=K, race_seeds=N"
        return f"{self.setting}={self.flag_value!r}" if self.kind == FLAG else f"{self.setting}=..."


SEARCH_OPTIONS: tuple[Option, ...] = (
    Option("--budget", "budget", tuple(BUDGETS), "Preset size of the search.", default=DEFAULT_BUDGET),
    Option("--seed", "seed", int, "Seed of evolution and training; fixes the run.", default=0),
    Option("--space", "space", str, "Shipped search space name or path to a .toml file.", default="default"),
    Option(
        "--suite",
        "tasks",
        tuple(name for name in SUITES if name not in TEST_SUITES),  # a test group only reports: never searched on
        "A named group of tasks to train candidates on (default: general; evoact tasks lists them).",
    ),
    Option(
        "--task",
        "tasks",
        MULTIPLE,
        "Task to train candidates on instead of a suite; repeat for several (cheapest first). Built-in: evoact tasks;"
        " your own: MODULE:FUNCTION or FILE.py:FUNCTION.",
    ),
    Option(
        "--baseline",
        "baselines",
        MULTIPLE,
        "A reference activation to train with the candidates; repeat for several (default: "
        f"{', '.join(DEFAULT_BASELINES)}; on GLU tasks {', '.join(GLU_BASELINES)}: ReGLU, GEGLU, SwiGLU, a sine gate"
        " and expanded-range SiLU)."
        f" Known: {', '.join(BASELINES)}.",
    ),
    Option(
        "--weights",
        "task_weights",
        NUMBERS,
        "Task weights of the mean aggregate, comma-separated, one per task (default: equal).",
    ),
    Option(
        "--selection",
        "selection",
        SELECTIONS,
        "mean: one fitness aggregated from the tasks' relative scores (default); pareto: NSGA-II over the tasks'"
        " scores.",
    ),
    Option(
        "--score",
        "score",
        SCORES,
        f"What classification tasks are compared on: accuracy or loss (default {DEFAULT_SCORE}; regression and"
        " language models always by loss).",
    ),
    Option(
        "--aggregate",
        "aggregate",
        AGGREGATES,
        "How the tasks' relative scores combine: mean, worst (the worst task), q25 (the lower quartile) (default"
        f" {DEFAULT_AGGREGATE}).",
    ),
    Option("--complexity", "complexity_objective", FLAG, "With --selection pareto, also minimise the formula's size."),
    Option(
        "--algorithm",
        "algorithm",
        tuple(ALGORITHMS),
        "evolution (default); random: random search through the same space, cascade and evaluator, as a baseline;"
        " enumeration: every tree within the space's initial depths once, in an order the seed shuffles (a"
        " benchmark table's build; the run ends when the trees do).",
    ),
    Option(
        "--shard",
        "shard",
        str,
        "With --algorithm enumeration: K/N enumerates only the K-th of N parts of the space (split by formula), so"
        " that several machines or sessions build one benchmark table between them (default 1/1, all of it).",
    ),
    Option(
        "--mode",
        "mode",
        MODES,
        "generational: whole generations, a seed fixes the run; async: steady state, every worker always busy; auto"
        " (default): async when --workers exceeds the children per generation.",
    ),
    Option(
        "--data-dir",
        "data_dir",
        str,
        "Where tasks that read files find them (cifar10-resnet20, cifar10-fast: DIR/cifar-10-batches-py).",
    ),
    Option(
        "--gpus-per-job",
        "gpus_per_job",
        float,
        "GPUs Ray reserves per evaluation, e.g. 0.25 to share one GPU between 4 workers (default 0: CPU tasks;"
        " cifar10-resnet20 wants a GPU).",
    ),
    Option("--population", "population", int, "Population size (overrides the budget)."),
    Option("--offspring", "offspring", int, "Children per generation (overrides the budget)."),
    Option("--generations", "generations", int, "Generations, the initial one included (overrides the budget)."),
    Option(
        "--epochs", "epochs", int, "Training epochs on every task (default: each task's own, scaled by the budget)."
    ),
    Option(
        "--epoch-scale",
        "epoch_scale",
        float,
        "Multiply each task's own training length by this, at least 0.01 (overrides the budget's; a fraction of an"
        " epoch is allowed).",
    ),
    Option("--replacement", "replacement", REPLACEMENTS, "aging: regularized evolution; truncation: keep the best."),
    Option("--workers", "workers", int, "Parallel Ray workers (default: number of CPU cores)."),
    Option(
        "--timeout",
        "timeout",
        float,
        "Seconds after which a candidate's evaluation is cancelled, counted from its start on a worker (default"
        f" {SearchConfig.timeout:g}).",
    ),
    Option(
        "--address",
        "address",
        str,
        "Ray cluster address HOST:PORT (default: $RAY_ADDRESS, else a local Ray on 127.0.0.1).",
    ),
    Option(
        "--activation-mode",
        "activation_mode",
        ("auto", *COMPILE_MODES),
        "How candidates are compiled for training (default auto: fused only for long trainings on the CPU;"
        " jit: one CUDA kernel each way per formula, not yet measured on a GPU).",
    ),
    Option(
        "--no-screening",
        "active",
        FLAG,
        "Disable the rejection cascade (static, cache, stability, quality).",
        flag_value=False,
    ),
    Option(
        "--no-cache",
        "use_cache",
        FLAG,
        "Do not reuse outcomes from the runs folder's shared fitness cache (a functional duplicate within one"
        " generation, or of a baseline, still takes its original's outcome; a later one trains again).",
        flag_value=False,
    ),
    Option(
        "--evaluations-per-hash",
        "evaluations_per_hash",
        int,
        f"Trainings of a function before its cached mean is reused (default {_SCREENING.evaluations_per_hash}).",
    ),
    Option(
        "--stability-depth",
        "stability_depth",
        int,
        f"Depth of the random network of the stability check (default {_SCREENING.stability_depth}).",
    ),
    Option(
        "--race",
        "race_top",
        RACE,
        "Racing the elite: K,N trains every candidate that enters the top K on N seeds in all, and ranks by the mean"
        f" (default: the budget's: {', '.join(f'{b} {_budget_race(b)}' for b in BUDGETS)}); 0 turns it off.",
    ),
    Option(
        "--guess",
        "guesses",
        MULTIPLE,
        "A function of your own for the first generation (repeatable): a formula the space can write, e.g."
        " 'x*sigmoid(2*x)', or a tree of its vocabulary as its seeds, e.g. 'mul(x, tanh(softplus(x)))'.",
    ),
    Option(
        "--warm-start",
        "warm_start",
        str,
        "Another run (same space) whose hall of fame seeds the first generation (up to half the population).",
    ),
    Option(
        "--min-rank-correlation",
        "min_rank_correlation",
        float,
        "Reject units whose |rank correlation| with x on N(0,1) is below this: even functions lose the input's sign"
        f" (default {_SCREENING.min_rank_correlation:g}; 0 turns the check off).",
    ),
    Option(
        "--max-tail-reversal",
        "max_tail_reversal",
        float,
        "Reject units that turn against their own trend away from 0 (over [-10, 10]) by more than this share of their"
        f" range on N(0,1), such as (2 - x)*tanh(x) (default {_SCREENING.max_tail_reversal:g}; 0 turns it off, as"
        " --min-rank-correlation 0 does).",
    ),
    Option(
        "--surrogate",
        "surrogate",
        float,
        "Surrogate stage: of the candidates past the cache, train only those the surrogate predicts in the top FRACTION"
        f" of the functions it knows (and 1 in {round(1 / EXPLORE)} of the rest, to explore); it starts from the"
        " benchmark table when the tasks are the table's and learns from the run's own results. 0 turns it off (the"
        " default).",
    ),
    Option(
        "--surrogate-pool",
        "surrogate_pool",
        int,
        "Surrogate stage, selecting: each generation proposes N times its quota, and the quota's worth that the"
        " surrogate ranks best train (one of them an exploration pick); the rest are recorded as skipped. Needs"
        " generational mode and a surrogate that can predict (the benchmark table's tasks, or after"
        f" {MIN_TRAINED} trainings)."
        " 1 turns it off (the default). Replayed: bench/results/surrogate_selection.md.",
    ),
    Option(
        "--no-surrogate",
        "surrogate",
        FLAG,
        "No surrogate stage: every candidate past the cache trains (the default; the same as --surrogate 0).",
        flag_value=0.0,
    ),
    Option(
        "--hurdle-ratio",
        "hurdle_ratio",
        float,
        "Quality hurdle as a fraction of the worst baseline's short-training accuracy (default"
        f" {_SCREENING.hurdle_ratio:g}).",
    ),
)


#: The options of a session's stopping rules (``evoact search`` and ``evoact resume``): they end this session early and
#: are not part of the run's config, so a stopped run can be resumed with other rules or none.
STOP_OPTIONS: tuple[Option, ...] = (
    Option(
        "--max-time",
        "max_time",
        str,
        "Stop this session after DURATION (90s, 10m, 1h30m); the run can be resumed.",
    ),
    Option(
        "--target-fitness",
        "target_fitness",
        float,
        "Stop once the best evolved candidate's fitness (its raced mean where raced) reaches this.",
    ),
    Option(
        "--patience",
        "patience",
        int,
        "Stop after this many generations (in async mode, candidates proposed, rejected ones too) without a better"
        " best candidate.",
    ),
)


def stop_rules_from(values: Mapping[str, Any]) -> StopRules:
    """The stopping rules the command line was given (``STOP_OPTIONS`` by their keyword names)."""
    max_time = values.get("max_time")
    try:
        return StopRules(
            max_time=parse_duration(max_time) if max_time is not None else None,
            target_fitness=values.get("target_fitness"),
            patience=values.get("patience"),
        )
    except ValueError as exc:  # name the option as it was typed (StopRules names its field)
        message = str(exc)
        for option in STOP_OPTIONS:
            if message.startswith(f"{option.name} "):
                raise ValueError(option.flag + message[len(option.name) :]) from None
        raise


def setting_of(config: SearchConfig, setting: str) -> Any:
    """A setting's value in ``config``, wherever it lives (the search config or its evolution, training or screening
    part)."""
    for part in (config, config.evolution, config.training, config.screening):
        if setting in {f.name for f in fields(part)}:
            return getattr(part, setting)
    raise KeyError(setting)


def refuse_option_names(settings: Mapping[str, Any]) -> None:
    """A ``ValueError`` for a setting given by its command-line name where the config's differs (``race`` for
    ``race_top`` and ``race_seeds``): the Python API takes the config's names."""
    by_name = {o.name: o for o in SEARCH_OPTIONS if o.name != o.setting}
    real = {o.setting for o in SEARCH_OPTIONS}
    for key in settings:
        option = by_name.get(key)
        if option is None or key in real:
            continue
        raise ValueError(f"{key}: that is the command line's {option.flag}; in Python give {option.in_python}")


def in_python(message: str) -> str:
    """``message`` with its command-line flags named as the Python API's keywords (``--guess 'x'`` leading it becomes
    ``guesses='x'``, ``--no-screening`` within it ``active=False``), for errors that reach a Python caller; a flag
    named as the command line's stays."""
    flag, _, rest = message.partition(" ")
    # a flag as a word of its own (not inside a path such as my--seed.py), unless named as the command line's
    rest = re.sub(r"(?<![\w/.-])(?<!command line's )--[a-z][a-z0-9-]*", lambda m: _keyword(m.group(), m.group()), rest)
    key = _keyword(flag.rstrip(":,"), "", leading=True)
    if not key:
        return f"{flag} {rest}" if rest else flag
    if flag.endswith((":", ",")):
        return f"{key}{flag[-1]} {rest}"
    return f"{key}={rest}" if re.match(r"('[^']*'|\S+):", rest) else f"{key} {rest}"  # a value, then what is wrong


def _keyword(flag: str, unknown: str, leading: bool = False) -> str:
    """How the Python API names command-line ``flag``: its setting (within a message, ``active=False`` for a flag
    that sets one value), ``unknown`` if it is no search or stop option."""
    option = next((o for o in (*SEARCH_OPTIONS, *STOP_OPTIONS) if o.flag == flag), None)
    if option is None:  # a setting Python alone gives (--fingerprint-bits: fingerprint_bits), or no setting
        name = flag.removeprefix("--").replace("-", "_")
        return name if flag.startswith("--") and name in _python_only() else unknown
    if option in STOP_OPTIONS:
        return option.name
    return f"{option.setting}={option.flag_value!r}" if option.kind == FLAG and not leading else option.setting


def option_values(config: SearchConfig) -> dict[str, str]:
    """Each search option's value in ``config`` as text, by flag, one flag per setting (``compare`` shows the ones
    that differ between runs)."""
    out: dict[str, str] = {}
    done: set[str] = set()
    for option in SEARCH_OPTIONS:
        if option.setting in done:
            continue
        done.add(option.setting)
        value = setting_of(config, option.setting)
        if option.kind == RACE:
            text = "off" if not config.race_top else f"{config.race_top},{config.race_seeds}"
        elif option.kind == FLAG:
            text = "yes" if value == option.flag_value else "no"
        elif isinstance(value, (tuple, list)):
            text = ", ".join(map(str, value)) or "-"
        else:
            text = "-" if value is None else str(value)
        out[option.flag] = text
    return out


def settings_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """The settings for ``make_config`` from the values the command received, by option name (None: not given)."""
    suite, tasks = values.get("suite"), values.get("task") or ()
    if suite and tasks:
        raise ValueError("give --suite or --task, not both")
    settings: dict[str, Any] = {"tasks": tuple(tasks) or (SUITES[suite] if suite else None)}
    for option in SEARCH_OPTIONS:
        value = values.get(option.name)
        if option.setting == "tasks":
            continue
        if option.kind == FLAG:
            if value and settings.get(option.setting) not in (None, option.flag_value):
                raise ValueError(f"{option.flag} contradicts another option that sets {option.setting}")
            if value or option.setting not in settings:
                settings[option.setting] = option.flag_value if value else None
        elif option.kind == NUMBERS:
            settings[option.setting] = _numbers(option.flag, value)
        elif option.kind == RACE:
            settings["race_top"], settings["race_seeds"] = top, seeds = _race(option.flag, value)
            for name, number in (("race_top", top), ("race_seeds", seeds)):
                if number is not None:
                    BOUNDS[name].check(f"{option.flag} {value}: {'K' if name == 'race_top' else 'N'}", number)
        elif option.kind == MULTIPLE:
            settings[option.setting] = tuple(value or ()) or None
        else:
            if value is not None and option.kind in (int, float) and option.setting in BOUNDS:
                BOUNDS[option.setting].check(option.flag, value)  # the error names the option as it was typed
            settings[option.setting] = value
    return settings


def _numbers(flag: str, text: str | None) -> tuple[float, ...] | None:
    """Comma-separated numbers (``--weights 1,2``), or a one-line error naming the option."""
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected comma-separated numbers") from None


def _race(flag: str, text: str | None) -> tuple[int | None, int | None]:
    """``K,N`` as (K, N); ``0`` as no racing; a one-line error naming the option otherwise."""
    if text is None:
        return None, None
    parts = text.split(",")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 2 and numbers[0] == 0 and numbers[1] >= 0:
        numbers = [0]  # the top 0 races nothing: no racing, stored as --race 0 is
    if numbers == [0]:
        return 0, None
    if len(numbers) != 2:
        raise ValueError(f"{flag} {text!r}: expected K,N (race the top K on N seeds in all) or 0 (no racing)")
    if numbers[0] > 0 and numbers[1] == 1:
        raise ValueError(
            f"{flag} {text}: N must be at least 2 to race (every candidate trains on 1 seed); 0 turns it off"
        )
    return numbers[0], numbers[1]


def _text(value: Any) -> str:
    """A value as the command line reads it back exactly (floats in their shortest exact form)."""
    if isinstance(value, float):
        return repr(value).removesuffix(".0")
    return shlex.quote(str(value))


def reproduce_command(config: SearchConfig, run_dir: Path | None = None) -> str:
    """The ``evoact search`` command that runs ``config`` again: every option whose value differs from the budget's
    default, read from ``SEARCH_OPTIONS`` (and ``--name`` for a new directory beside ``run_dir``)."""
    defaults = make_config(config.budget, workers=config.workers)
    unused = _unused(config, defaults)  # a run stored before such settings were refused: left out, as it left them
    parts = ["evoact search"]
    for option in SEARCH_OPTIONS:
        if option.setting == "tasks" or option.setting in unused:
            continue
        value = setting_of(config, option.setting)
        if option.kind == FLAG:
            if value == option.flag_value and value != setting_of(defaults, option.setting):
                parts.append(option.flag)
        elif option.kind == NUMBERS:
            if value:
                parts.append(f"{option.flag} " + ",".join(_text(float(v)) for v in value))
        elif option.kind == RACE:
            race = (config.race_top, config.race_seeds)
            if race != (defaults.race_top, defaults.race_seeds):
                parts.append(f"{option.flag} {race[0]},{race[1]}")
        elif option.setting == "baselines":
            if value != default_baselines(config.tasks):
                parts += [f"{option.flag} {_text(v)}" for v in value]
        elif option.kind == MULTIPLE:
            parts += [f"{option.flag} {_text(v)}" for v in value]
        elif option.setting in ("budget", "seed", "workers") or value != setting_of(defaults, option.setting):
            if value is not None:
                parts.append(f"{option.flag} {_text(value)}")
        if option.flag == "--space" and config.tasks != defaults.tasks:
            suite = next((name for name, tasks in SUITES.items() if tasks == config.tasks), None)
            parts += [f"--suite {suite}"] if suite else [f"--task {shlex.quote(t)}" for t in config.tasks]
    if run_dir is not None:
        parts.append(f"--name {shlex.quote(run_dir.name)}-again")
        if run_dir.parent != RUNS_ROOT:
            parts.append(f"--runs-dir {shlex.quote(str(run_dir.parent))}")
    unsaid = [
        f"{name}={_text(value)}"
        for name, value in _settings(config).items()
        if value != _settings(defaults)[name] and name not in unused
    ]
    if unsaid:  # set from Python, with no option to say it: named, so that nobody re-runs something else unawares
        parts.append(f"  # and from Python: {', '.join(unsaid)}")
    return " ".join(parts)


def _unused(config: SearchConfig, defaults: SearchConfig) -> set[str]:
    """The settings of a stored ``config`` that its others leave unused (``unused_settings``), which a new search
    would refuse: its command leaves them out, as the run itself did."""
    chosen = {"active": config.screening.active, "selection": config.selection, "algorithm": config.algorithm}
    parts = (config, config.evolution, config.training, config.screening)
    names = {f.name for part in parts for f in fields(part)} - {"evolution", "training", "screening"}
    given = {name for name in names if setting_of(config, name) != setting_of(defaults, name)}
    out: set[str] = set()
    while found := unused_settings(chosen, given - out):
        out |= found[0]
    return out


@functools.cache
def _python_only() -> frozenset[str]:
    """The settings Python alone gives (no option sets them), which a message may name as flags all the same."""
    return frozenset(_settings(make_config(DEFAULT_BUDGET, workers=1)))


def _settings(config: SearchConfig) -> dict[str, Any]:
    """The settings of ``config`` that no option sets (the seed of its training part is the search's)."""
    said = {o.setting for o in SEARCH_OPTIONS} | {"race_seeds", "seed", "warm_trees"}  # warm_trees: --warm-start's
    out: dict[str, Any] = {}
    for part in (config, config.evolution, config.training, config.screening):
        for f in fields(part):
            if f.name not in said and f.name not in ("evolution", "training", "screening"):
                out[f.name] = getattr(part, f.name)
    return out
