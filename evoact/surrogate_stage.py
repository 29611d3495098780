"""The cascade's surrogate stage for one run: a ``Gate`` that starts from the benchmark table and the shared fitness
cache (as the run first saw it), is refitted once per generation on the run's earlier generations, and decides which
of a generation's candidates train (``--surrogate`` gating, ``--surrogate-pool`` ranking a pool)."""

from __future__ import annotations

from dataclasses import dataclass

from evoact.benchtable import table_for
from evoact.config import SearchConfig
from evoact.formula import X, parse
from evoact.records import USER_ORIGINS, Candidate, Stage, Status
from evoact.run_facts import CACHE_PRIOR_LIMIT
from evoact.screening import FitnessCache
from evoact.store import RunStore
from evoact.surrogate import EXPLORE, Decision, Example, Gate, Surrogate, relative_scores, table_examples

_CACHE_PRIOR = "surrogate_cache_prior"  # the run's meta key for its snapshot of the fitness cache


@dataclass(frozen=True)
class Split:
    """What the stage made of a generation's candidates: those that train, those it skipped with why, and a line
    for the progress where it ranked a pool."""

    train: list[Candidate]
    skipped: list[tuple[Candidate, Decision]]
    note: str | None


class SurrogateStage:
    """The surrogate stage of one run; it learns from the shared cache's results under ``family`` (the run's protocol
    with any training seed)."""

    def __init__(
        self,
        store: RunStore,
        config: SearchConfig,
        params: dict[str, float],
        cache: FitnessCache | None,
        family: str,
        metrics: dict[str, str],
    ) -> None:
        self.store, self.config, self.metrics = store, config, metrics
        prior = self._table_prior()
        cached = self._cache_prior(cache, family, set(params))
        store.set_meta(
            "surrogate_prior",
            {"functions of the benchmark table": len(prior), "results in the shared fitness cache": len(cached)},
        )
        surrogate = Surrogate(config.tasks, dict(params), seed=config.seed)
        self.gate = Gate(
            surrogate, config.screening.surrogate, EXPLORE, config.aggregate, config.task_weights, prior + cached
        )
        self._generation: int | None = None  # the generation the surrogate was last fitted for

    @staticmethod
    def asked(config: SearchConfig) -> bool:
        """Whether a run of ``config`` has the stage: asked for, with the cascade on, and a fitness that is one number
        (not Pareto selection's)."""
        screening = config.screening
        wanted = screening.surrogate > 0 or screening.selecting
        return screening.active and wanted and config.selection != "pareto"

    def _table_prior(self) -> list[Example]:
        """The shipped benchmark table on this run's tasks, at the schedule nearest the run's, where it is scored as
        the run is."""
        training = self.config.training
        table = table_for(self.config.tasks, training.epoch_scale)
        if table is None or self.config.score != "accuracy":  # the table's scoring
            return []
        return table_examples(table, None if training.epochs else training.epoch_scale)

    def _cache_prior(self, cache: FitnessCache | None, family: str, params: set[str]) -> list[Example]:
        """What earlier runs of this folder trained under this run's protocol (with any training seed), from the shared
        fitness cache, as it was when this run started: the snapshot is stored in the run, so a resumed run learns
        from the same functions however the cache has grown since (a run begun before snapshots existed has none)."""
        meta = self.store.meta()
        if _CACHE_PRIOR not in meta:
            cached = cache.known(family) if cache is not None and not self.store.candidates() else []
            usable = [
                known
                for known in cached
                if (known.status == Status.OK and known.scores and len(known.scores) == len(self.config.tasks))
                or known.status in (Status.REJECTED, Status.FAILED)
            ]
            snapshot = [
                [known.formula, list(known.scores) if known.scores else None]
                for known in usable[-CACHE_PRIOR_LIMIT:]
                if {s.name for s in parse(known.formula).free_symbols} <= {X.name, *params}  # this space's constants
            ]
            self.store.set_meta(_CACHE_PRIOR, snapshot)
            meta[_CACHE_PRIOR] = snapshot
        return [Example(formula, tuple(scores) if scores else None) for formula, scores in meta[_CACHE_PRIOR]]

    def fitted(self, generation: int, references: dict[str, float]) -> Gate:
        """The gate fitted once per generation on the results of the generations before it (and the priors), so a
        resumed run, which has the same earlier generations, decides alike."""
        if self._generation != generation:
            self._generation = generation
            examples = []
            for row in self.store.candidates():
                if row.label is not None or row.generation is None or row.generation >= generation:
                    continue
                if row.status == Status.OK:
                    scores = relative_scores(
                        row.outcome.scores, references, self.config.tasks, self.metrics, self.config.score
                    )
                    examples.append(Example(row.formula, scores))
                elif row.status == Status.FAILED or row.outcome.stage in (Stage.STABILITY, Stage.QUALITY):
                    examples.append(Example(row.formula, None))
            self.gate.refit(examples)
        return self.gate

    def pool_factor(self, generation: int, references: dict[str, float]) -> int:
        """How many times its quota a generation proposes: ``surrogate_pool`` once the surrogate can rank, else 1. A
        pooled generation is recorded (``show`` counts only its quota's share of the cascade's rejections as saved)."""
        screening = self.config.screening
        if not screening.selecting or self.fitted(generation, references).threshold is None:
            return 1
        pooled = set(self.store.meta().get("pooled_generations", ())) | {generation}
        self.store.set_meta("pooled_generations", sorted(pooled))
        return screening.surrogate_pool

    def split(self, rows: list[Candidate], train: int | None, references: dict[str, float]) -> Split:
        """The rows it lets train (those it predicts in the top share, or with ``train`` its ``train`` best) and
        those it skips, with the prediction or the rank. The user's own trees (guesses, warm starts) always train."""
        gate = self.fitted(rows[0].generation or 0, references)
        kept = [r for r in rows if r.origin in USER_ORIGINS]
        rows = [r for r in rows if r.origin not in USER_ORIGINS]
        formulas = [r.formula for r in rows]
        decisions = gate.decide(formulas) if train is None else gate.select(formulas, train - len(kept))
        kept += [row for row, decision in zip(rows, decisions) if decision.train]
        skipped = [(row, decision) for row, decision in zip(rows, decisions) if not decision.train]
        note = None
        if train is not None and skipped:
            picked = [d.predicted for d in decisions if d.train and d.predicted is not None]
            span = ""
            if picked:
                low, high = min(picked), max(picked)
                span = (
                    f" (predicted percentiles {100 * low:.1f}-{100 * high:.1f})"
                    if gate.surrogate.ranked
                    else f" (predicted relative scores {low:.4f}-{high:.4f})"
                )
            note = f"the surrogate ranked {len(rows)} candidates and trains {len(rows) - len(skipped)}{span}"
        return Split(kept, skipped, note)
