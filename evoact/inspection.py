"""Describe a formula or a run's candidate: canonical form, LaTeX, size, lineage and results."""

from __future__ import annotations

from typing import Any

import sympy as sp

from evoact.formula import parse, to_formula
from evoact.store import RunStore


def count_nodes(expr: sp.Expr) -> int:
    """Number of nodes of the expression tree (operators, functions, symbols and numbers)."""
    return sum(1 for _ in sp.preorder_traversal(expr))


def describe_formula(text: str) -> dict[str, Any]:
    """What a formula is: as given, canonical, LaTeX, node count and learnable constants."""
    expr = parse(text)
    return {
        "input": text, "formula": to_formula(expr), "latex": sp.latex(expr), "nodes": count_nodes(expr),
        "constants": sorted(s.name for s in expr.free_symbols if s.name != "x"),
    }


def describe_candidate(store: RunStore, cid: int) -> dict[str, Any]:
    """A run candidate: its formula description, status or failure reason, lineage and the baselines' fitness."""
    row = store.candidate(cid)
    if row is None:
        raise KeyError(f"{store.path}: no candidate with id {cid}")
    parents = [store.candidate(p) for p in row["parents"]]
    return {
        **describe_formula(row["formula"]),
        "id": cid, "label": row["label"], "status": row["status"], "error": row["error"],
        "duplicate_of": row["duplicate_of"], "fitness": row["fitness"], "val_acc": row["val_acc"],
        "test_acc": row["test_acc"], "train_seconds": row["train_seconds"], "learned": row["learned"],
        "generation": row["generation"], "origin": row["origin"], "genome": row["genome"],
        "parents": [{"id": p["id"], "formula": p["formula"], "fitness": p["fitness"]} for p in parents if p],
        "baselines": {r["label"]: r["fitness"] for r in store.candidates() if r["label"]},
    }
