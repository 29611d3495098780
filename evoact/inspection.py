"""Describe a formula or a run's candidate: canonical form, LaTeX, size, properties, nearest known, lineage, results."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sympy as sp

from evoact.catalog import nearest_known
from evoact.formula import constant_values, parse, to_formula
from evoact.properties import activation_properties
from evoact.run import RunReader


def count_nodes(expr: sp.Expr) -> int:
    """Number of nodes of the expression tree (operators, functions, symbols and numbers)."""
    return sum(1 for _ in sp.preorder_traversal(expr))


def describe_formula(text: str, params: dict[str, float] | None = None, expr: sp.Expr | None = None) -> dict[str, Any]:
    """What a formula is: as given, canonical, LaTeX, node count, constants, properties and nearest known activations.

    Learnable constants take ``params`` (default 1) for the properties and the comparison. ``expr``: the text already
    parsed (it is parsed once, here, otherwise).
    """
    expr = parse(text) if expr is None else expr
    values = constant_values(expr, params)
    return {
        "input": text,
        "formula": to_formula(expr),
        "latex": sp.latex(expr),
        "nodes": count_nodes(expr),
        "constants": list(values),
        "constant_values": values,
        "properties": activation_properties(expr, values),
        "nearest_known": [{**asdict(m), "rediscovery": m.rediscovery} for m in nearest_known(expr, values)],
    }


def describe_candidate(
    run: RunReader, cid: int, params: dict[str, float] | None = None, expr: sp.Expr | None = None
) -> dict[str, Any]:
    """A run candidate: its formula description (constants at their trained values unless ``params`` says otherwise),
    status or failure reason, fitness as ``show`` ranks it, each task's validation and test measure (the first
    seed's) and its validation mean over the raced seeds, lineage and the baselines' fitness."""
    row = run.store.candidate(cid)
    if row is None:
        raise KeyError(f"{run.path}: no candidate with id {cid}")
    parents = [run.store.candidate(p) for p in row.parents]
    o = row.outcome
    return {
        **describe_formula(row.formula, {**run.constants(row), **(params or {})}, expr),
        "id": cid,
        "label": row.label,
        "status": o.status,
        "error": o.error,
        "duplicate_of": o.duplicate_of,
        "fitness": row.rank_fitness,  # as `show` ranks it: the raced mean where it raced
        "seeds": row.raced_seeds,
        "metrics": run.metrics,  # which of each task's scores count: val_acc/test_acc, or val_loss/test_loss
        "scores": {task: score.row() for task, score in o.scores.items()},  # as `show --json` gives them
        "task_means": {task: m.to_json() for task, m in run.task_means(row).items()},  # over raced seeds too
        "train_seconds": o.train_seconds,
        "learned": {k: list(v) for k, v in run.learned(row).items()},  # every task's layers, then raced seeds'
        "stage": o.stage,
        "equivalent_to": o.equivalent_to,
        "fingerprint": row.fingerprint,
        "generation": row.generation,
        "origin": row.origin,
        "genome": row.genome,
        "tree_nodes": row.nodes,  # the genome tree's size, as `show` ranks it ("nodes": the formula's)
        "parents": [{"id": p.id, "formula": p.formula, "fitness": p.rank_fitness} for p in parents if p],
        "baselines": {r.label: r.rank_fitness for r in run.store.baselines()},
    }
