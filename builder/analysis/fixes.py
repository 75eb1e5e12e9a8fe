"""Carry out a suggested Fix on a spec, returning a new spec (the original is left untouched)."""

from __future__ import annotations

import re

from builder.ops.catalog import CATALOG
from builder.spec.issues import Fix
from builder.spec.spec import Edge, GraphSpec, Node


def fresh_id(spec: GraphSpec, op: str) -> str:
    """A node id not yet used in `spec`, derived from the op name: flatten, flatten_2, ..."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", op.replace("ReLU", "Relu"))
    base = words.lower()  # MaxPool2d -> max_pool2d, GRU -> gru, LeakyReLU -> leaky_relu
    used = {n.id for n in spec.nodes}
    if base not in used:
        return base
    k = 2
    while f"{base}_{k}" in used:
        k += 1
    return f"{base}_{k}"


def _midpoint(a: Node | None, b: Node | None) -> dict:
    """Between the two nodes for now, flagged for the canvas's layout ("auto", builder.editor.layout.AUTO: the
    canvas places it with ELK and makes room for it, so it overlaps nothing)."""
    if not a or not b or not {"x", "y"} <= set(a.ui) or not {"x", "y"} <= set(b.ui):
        return {"auto": True}
    return {"x": (a.ui["x"] + b.ui["x"]) / 2, "y": (a.ui["y"] + b.ui["y"]) / 2 + 40, "auto": True}


def insert_between(spec: GraphSpec, source: str, target: str, op: str, params: dict | None = None) -> GraphSpec:
    """Put a new `op` node on every edge source -> target. Returns the new spec."""
    out = spec.copy()
    new_id = fresh_id(out, op)
    ui = _midpoint(out.node(source), out.node(target))
    out.nodes.append(Node(new_id, op, dict(params or {}), ui))
    edges = []
    for e in out.edges:
        if e.source == source and e.target == target:
            edges += [Edge(source, new_id), Edge(new_id, target, e.port)]
        else:
            edges.append(e)
    out.edges = edges
    return out


def replace_op(spec: GraphSpec, node_id: str, op: str) -> GraphSpec:
    """Change a node's op, keeping its edges and whichever params the new op also has."""
    out = spec.copy()
    node = out.node(node_id)
    allowed = {p.name for p in CATALOG[op].params}
    node.op = op
    node.params = {k: v for k, v in node.params.items() if k in allowed}
    return out


def remove_duplicate_edges(spec: GraphSpec, source: str, target: str) -> GraphSpec:
    """Keep the first edge source -> target and drop its copies (builder/analysis/duplicate_edges.py). Linear."""
    out, seen = spec.copy(), False
    kept = []
    for e in out.edges:
        if e.source == source and e.target == target:
            if seen:
                continue
            seen = True
        kept.append(e)
    out.edges = kept
    return out


def apply_fix(spec: GraphSpec, fix: Fix) -> GraphSpec:
    if fix.kind == "remove_duplicate_edges":
        return remove_duplicate_edges(spec, fix.source, fix.target)
    if fix.kind == "insert":
        return insert_between(spec, fix.source, fix.target, fix.op, fix.params)
    if fix.kind == "replace_op":
        return replace_op(spec, fix.target, fix.op)
    raise ValueError(f"unknown fix kind {fix.kind!r}")
