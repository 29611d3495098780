"""Comparing confirmed functions: the paired t-test over seeds, each task's summary and each group's ratios, read
from a run's stored confirmation trainings, and the tables that print them.

A pair of trainings shares its seed, hence the initialisation stream and batch order, so functions are compared by
paired tests over the seeds; each group of tasks is summarised by every function's ratio to the best of the strong
references on each task, its mean and its worst. ``confirmation.py`` trains what this reads.
"""

from __future__ import annotations

import math
import statistics
import warnings
from typing import Any

import numpy as np

from evoact.records import Status, mean_learned
from evoact.scoring import relative
from evoact.store import RunStore
from evoact.summaries import Confirmation, ConfirmationRow, GroupRatio, GroupSummary, TaskConfirmation
from evoact.tasks import task_family
from evoact.terminal import measure

#: The fewest seeds a group's ratios get intervals from.
INTERVAL_SEEDS = 5
#: scipy's bootstrap method for them (``_ratio_intervals`` says why not the percentile one).
INTERVAL_METHOD = "basic"
#: How far the ratio intervals can be trusted (``bench/results/interval_coverage.md``, simulated confirmations).
INTERVAL_NOTE = (
    "95% bootstrap intervals over the seeds (basic bootstrap, one draw of seeds for every function); with 5-10 seeds"
    " they held the true mean ratio 70-90% of the time in simulations, the worst ratio 57-90%: read them as the least"
    " of the uncertainty"
)
#: What a group's ratios compare with: on each task, the best of these (the issue's strongest published baselines).
RATIO_REFERENCES = ("gelu", "silu", "mish")
#: A plain-FFN baseline's name is this and its activation's (``plain-relu``); its trainings are stored under the task's
#: name and ``PLAIN_TASK`` (``glu-text [plain FFN]``), apart from the gate with the same formula.
PLAIN_PREFIX = "plain-"
PLAIN_TASK = " [plain FFN]"
#: How the baselines are written in titles.
_SHOWN = {
    "relu": "ReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "mish": "Mish",
    "tanh": "tanh",
    "sine": "sine",
    "xsilu": "xSiLU",
}
#: How the baselines are written where the function is a GLU's gate.
_SHOWN_AS_GATES = {"relu": "ReGLU", "gelu": "GEGLU", "silu": "SwiGLU"}
#: How a task's table names its group.
GROUP_LABELS = {
    "search": " (search group: the run's own task)",
    "validation": " (validation group: not used by the search)",
    "test": " (test group: only reported, nothing is chosen by it)",
}


def _shown(name: str, tasks: tuple[str, ...]) -> str:
    """A baseline's name in a title: as a gate (``GEGLU``) on GLU tasks."""
    gates = task_family(tasks) == "glu"
    return (_SHOWN_AS_GATES if gates else {}).get(name) or _SHOWN.get(name, name)


def paired_p_value(a: list[float], b: list[float]) -> float | None:
    """Two-sided paired t-test p-value of ``a`` against ``b``; 1.0 when every pair is equal.

    None when it is undefined: fewer than 2 pairs, or differences without spread (all equal but not zero),
    where the t statistic is infinite and a p-value of 0 would claim a certainty that 2-5 seeds cannot give.
    """
    diffs = [x - y for x, y in zip(a, b)]
    if len(diffs) < 2:
        return None
    # measures come from float32 tensors: differences that agree to float32's resolution (relative to the measures,
    # so a regression's losses of 1e-7 still differ) are equal, not a spread
    resolution = 1e-6 * max(abs(v) for v in (*a, *b))
    if all(abs(d) <= resolution for d in diffs):
        return 1.0
    if statistics.pstdev(diffs) <= resolution:
        return None
    from scipy.stats import ttest_rel  # here: scipy.stats is slow to import, and every command imports this module

    with warnings.catch_warnings():  # nearly constant differences: scipy warns, the p-value is still the test's
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_rel(a, b).pvalue)
    return p if math.isfinite(p) else None


def trained_on(entries: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """The functions confirmed on ``task``: every one, but the plain-FFN baselines only on GLU tasks."""
    return [e for e in entries if not e["plain"] or task_family((task,)) == "glu"]


def stored_task(entry: dict[str, Any], task: str) -> str:
    """The task name that keys a function's confirmation trainings on ``task``: a plain-FFN baseline's is apart."""
    return task + PLAIN_TASK if entry["plain"] else task


def summarise(
    store: RunStore,
    entries: list[dict[str, Any]],
    tasks: list[str],
    seeds: list[int],
    epochs: dict[str, float],
    metrics: dict[str, str] | None = None,
    held_out: list[str] | tuple[str, ...] = (),
    forced_epochs: float | None = None,
    groups: dict[str, str | None] | None = None,
    references: tuple[str, ...] = RATIO_REFERENCES,
) -> Confirmation:
    """Per task and function: the test measure's mean and std over the seeds (accuracy, or loss where the task's metric
    is loss), and paired p-values against ReLU and the best baseline (highest accuracy, lowest loss)."""
    results = {}
    per_seed: dict[str, dict[str, dict[int, float]]] = {}
    for task in tasks:
        metric = (metrics or {}).get(task, "accuracy")
        values_of: dict[str, dict[int, float]] = {}
        done_of: dict[str, tuple[int, int, dict[str, float]]] = {}
        here = trained_on(entries, task)
        for e in here:
            done = [store.confirmation(e["formula"], stored_task(e, task), s, epochs[task]) for s in seeds]
            ok = [r for r in done if r and r.status == Status.OK and r.measure(metric) is not None]
            values_of[e["name"]] = {r.seed: r.measure(metric) for r in ok}  # type: ignore[misc]  # not None: above
            learned: dict[str, list[float]] = {}
            for r in ok:
                for name, layers in r.learned.items():
                    learned.setdefault(name, []).extend(layers)
            done_of[e["name"]] = (
                len(ok),
                sum(1 for r in done if r and r.status != Status.OK),
                mean_learned(learned),
            )
        per_seed[task] = values_of
        means = {name: statistics.fmean(a.values()) for name, a in values_of.items() if a}
        # the best baseline is a function in the task's own network (a gate, on a GLU task), never the plain FFN
        baselines = [e["name"] for e in here if e["baseline"] and not e["plain"] and e["name"] in means]
        best = max if metric == "accuracy" else min
        best_baseline = best(baselines, key=lambda n: means[n]) if baselines else None
        trained = {e["name"]: (e["formula"], stored_task(e, task)) for e in here}  # as its trainings are keyed
        rows = []
        for e in here:
            name, values = e["name"], list(values_of[e["name"]].values())
            tests = [_paired(values_of, name, ref, trained) for ref in ("relu", best_baseline)]
            n, failed, learned_means = done_of[name]
            rows.append(
                ConfirmationRow(
                    name=name,
                    formula=e["formula"],
                    baseline=e["baseline"],
                    n=n,
                    failed=failed,
                    learned=learned_means,
                    mean=means.get(name),
                    std=statistics.stdev(values) if len(values) > 1 else None,
                    p_vs_relu=tests[0][0],
                    diff_vs_relu=tests[0][1],
                    p_vs_best_baseline=tests[1][0],
                    diff_vs_best_baseline=tests[1][1],
                )
            )
        group = (groups or {}).get(task)
        results[task] = TaskConfirmation(
            best_baseline, tuple(rows), metric, task in held_out, epochs[task], group, tuple(seeds)
        )
    groups_of = group_ratios(results, references, per_seed, tuple(seeds))
    return Confirmation(tuple(seeds), results, forced_epochs, groups_of or None)


def group_ratios(
    results: dict[str, TaskConfirmation],
    references: tuple[str, ...] = RATIO_REFERENCES,
    per_seed: dict[str, dict[str, dict[int, float]]] | None = None,
    seeds: tuple[int, ...] = (),
) -> dict[str, GroupSummary]:
    """Per group: each function's test measure relative to the best of ``references`` on each task (accuracy
    over the best accuracy, or the best loss over its loss: above 1 is better; 0 where every training failed), its
    mean and worst over the tasks; with ``per_seed`` (task -> function -> seed -> measure), their 95% intervals over
    the seeds as well."""
    out = {}
    for group in dict.fromkeys(r.group for r in results.values() if r.group):
        tasks = [t for t, r in results.items() if r.group == group]
        ratios: dict[str, dict[str, float]] = {}
        for task in tasks:
            result = results[task]
            means = {row.name: row.mean for row in result.rows if row.mean is not None}
            refs = [means[n] for n in references if n in means]
            if not refs:
                continue
            accuracy = result.metric == "accuracy"
            best = max(refs) if accuracy else min(refs)
            if accuracy and best <= 0:  # no ratio to a reference that classified nothing right
                continue
            for name, mean in means.items():
                ratios.setdefault(name, {})[task] = float(relative(mean, best, not accuracy))
            for row in result.rows:  # failed every training: it learned nothing there (a diverged loss is infinite)
                if row.mean is None and row.failed:
                    ratios.setdefault(row.name, {})[task] = 0.0
        first = results[tasks[0]]
        rows = []
        for row in first.rows:
            mine = ratios.get(row.name, {})
            worst = min(mine, key=lambda t: mine[t]) if mine else None
            top = max(mine, key=lambda t: mine[t]) if mine else None
            spread = _ratio_intervals(results, list(mine), per_seed or {}, seeds, references, row.name)
            rows.append(
                GroupRatio(
                    row.name,
                    row.formula,
                    row.baseline,
                    statistics.fmean(mine.values()) if mine else None,
                    mine[worst] if worst else None,
                    worst,
                    len(mine),
                    *spread,
                    best_task=top,
                    best=mine[top] if top else None,
                )
            )
        out[group] = GroupSummary(tuple(tasks), references, tuple(rows))
    return out


def _ratio_intervals(
    results: dict[str, TaskConfirmation],
    tasks: list[str],
    per_seed: dict[str, dict[str, dict[int, float]]],
    seeds: tuple[int, ...],
    references: tuple[str, ...],
    name: str,
) -> tuple[float | None, float | None, float | None, float | None]:
    """95% bootstrap intervals of ``name``'s mean and worst ratio over ``tasks``: the seeds are drawn with
    replacement, the same draw for every function (a seed pairs their trainings). Nones unless it and the references
    finished every seed there, and with fewer than ``INTERVAL_SEEDS`` seeds.

    The basic (reverse percentile) bootstrap, not the percentile one: the best of close references and the worst of
    close tasks are biased (the best of noisy means is too high), and the basic interval turns that bias back where
    the percentile one doubles it; in simulated confirmations with tied references the percentile intervals held the
    true ratio 20-28% of the time, the worst ratio never (``INTERVAL_NOTE``)."""
    nothing = (None, None, None, None)
    if len(seeds) < INTERVAL_SEEDS or not tasks:
        return nothing
    columns = []
    for task in tasks:
        values = per_seed.get(task, {})
        compared = [name, *(r for r in references if r in values and r != name)]
        if any(set(values.get(n, {})) != set(seeds) for n in compared):
            return nothing
        table = np.array([[values[n][s] for s in seeds] for n in compared])
        refs = [i for i, n in enumerate(compared) if n in references]
        columns.append((results[task].metric == "accuracy", table, refs))

    def statistic(draw: np.ndarray, axis: int) -> np.ndarray:  # axis: scipy's, always the last here
        ratios = []
        for accuracy, table, refs in columns:
            means = table[:, draw.astype(int)].mean(axis=-1)
            best = means[refs].max(axis=0) if accuracy else means[refs].min(axis=0)
            ratios.append(relative(means[0], best, not accuracy))
        return np.stack([np.mean(ratios, axis=0), np.min(ratios, axis=0)])

    from scipy.stats import bootstrap  # here, as ttest_rel above: scipy.stats is slow to import

    with warnings.catch_warnings(), np.errstate(all="ignore"):  # seeds that agree exactly: scipy warns
        warnings.simplefilter("ignore")
        interval = bootstrap(
            (np.arange(len(seeds)),),
            statistic,
            vectorized=True,
            n_resamples=2000,
            method=INTERVAL_METHOD,
            random_state=np.random.default_rng(0),
        ).confidence_interval
    bounds = [float(v) for v in (interval.low[0], interval.high[0], interval.low[1], interval.high[1])]
    return (bounds[0], bounds[1], bounds[2], bounds[3]) if all(map(math.isfinite, bounds)) else nothing


def _paired(
    values_of: dict[str, dict[int, float]], name: str, ref: str | None, trained: dict[str, tuple[str, str]]
) -> tuple[float | None, float | None]:
    """The paired p-value and mean difference of ``name`` against ``ref`` over the seeds both finished (None, None
    against the same trainings, its own or its formula's under another name in the same network (``trained``: each
    name's formula and stored task); against nothing; or without a shared seed)."""
    pairs = [s for s in values_of[name] if ref in values_of and s in values_of[ref]]
    if ref is None or trained.get(ref) == trained[name] or not pairs:
        return None, None
    mine, theirs = [values_of[name][s] for s in pairs], [values_of[ref][s] for s in pairs]
    return paired_p_value(mine, theirs), statistics.fmean(mine) - statistics.fmean(theirs)


def listed(names: list[str]) -> str:
    """``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def header(metric: str) -> tuple[str, ...]:
    """The columns of a task's confirmation table."""
    return (
        "function",
        "formula",
        f"test {'acc' if metric == 'accuracy' else 'loss'} (mean ± std)",
        "n",
        "vs ReLU",
        "p",
        "vs best baseline",
        "p",
        "learned constants",
    )


def tables(summary: Confirmation) -> list[tuple[str, tuple[str, ...], list[list[str]]]]:
    """The confirmation as tables of text, one per task (title, header, rows): what the CLI, its Markdown and the
    report print. Held-out tasks say so in their title."""

    def diff(v: float | None) -> str:
        return measure(v, signed=True)

    def pval(v: float | None) -> str:
        return "-" if v is None else f"{v:.3g}"

    out = []
    for task, result in summary.tasks.items():
        metric = result.metric
        length = result.epochs if result.epochs is not None else summary.epochs
        seeds = result.seeds if result.seeds is not None else summary.seeds
        held_out = " (not used by the search)" if result.held_out else ""
        label = GROUP_LABELS.get(result.group or "", held_out)
        title = (
            f"{task}{label}: test"
            f" {metric} over {len(seeds)} fresh seeds ({'higher' if metric == 'accuracy' else 'lower'} is"
            f" better, so a difference {'above' if metric == 'accuracy' else 'below'} 0 is better;"
            f" {'?' if length is None else f'{length:g}'} epochs); best baseline {result.best_baseline};"
            " p: two-sided paired t-test over seeds (1 where every pair is equal; -: none, against the same function,"
            " from fewer than 2 seeds or from equal non-zero differences)"
        )
        plain = [r.name for r in result.rows if r.baseline and r.name.startswith(PLAIN_PREFIX)]
        if plain:
            title += f"; {listed(plain)}: the plain FFN at equal parameters, not a GLU, with that activation"
        rows = [
            [
                r.name,
                r.formula,
                "-"
                if r.mean is None
                else measure(r.mean) + (f" ± {measure(r.std or 0)}" if r.n > 1 else ""),  # one seed: no spread
                str(r.n) + (f" ({r.failed} failed)" if r.failed else ""),
                diff(r.diff_vs_relu),
                pval(r.p_vs_relu),
                diff(r.diff_vs_best_baseline),
                pval(r.p_vs_best_baseline),
                ", ".join(f"{k}={v:.3g}" for k, v in r.learned.items()) or "-",
            ]
            for r in result.rows
        ]
        out.append((title, header(metric), rows))
    for group, ratios in (summary.groups or {}).items():
        title = (
            f"{group} group ({len(ratios.tasks)} task{'s' if len(ratios.tasks) != 1 else ''}): test measure relative"
            " to the best of"
            f" {listed([_shown(n, ratios.tasks) for n in ratios.references])} on each task"
            " (accuracy / best, or best loss / loss; above 1 is better), mean and worst over the tasks (a loss ratio"
            " has no bound above: the best task says where one task carries the mean)"
        )
        if any(r.mean_low is not None for r in ratios.rows):
            title += f"; in brackets, {INTERVAL_NOTE}"
        else:
            title += f"; no intervals: they need {INTERVAL_SEEDS} or more seeds (read a ratio with its tasks' p-values)"
        cells = [
            [
                r.name,
                r.formula,
                with_interval(r.mean, r.mean_low, r.mean_high),
                with_interval(r.worst, r.worst_low, r.worst_high),
                r.worst_task or "-",
                "-" if r.best_task is None or r.best is None else f"{r.best_task} ({measure(r.best)})",
            ]
            for r in ratios.rows
        ]
        headers = ("function", "formula", "mean ratio", "worst ratio", "worst task", "best task (ratio)")
        out.append((title, headers, cells))
    return out


def with_interval(value: float | None, low: float | None, high: float | None) -> str:
    """A ratio, with its interval in brackets where one was computed."""
    if value is None:
        return "-"
    return measure(value) + ("" if low is None or high is None else f" [{measure(low)}, {measure(high)}]")
