"""Model summary rows and memory estimates, from an Analysis (pure numbers for the UI and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from builder.opdef import numel
from builder.validate import Analysis

BYTES_PER_FLOAT = 4


@dataclass(frozen=True)
class SummaryRow:
    id: str
    op: str
    output_shape: list[int] | None
    params: int


def summary_rows(a: Analysis) -> list[SummaryRow]:
    ops = {n.id: n.op for n in a.spec.nodes}
    order = a.order or [n.id for n in a.spec.nodes]
    return [
        SummaryRow(nid, ops[nid], list(a.shapes[nid]) if nid in a.shapes else None, a.param_counts.get(nid, 0))
        for nid in order
        if nid in ops
    ]


def summary_json(a: Analysis) -> dict:
    rows = summary_rows(a)
    return {
        "total_params": a.total_params,
        "nodes": [{"id": r.id, "op": r.op, "output_shape": r.output_shape, "params": r.params} for r in rows],
    }


def memory_estimate(a: Analysis, batch_size: int) -> dict[str, int]:
    """Bytes for weights (+ gradients and two Adam moments when training) and forward activations."""
    weights = a.total_params * BYTES_PER_FLOAT
    activations = sum(numel(s) for s in a.shapes.values()) * batch_size * BYTES_PER_FLOAT
    return {"weights": weights, "training_state": 3 * weights, "activations": activations}


def format_table(a: Analysis) -> str:
    rows = summary_rows(a)
    cells = [(r.id, r.op, "?" if r.output_shape is None else str(r.output_shape), f"{r.params:,}") for r in rows]
    head = ("node", "op", "output shape", "params")
    widths = [max(len(c[i]) for c in cells + [head]) for i in range(4)]
    line = lambda c: "  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths)))  # noqa: E731
    return "\n".join([line(head), *map(line, cells), f"total parameters: {a.total_params:,}"])
