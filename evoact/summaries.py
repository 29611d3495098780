"""Typed read results of a run: the cascade summary, the verdict, the run overview, the confirmation and the summary
that ``evoact show`` prints, each frozen, with ``to_json`` giving the ``--json`` form (keys as they always were)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from evoact.records import METRICS, Candidate
from evoact.terminal import measure


def _json(value: Any) -> Any:
    if isinstance(value, _Summary):
        return value.to_json()
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    return value


class _Summary:
    """Shared by the read results: the JSON form, field by field, in declaration order."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data: nested results as dicts, tuples as lists."""
        return {f.name: _json(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class CascadeSummary(_Summary):
    """What the rejection cascade did: proposals, rejections per stage, cache hits, trainings, seconds saved."""

    proposed: int
    rejected_static: int
    static_reasons: Mapping[str, int]
    cache_hits: int
    rejected_stability: int
    rejected_quality: int
    rejected_quality_by_task: Mapping[str, int]
    hurdles: Mapping[str, Mapping[str, Any]]  # task -> {"metric", "limit"}, as the run stored them
    fully_trained: int
    failed: int
    train_seconds: float
    full_training_seconds: float
    train_seconds_saved: float
    hurdle: float | None
    race_trainings: int = 0  # racing the elite: extra-seed results, those reused from the cache, seconds trained
    race_reused: int = 0
    race_seconds: float = 0.0
    race_failed: int = 0  # extra-seed trainings that failed, and the first one's error
    race_error: str | None = None
    single_seed_best: int | None = None  # the best evolved candidate by its first seed alone, where racing ran
    skipped_surrogate: int = 0  # candidates the surrogate stage did not let train
    surrogate_seconds_saved: float = 0.0
    pending: int = 0  # proposed and not evaluated yet (a run that is running or was interrupted)
    #: where the surrogate stage's knowledge began: source -> how many examples (empty: no surrogate stage)
    surrogate_prior: Mapping[str, int] = field(default_factory=dict)


#: The origins of a tree the search was given, not one it found, in words.
GIVEN = {"seed": "a seed of the search space", "guess": "your --guess", "warm start": "from the --warm-start run"}


@dataclass(frozen=True)
class FunctionRef(_Summary):
    """An evolved candidate named by id, formula and fitness."""

    id: int
    formula: str
    fitness: float | None
    std: float | None = None  # the spread of its raced seeds' fitness (None: one seed)
    seeds: int = 1
    origin: str | None = None  # where its tree came from: evolved ("mutation", ...) or given ("seed", "guess", ...)

    @classmethod
    def of(cls, row: Candidate) -> FunctionRef:
        """A candidate as the ranking sees it: by its raced mean where raced, with the spread and number of seeds."""
        return cls(row.id, row.formula, row.rank_fitness, row.raced_std, row.raced_seeds, row.origin)

    @property
    def given(self) -> str | None:
        """Who gave the search this function where it did not find it (a seed of the space, a --guess, a warm
        start), in words; None for one it found."""
        return GIVEN.get(self.origin or "")


@dataclass(frozen=True)
class BaselineRef(_Summary):
    """A baseline named with its fitness."""

    name: str
    fitness: float | None
    std: float | None = None  # the spread of its raced seeds' fitness (None: one seed)
    seeds: int = 1

    @classmethod
    def of(cls, row: Candidate) -> BaselineRef:
        """A baseline as the ranking sees it: by its raced mean where raced, with the spread and number of seeds."""
        return cls(str(row.label), row.rank_fitness, row.raced_std, row.raced_seeds)


@dataclass(frozen=True)
class TaskMean(_Summary):
    """A candidate's validation measure on one task: the mean over its first training and the raced seeds that
    stored per-task scores, with its spread (None for one seed) and how many seeds it holds."""

    metric: str
    mean: float | None
    std: float | None = None
    seeds: int = 1


@dataclass(frozen=True)
class TaskVerdict(_Summary):
    """One task of the verdict: the winner's validation measure against the best baseline's there, each the mean over
    its raced seeds where it was raced (``TaskMean``), with their spreads and numbers of seeds."""

    metric: str
    winner: float | None
    best_baseline: str | None
    baseline: float | None
    winner_std: float | None = None
    winner_seeds: int = 1
    baseline_std: float | None = None
    baseline_seeds: int = 1


@dataclass(frozen=True)
class ConfirmedVerdict(_Summary):
    """What a confirmation said of the winner on one task: the difference to the best baseline and its p-value."""

    held_out: bool
    best_baseline: str | None
    diff: float | None
    p: float | None
    verdict: str  # "better", "worse", FAILED_MORE, "no significant difference", "the same function" or "-" (no p)
    p_adjusted: float | None = None  # Holm's, over the tasks the confirmation judged: what "better" reads
    failed: int = 0  # the function's trainings there that failed (its mean and p-value are over the others)
    baseline_failed: int = 0  # the best baseline's

    @property
    def p_text(self) -> str:
        """The p-value as a verdict is told, with Holm's where it differs: ``p 0.012, Holm 0.13``."""
        if self.p is None:
            return "p -"
        holm = self.p_adjusted
        return f"p {self.p:.2g}" + (
            f", Holm {holm:.2g}" if holm is not None and f"{holm:.2g}" != f"{self.p:.2g}" else ""
        )

    @property
    def told(self) -> str:
        """What a verdict on a task is told with: the p-value, or for failed trainings their counts."""
        if self.verdict == FAILED_MORE:
            return f"{self.failed} of its trainings failed, {self.baseline_failed} of {self.best_baseline}'s"
        return self.p_text

    @property
    def against(self) -> str:
        """The word between the verdict and the baseline: "better than", "no significant difference from"..."""
        return {"no significant difference": "from", "the same function": "as"}.get(self.verdict, "than")


@dataclass(frozen=True)
class Verdict(_Summary):
    """What a run found, first: its best function against the best baseline, per task, and as confirmed."""

    winner: FunctionRef
    best_baseline: BaselineRef | None
    margin: float | None
    per_task: Mapping[str, TaskVerdict]
    confirmed: Mapping[str, ConfirmedVerdict] | None
    known_as: str | None = None  # the published function the winner is (a rediscovery), if any: its catalog name
    rediscovery: str | None = None  # the same with the winner's scale and beta where not 1 ("-2 × Mish")

    @property
    def within_noise(self) -> bool:
        """The winner leads the best baseline by no more than the seed-to-seed spread of either's fitness, or on one
        seed of its own (which says nothing of how far one seed's luck goes)."""
        b, w = self.best_baseline, self.winner
        if b is None or self.margin is None or self.margin <= 0:
            return False
        return w.std is None or self.margin <= max(s for s in (w.std, b.std) if s is not None)

    @property
    def judged(self) -> bool:
        """A confirmation on fresh seeds judged the winner somewhere (a p-value on some task)."""
        return any(c.verdict != "-" for c in (self.confirmed or {}).values())

    @property
    def wins(self) -> bool:
        """The winner leads the best baseline and no confirmation found it worse; once a confirmation on fresh seeds
        judged it, only where it found it better somewhere (the search's own seeds chose it, so its lead there holds
        the luck of being chosen), else where the lead is beyond seed noise."""
        if self.margin is None or self.margin <= 0 or self.confirmed_as("worse") or self.confirmed_as(FAILED_MORE):
            return False
        if self.judged:
            return bool(self.confirmed_as("better"))
        return not self.within_noise

    @property
    def note(self) -> str | None:
        """A warning when the run's best evolved function is not better than its best baseline, or leads it only
        within seed noise (and no confirmation found it better), or beyond it where a confirmation did not find it
        better, or when a confirmation on fresh seeds found it significantly worse than a task's best baseline; else
        None."""
        b, w, notes = self.best_baseline, self.winner, []
        if b is not None and self.margin is not None and self.margin <= 0:
            notes.append(
                f"the best evolved candidate #{w.id} (fitness {measure(w.fitness)}) is not better than the baseline"
                f" {b.name} ({measure(b.fitness)}): this run found nothing to prefer to {b.name}"
            )
        elif b is not None and self.within_noise and not self.confirmed_as("better"):
            if w.std is None:
                noise = "on one seed, which says nothing of its seeds' spread"
            else:
                whose = "the larger of their seeds' spreads" if b.std is not None else f"#{w.id}'s seeds' spread"
                noise = f"no more than {whose} (sd {measure(max(s for s in (w.std, b.std) if s is not None))})"
            if not self.confirmed:
                advice = ": confirm it on fresh seeds before trusting the lead"
            elif self.confirmed_as("worse") or self.confirmed_as(FAILED_MORE):
                advice = ""  # the note on what the confirmation found follows
            elif all(c.verdict == "the same function" for c in self.confirmed.values()):
                advice = "; on fresh seeds (evoact confirm) it is each task's best baseline itself"
            elif all(c.verdict in ("-", "the same function") for c in self.confirmed.values()):
                advice = "; its confirmation could not judge it (no p-value): confirm it on more seeds"
            else:
                advice = "; on fresh seeds (evoact confirm) it was not found better"
            notes.append(
                f"the best evolved candidate #{w.id} leads the baseline {b.name} by {measure(self.margin)},"
                f" {noise}{advice}"
            )
        elif b is not None and self.margin is not None and self.judged and not self.wins:
            if not (self.confirmed_as("worse") or self.confirmed_as(FAILED_MORE)):  # a lead not borne out
                notes.append(
                    f"the best evolved candidate #{w.id} leads the baseline {b.name} by {measure(self.margin)} in the"
                    " search, but on fresh seeds (evoact confirm) it was not found better on any task judged: the"
                    " search chose it on its own seeds and tasks, so its lead there holds the luck of being chosen"
                )
        if worse := self.confirmed_as("worse"):
            notes.append(f"on fresh seeds (evoact confirm) #{w.id} was significantly worse than {worse}")
        if failed := self.confirmed_as(FAILED_MORE):
            notes.append(f"on fresh seeds (evoact confirm) #{w.id} failed more trainings than {failed}")
        return "; ".join(notes) or None

    def to_json(self) -> dict[str, Any]:
        """The fields, and what they come to: ``wins`` and the ``note`` ``show`` prints."""
        return {**super().to_json(), "wins": self.wins, "note": self.note}

    def confirmed_as(self, verdict: str) -> str:
        """The tasks where the confirmation's verdict on the winner was ``verdict``, each with the baseline it was
        compared with and the p-value (``relu on mnist1d-mlp (p 0.012)``), or an empty string."""
        return ", ".join(
            f"{c.best_baseline} on {task}" + (f" ({c.told})" if c.p is not None or c.verdict == FAILED_MORE else "")
            for task, c in (self.confirmed or {}).items()
            if c.verdict == verdict
        )


@dataclass(frozen=True)
class RunOverview(_Summary):
    """One run in a line, as ``evoact runs`` lists it and ``evoact compare`` sets runs side by side."""

    name: str
    path: str
    state: str
    tasks: tuple[str, ...]
    seed: int
    budget: str
    best: FunctionRef | None
    best_baseline: BaselineRef | None
    candidates: int
    counts: Mapping[str, int]
    seconds: float | None
    command: str | None
    stopped_because: str | None = None  # why it stopped short: a stop rule, its space run out, or its baselines
    confirming: bool = False  # an ``evoact confirm`` holds the run now
    confirmed: Mapping[str, ConfirmedVerdict] | None = None  # what confirmations said of ``best``, per task
    confirmation_unreadable: str | None = None  # why the stored confirmation could not be read, if it could not


@dataclass(frozen=True)
class ConfirmationRow(_Summary):
    """One function of a task's confirmation: its test measure over the seeds, paired tests against two references."""

    name: str
    formula: str
    baseline: bool
    n: int
    failed: int
    learned: Mapping[str, float]
    mean: float | None
    std: float | None
    p_vs_relu: float | None
    diff_vs_relu: float | None
    p_vs_best_baseline: float | None
    diff_vs_best_baseline: float | None

    @property
    def id(self) -> int | None:
        """The candidate's id for an evolved function (``#7`` or ``#7 = mish``), None for a baseline."""
        return _candidate_id(self.name)


def _candidate_id(name: str) -> int | None:
    """The id in a confirmation row's name (``#7`` or ``#7 = mish``), None for any other name."""
    head = name.split(" ")[0]
    return int(head[1:]) if head.startswith("#") and head[1:].isdigit() else None


@dataclass(frozen=True)
class TaskConfirmation(_Summary):
    """A confirmation on one task: every function's row, the best baseline, the metric and the training length."""

    best_baseline: str | None
    rows: tuple[ConfirmationRow, ...]
    metric: str
    held_out: bool
    epochs: float | None
    group: str | None = None  # search (the run's own tasks), validation, test, or None for another task
    seeds: tuple[int, ...] | None = None  # the fresh seeds (None: stored before tasks kept their own, the summary's)


@dataclass(frozen=True)
class GroupRatio(_Summary):
    """One function over a group of tasks: its test measure relative to the best of the reference baselines on each
    task (accuracy over the best accuracy, or the best loss over its loss), as the mean and the worst over them."""

    name: str
    formula: str
    baseline: bool
    mean: float | None
    worst: float | None
    worst_task: str | None
    tasks: int
    #: 95% intervals over the seeds (a basic bootstrap; None where a function missed a seed, or stored before)
    mean_low: float | None = None
    mean_high: float | None = None
    worst_low: float | None = None
    worst_high: float | None = None
    #: the task whose ratio is highest, and that ratio: a loss task's is unbounded above, so one noisy task can carry
    #: the mean (None where stored before)
    best_task: str | None = None
    best: float | None = None

    @property
    def id(self) -> int | None:
        """The candidate's id for an evolved function, None for a baseline or a ``--also`` formula."""
        return _candidate_id(self.name)


#: The ratio fields of a stored ``GroupRatio``: numbers or None, as read back.
_RATIOS = ("mean", "worst", "mean_low", "mean_high", "worst_low", "worst_high", "best")
_MEASURES = ("mean", "std", "p_vs_relu", "diff_vs_relu", "p_vs_best_baseline", "diff_vs_best_baseline")


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _metric(metric: Any) -> str:
    """A stored task's metric, one evoact knows (another would be read as a loss, and turn the verdicts round)."""
    if metric not in METRICS:
        raise TypeError(f"the confirmation's metric {str(metric)[:40]!r} is not one of {', '.join(METRICS)}")
    return metric


def _confirmation_row(row: Any) -> ConfirmationRow:
    """A stored confirmation row, checked (a run directory is not trusted): a ``TypeError`` naming what is wrong."""
    name = str(row.get("name"))[:40]
    if bad := [n for n in _MEASURES if not (row.get(n) is None or _number(row.get(n)))]:
        raise TypeError(f"the confirmation's {bad[0]} of {name!r} is no number")
    if bad := [n for n in ("n", "failed") if not (type(row.get(n)) is int and row.get(n) >= 0)]:
        raise TypeError(f"the confirmation's {bad[0]} of {name!r} is no count")
    learned = row.get("learned") or {}
    if not isinstance(learned, Mapping) or not all(isinstance(k, str) and _number(v) for k, v in learned.items()):
        raise TypeError(f"the confirmation's learned constants of {name!r} are not names with numbers")
    if not isinstance(row.get("name"), str) or not isinstance(row.get("formula"), str):
        raise TypeError(f"the confirmation's row {name!r} has no name or formula")
    return ConfirmationRow(**{f.name: row.get(f.name) for f in fields(ConfirmationRow)})


def _group_ratio(row: Any) -> GroupRatio:
    """A stored group ratio row, its ratios checked (a run directory is not trusted): a ``TypeError`` naming one that
    is no number."""
    if bad := [n for n in _RATIOS if not (row.get(n) is None or type(row.get(n)) in (int, float))]:
        raise TypeError(f"the group ratio {bad[0]} of {str(row.get('name'))[:40]!r} is no number")
    return GroupRatio(**{f.name: row.get(f.name) for f in fields(GroupRatio)})


@dataclass(frozen=True)
class GroupSummary(_Summary):
    """A group's tasks in this confirmation and each function's ratios over them."""

    tasks: tuple[str, ...]
    references: tuple[str, ...]
    rows: tuple[GroupRatio, ...]


@dataclass(frozen=True)
class Confirmation(_Summary):
    """What ``evoact confirm`` found: the fresh seeds and each task's confirmation; ``epochs`` if one was forced. A
    run's stored summary adds up its confirmations (``after``): there ``seeds`` and ``epochs`` are the last one's, and
    each task's own are its results'."""

    seeds: tuple[int, ...]
    tasks: Mapping[str, TaskConfirmation]
    epochs: float | None = None
    groups: Mapping[str, GroupSummary] | None = None

    @classmethod
    def from_json(cls, data: Any) -> Confirmation:
        """A stored confirmation (its JSON form; older runs lack some keys); a ``ValueError`` for anything else."""
        if not isinstance(data, Mapping) or not isinstance(data.get("tasks"), Mapping):
            raise ValueError("a stored confirmation must be a mapping with tasks")
        try:
            tasks = {
                str(task): TaskConfirmation(
                    best_baseline=result.get("best_baseline"),
                    rows=tuple(_confirmation_row(row) for row in result["rows"]),
                    metric=_metric(result.get("metric", "accuracy")),
                    held_out=bool(result.get("held_out")),
                    epochs=result.get("epochs"),
                    group=result.get("group"),
                    seeds=None if result.get("seeds") is None else tuple(result["seeds"]),
                )
                for task, result in data["tasks"].items()
            }
            groups = {
                str(name): GroupSummary(
                    tuple(group["tasks"]),
                    tuple(group["references"]),
                    tuple(_group_ratio(row) for row in group["rows"]),
                )
                for name, group in (data.get("groups") or {}).items()
            }
            return cls(
                seeds=tuple(data.get("seeds") or ()),
                tasks=tasks,
                epochs=data.get("epochs"),
                groups=groups or None,
            )
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"a stored confirmation evoact cannot read ({type(exc).__name__}: {exc})") from None

    def after(self, earlier: Confirmation) -> Confirmation:
        """This confirmation with what ``earlier`` found on the tasks this one did not train, so that confirming on
        other tasks or groups adds to what ``show`` and the report say: each task keeps the results of the last
        confirmation that trained it, and a group its ratios unless this one has that group or one of its tasks."""
        kept = {  # a summary stored before tasks kept their own seeds and length has them once, for every task
            task: replace(
                result,
                seeds=earlier.seeds if result.seeds is None else result.seeds,
                epochs=earlier.epochs if result.epochs is None else result.epochs,
            )
            for task, result in earlier.tasks.items()
            if task not in self.tasks
        }
        kept_groups = {
            name: group for name, group in (earlier.groups or {}).items() if not set(group.tasks) & set(self.tasks)
        }
        mine = self.groups or {}
        return replace(  # in the earlier order, what this one trained in its place and what is new after
            self,
            tasks={t: self.tasks.get(t) or kept[t] for t in dict.fromkeys([*earlier.tasks, *self.tasks])},
            groups={
                name: mine.get(name) or kept_groups[name]
                for name in dict.fromkeys([*(earlier.groups or {}), *mine])
                if name in mine or name in kept_groups
            }
            or None,
        )


#: The level of a confirmed verdict: "better" holds at it over every task its confirmation judged (Holm), "worse" on
#: its own task.
ALPHA = 0.05

#: The verdict on a task where the function failed more of its trainings than the best baseline, beyond chance
#: (``_fails_more``): its mean and p-value there are over the seeds it finished, so they say nothing of the ones it did
#: not. A veto, as "worse" is; one that failed more but within chance is not called better there.
FAILED_MORE = "failed more trainings"


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values: below ``ALPHA`` on any task, a difference holds at that level over them all
    (each task's own p-value, over 11 tasks, finds one of two equal functions better somewhere one time in five)."""
    adjusted, running = {}, 0.0
    for rank, key in enumerate(sorted(p_values, key=lambda k: p_values[k])):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[key]))
        adjusted[key] = running
    return adjusted


def confirmed_verdicts(rows: Mapping[str, tuple[TaskConfirmation, ConfirmationRow]]) -> dict[str, ConfirmedVerdict]:
    """A function's confirmation rows (task -> its task's results and its row) in words, each against its task's best
    baseline: better (by Holm's p-value over the tasks judged: a claim must hold over them all), worse (by the task's
    own: a warning is not held to that bar, so a correction never lets a loss pass), no significant difference, or
    the same function (the baseline's formula, whose trainings it shares)."""
    same = {
        task
        for task, (result, row) in rows.items()
        if any(r.name == result.best_baseline and r.formula == row.formula for r in result.rows)
    }
    reference = {
        task: next((r for r in result.rows if r.name == result.best_baseline and r.baseline), None)
        for task, (result, _) in rows.items()
    }
    failing = {t for t, (_, row) in rows.items() if t not in same and _fails_more(row, reference[t])}
    judged = {  # a task it failed on counts in the family whether or not the trainings it finished have a p-value
        t: p if p is not None else 1.0
        for t, (_, row) in rows.items()
        if t not in same and ((p := row.p_vs_best_baseline) is not None or t in failing)
    }
    adjusted = holm(judged)
    out = {}
    for task, (result, row) in rows.items():
        diff, p = row.diff_vs_best_baseline, row.p_vs_best_baseline
        better = diff is not None and (diff > 0 if result.metric == "accuracy" else diff < 0)
        ref = reference[task]
        theirs = ref.failed if ref is not None else 0
        if task in same:
            verdict = "the same function"
        elif task in failing:
            verdict = FAILED_MORE
        elif task not in adjusted:
            verdict = "-"
        elif better:  # over the seeds it finished: where it failed more of them, no better than the baseline
            verdict = "better" if adjusted[task] < ALPHA and row.failed <= theirs else "no significant difference"
        else:
            verdict = "worse" if judged[task] < ALPHA else "no significant difference"
        out[task] = ConfirmedVerdict(
            result.held_out, result.best_baseline, diff, p, verdict, adjusted.get(task), row.failed, theirs
        )
    return out


def _fails_more(row: ConfirmationRow, reference: ConfirmationRow | None) -> bool:
    """Whether ``row``'s function failed more of its trainings than the best baseline ``reference`` beyond chance:
    Fisher's exact test, one-sided, at ``ALPHA`` (one failure more is what two equal functions often show)."""
    if reference is None or row.failed <= reference.failed:
        return False
    from scipy.stats import fisher_exact  # here: scipy.stats is slow to import, and every command imports this

    table = [[row.failed, row.n], [reference.failed, reference.n]]
    return bool(fisher_exact(table, alternative="greater").pvalue < ALPHA)


@dataclass(frozen=True)
class RankedCandidate(_Summary):
    """A row of the ranking: the candidate, its rank, and the better-ranked function it only rescales or shifts, if
    any."""

    candidate: Candidate
    rank: int
    variant_of: int | None = None
    factor: float | None = None
    shift: float | None = None  # a variant is ``factor`` times the function it varies, plus ``shift``
    task_means: Mapping[str, TaskMean] = field(default_factory=dict)  # per task, over its raced seeds too

    @property
    def shifted(self) -> str:
        """How a variant's shift is written after its factor (`` + 1.35``), or "" where it has none to see."""
        if self.shift is None or abs(self.shift) < 5e-4:
            return ""
        return f" {'+' if self.shift > 0 else '-'} {abs(self.shift):.3g}"

    def to_json(self) -> dict[str, Any]:
        """The candidate's flat JSON row with its rank, what it is ranked by (``rank_fitness``: the raced mean once
        raced, where ``fitness`` is its first training's), variant fields and per-task means."""
        return {
            **self.candidate.row(),
            "rank": self.rank,
            "rank_fitness": self.candidate.rank_fitness,
            "variant_of": self.variant_of,
            "factor": self.factor,
            "shift": self.shift,
            "task_means": _json(self.task_means),
        }


@dataclass(frozen=True)
class BaselineRow(_Summary):
    """A baseline with its rank among everything with a fitness (None without one)."""

    candidate: Candidate
    rank: int | None
    task_means: Mapping[str, TaskMean] = field(default_factory=dict)  # per task, over its raced seeds too

    def to_json(self) -> dict[str, Any]:
        """The baseline's flat JSON row with its rank, what it is ranked by and per-task means."""
        return {
            **self.candidate.row(),
            "rank": self.rank,
            "rank_fitness": self.candidate.rank_fitness,
            "task_means": _json(self.task_means),
        }


@dataclass(frozen=True)
class ParetoPoint(_Summary):
    """A candidate on the Pareto front with its objectives (per task, then nodes if size was an objective)."""

    candidate: Candidate
    objectives: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        """The candidate's flat JSON row with its objectives."""
        return {**self.candidate.row(), "objectives": dict(self.objectives)}


@dataclass(frozen=True)
class RunSummary(_Summary):
    """Everything ``evoact show`` prints and the report renders; ``pareto_front`` only for Pareto selection,
    ``candidates`` only when one status was asked for."""

    run: str
    state: str
    counts: Mapping[str, int]
    config: Mapping[str, Any]
    cascade: CascadeSummary
    ranking: tuple[RankedCandidate, ...]
    baselines: tuple[BaselineRow, ...]
    confirmation: Confirmation | None
    verdict: Verdict | None
    pareto_front: tuple[ParetoPoint, ...] | None = None
    candidates: tuple[Candidate, ...] | None = None
    stopped_because: str | None = None
    #: of the trees the user gave (origin ``guess`` or ``warm start``), how many the cascade rejected, per origin
    user_trees_rejected: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form; the optional parts only where they apply."""
        out = super().to_json()
        for name in ("pareto_front", "candidates", "stopped_because"):
            if out[name] is None:
                del out[name]
        if self.candidates is not None:
            out["candidates"] = [c.row() for c in self.candidates]
        return out
