"""Describe a formula or a run's candidate: canonical form, LaTeX, size, properties, nearest known, lineage, results."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sympy as sp

from evoact.catalog import nearest_known
from evoact.formula import constant_values, parse, to_formula
from evoact.pareto import pareto_front
from evoact.properties import activation_properties
from evoact.scoring import objectives
from evoact.search_space import parse_search_space
from evoact.store import RunStore


def count_nodes(expr: sp.Expr) -> int:
    """Number of nodes of the expression tree (operators, functions, symbols and numbers)."""
    return sum(1 for _ in sp.preorder_traversal(expr))


def describe_formula(text: str, params: dict[str, float] | None = None) -> dict[str, Any]:
    """What a formula is: as given, canonical, LaTeX, node count, constants, properties and nearest known activations.

    Learnable constants take ``params`` (default 1) for the properties and the comparison.
    """
    expr = parse(text)
    formula = to_formula(expr)
    values = constant_values(expr, params)
    return {
        "input": text, "formula": formula, "latex": sp.latex(expr), "nodes": count_nodes(expr),
        "constants": list(values), "constant_values": values,
        "properties": activation_properties(formula, values),
        "nearest_known": [{**asdict(m), "rediscovery": m.rediscovery} for m in nearest_known(formula, values)],
    }


def mean_learned(learned: dict[str, list[float]]) -> dict[str, float]:
    """One value per learnable constant: the mean over the layers that learned it."""
    return {name: sum(v) / len(v) for name, v in learned.items() if v}


def candidate_constants(store: RunStore, row: dict[str, Any]) -> dict[str, float]:
    """A run candidate's constants: the search space's initial values, replaced by the run's trained means."""
    space = store.config().get("search_space", {})
    initial = parse_search_space(space["text"], space["source"]).learnable if "text" in space else {}
    return {**initial, **mean_learned(row["learned"] or {})}


def describe_candidate(store: RunStore, cid: int, params: dict[str, float] | None = None) -> dict[str, Any]:
    """A run candidate: its formula description (constants at their trained values unless ``params`` says otherwise),
    status or failure reason, lineage and the baselines' fitness."""
    row = store.candidate(cid)
    if row is None:
        raise KeyError(f"{store.path}: no candidate with id {cid}")
    parents = [store.candidate(p) for p in row["parents"]]
    return {
        **describe_formula(row["formula"], {**candidate_constants(store, row), **(params or {})}),
        "id": cid, "label": row["label"], "status": row["status"], "error": row["error"],
        "duplicate_of": row["duplicate_of"], "fitness": row["fitness"], "val_acc": row["val_acc"],
        "test_acc": row["test_acc"], "train_seconds": row["train_seconds"], "learned": row["learned"],
        "stage": row["stage"], "equivalent_to": row["equivalent_to"], "probe_acc": row["probe_acc"],
        "fingerprint": row["fingerprint"],
        "generation": row["generation"], "origin": row["origin"], "genome": row["genome"],
        "parents": [{"id": p["id"], "formula": p["formula"], "fitness": p["fitness"]} for p in parents if p],
        "baselines": {r["label"]: r["fitness"] for r in store.candidates() if r["label"]},
    }


def cascade_breakdown(store: RunStore) -> dict[str, Any]:
    """What the rejection cascade did: proposals, rejections per stage, cache hits, trainings, seconds saved.

    Savings are estimated from the measured cost of a full training in this run: each candidate removed
    before training saves one; one stopped at the quality hurdle saves the rest of its epochs.
    """
    rows = [r for r in store.candidates() if r["label"] is None]
    full = [r["train_seconds"] for r in store.candidates() if r["status"] == "ok" and r["train_seconds"]]
    full_cost = sum(full) / len(full) if full else 0.0
    stages = {stage: [r for r in rows if r["stage"] == stage] for stage in ("static", "cache", "stability", "quality")}
    saved = full_cost * (len(stages["static"]) + len(stages["cache"]) + len(stages["stability"]))
    saved += sum(max(0.0, full_cost - (r["train_seconds"] or 0.0)) for r in stages["quality"])
    reasons: dict[str, int] = {}
    for r in stages["static"]:
        key = r["error"].split(" (")[0].split(":")[0] if r["error"] else "?"
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "proposed": len(rows),
        "rejected_static": len(stages["static"]), "static_reasons": reasons,
        "cache_hits": len(stages["cache"]),
        "rejected_stability": len(stages["stability"]), "rejected_quality": len(stages["quality"]),
        "fully_trained": sum(r["status"] == "ok" for r in rows), "failed": sum(r["status"] == "failed" for r in rows),
        "train_seconds": sum(r["train_seconds"] or 0.0 for r in store.candidates()),
        "full_training_seconds": full_cost, "train_seconds_saved": saved,
        "hurdle": store.meta().get("hurdle"),
    }


def pareto_rows(store: RunStore, tasks: list[str] | tuple[str, ...], complexity: bool) -> list[dict[str, Any]]:
    """The run's Pareto front over evolved candidates (baseline-normalised task scores, and size if it was an objective).

    Each row gets ``objectives`` (per task, then nodes), best fitness first.
    """
    refs = store.meta().get("references") or {}
    rows = [(r, o) for r in store.ranked()
            if r["label"] is None and (o := objectives(r, refs, tasks, complexity)) is not None]
    out = []
    for i in pareto_front([o for _, o in rows]):
        row, values = rows[i]
        shown = dict(zip(tasks, values))
        if complexity:
            shown["nodes"] = row["nodes"]
        out.append({**row, "objectives": shown})
    return out
