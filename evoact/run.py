"""Reading a run directory: its config and search space as typed objects, a candidate's constants, and the summary
that ``evoact show`` prints and the report renders."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from evoact.config import SearchConfig
from evoact.inspection import mean_learned
from evoact.pareto import pareto_front
from evoact.records import Candidate
from evoact.scoring import objectives, uses_loss
from evoact.search_space import SearchSpace, parse_search_space
from evoact.store import RunStore, RunStoreError
from evoact.tasks import TASKS


class Run:
    """One run, read through its store: parsed once, checked where it is read."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.path = store.path

    @functools.cached_property
    def config(self) -> SearchConfig:
        """The search config the run was started with."""
        try:
            return SearchConfig.from_dict(self.store.config()["config"])
        except ValueError as exc:
            raise RunStoreError(f"{self.path / 'config.json'}: {exc}") from None

    @functools.cached_property
    def space(self) -> SearchSpace:
        """The search space the run used, from the text stored with it."""
        stored = self.store.config().get("search_space")
        if not isinstance(stored, dict) or not isinstance(stored.get("text"), str):
            raise RunStoreError(f"{self.path / 'config.json'}: no search space text")
        return parse_search_space(stored["text"], str(stored.get("source", "config.json")))

    @functools.cached_property
    def metrics(self) -> dict[str, str]:
        """Each task's metric, ``accuracy`` or ``loss`` (a task no longer known, or a user's: accuracy)."""
        return {name: TASKS[name].metric if name in TASKS else "accuracy" for name in self.config.tasks}

    def fitness_measure(self) -> str:
        """What this run's fitness is, in words."""
        c = self.config
        if len(c.tasks) == 1:
            return "minus validation loss" if uses_loss(self.metrics[c.task], c.score) else "validation accuracy"
        compared = "loss" if c.score == "loss" else "accuracy (loss on loss tasks)"
        return f"{c.aggregate} over the tasks of the validation {compared} relative to the best baseline's"

    def constants(self, row: Candidate) -> dict[str, float]:
        """A candidate's constants: the search space's initial values, replaced by the values the run trained (means)."""
        return {**self.space.learnable, **mean_learned(row.outcome.learned)}

    def cascade(self) -> dict[str, Any]:
        """What the rejection cascade did: proposals, rejections per stage, cache hits, trainings, seconds saved.

        Savings are estimated from the measured cost of a full training in this run: each candidate removed
        before training saves one; one stopped at the quality hurdle saves the rest of its epochs.
        """
        everything = self.store.candidates()
        rows = [r for r in everything if r.label is None]
        full = [r.outcome.train_seconds for r in everything if r.status == "ok" and r.outcome.train_seconds]
        full_cost = sum(full) / len(full) if full else 0.0
        stages = {stage: [r for r in rows if r.outcome.stage == stage] for stage in ("static", "cache", "stability", "quality")}
        saved = full_cost * (len(stages["static"]) + len(stages["cache"]) + len(stages["stability"]))
        saved += sum(max(0.0, full_cost - (r.outcome.train_seconds or 0.0)) for r in stages["quality"])
        reasons: dict[str, int] = {}
        for r in stages["static"]:
            key = r.outcome.error.split(" (")[0].split(":")[0] if r.outcome.error else "?"
            reasons[key] = reasons.get(key, 0) + 1
        by_task: dict[str, int] = {}  # the task whose hurdle each rejection missed
        for r in stages["quality"]:
            task = next((t for t, s in r.outcome.scores.items() if s.stopped), self.config.task)
            by_task[task] = by_task.get(task, 0) + 1
        return {
            "proposed": len(rows),
            "rejected_static": len(stages["static"]), "static_reasons": reasons,
            "cache_hits": len(stages["cache"]),
            "rejected_stability": len(stages["stability"]), "rejected_quality": len(stages["quality"]),
            "rejected_quality_by_task": by_task, "hurdles": self.store.meta().get("hurdles") or {},
            "fully_trained": sum(r.status == "ok" for r in rows), "failed": sum(r.status == "failed" for r in rows),
            "train_seconds": sum(r.outcome.train_seconds or 0.0 for r in everything),
            "full_training_seconds": full_cost, "train_seconds_saved": saved,
            "hurdle": self.store.meta().get("hurdle"),
        }

    def pareto_front(self) -> list[dict[str, Any]]:
        """The Pareto front over evolved candidates (baseline-normalised task scores, and size if it was an objective).

        Each row gets ``objectives`` (per task, then nodes), best fitness first.
        """
        tasks, complexity = self.config.tasks, self.config.complexity_objective
        refs = self.store.meta().get("references") or {}
        rows = [(r, o) for r in self.store.ranked() if r.label is None
                and (o := objectives(r, refs, tasks, complexity, self.metrics, self.config.score)) is not None]
        out = []
        for i in pareto_front([o for _, o in rows]):
            row, values = rows[i]
            shown = dict(zip(tasks, values))
            if complexity:
                shown["nodes"] = row.nodes
            out.append({**row.row(), "objectives": shown})
        return out

    def summary(self, top: int = 20, status: str | None = None) -> dict[str, Any]:
        """Everything ``evoact show`` prints and the report renders, as JSON-ready data."""
        meta = self.store.meta()
        everything = self.store.candidates()
        ranked = self.store.ranked()
        rank = {r.id: i for i, r in enumerate(ranked, 1)}
        out = {
            "run": str(self.path), "state": meta.get("state"), "counts": self.store.counts(), "config": self.config.to_dict(),
            "cascade": self.cascade(),
            "ranking": [{**r.row(), "rank": i} for i, r in enumerate(ranked, 1) if i <= top],
            "baselines": [{**r.row(), "rank": rank.get(r.id)} for r in everything if r.label],
            "confirmation": meta.get("confirmation"),
        }
        if self.config.selection == "pareto":
            out["pareto_front"] = self.pareto_front()
        if status:
            out["candidates"] = [r.row() for r in everything if r.status == status]
        return out

    def close(self) -> None:
        """Close the store."""
        self.store.close()


def open_run(path: str | Path) -> Run:
    """Open a run directory for reading; safe while its search is still running."""
    return Run(RunStore.open(path))
