"""What the canvas component draws for the autograd graph of one step (engine/probes/autograd_graph.py).

    data = autograd_payload(graph, expanded={"fc1"}, theme_name="light")
    flow_canvas(data, key="autograd_canvas", on_event=...)   # drawn by src/AutogradGraph.jsx, read-only

One group per user node (and "loss"): collapsed, it is one card; expanded (its id in `expanded`), it holds its
operations and parameters, each a card. Units are "g:<node id>" (a group) and "o:<op id>" (an operation);
an edge joins the units that hold its ends, once per pair, and carries the tensor's shape. Every card is
tinted by its gradient norm on a log scale with the Train page's colours (ui/train/network_view.py), cards
without a gradient keep the plain card colour; the legend gives the scale's ends. Each card carries its
statistics as lines of text, shown by the component when it is clicked. The layout (ELK, compound nodes) is
made in the browser (src/autogradLayout.js); `layout_key` changes only when what is laid out changes.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING

from ui.train.network_view import log_bounds, tint

if TYPE_CHECKING:
    from engine.probes.autograd_graph import AutogradGraph, Operation

GROUP_PREFIX, OP_PREFIX = "g:", "o:"
MODE = "autograd"  # the payload's mode: the component draws AutogradGraph.jsx instead of the editor
WHAT = "gradient norm"


def short_name(op: Operation) -> str:
    """What an operation's card says: the parameter of a leaf, the torch name without "Backward0" otherwise."""
    if op.param:
        return op.param
    return op.name.removesuffix("0").removesuffix("Backward")


def shape_text(shape: list[int]) -> str:
    return "×".join(str(s) for s in shape) if shape else "scalar"


def norm_text(norm: float | None) -> str:
    return "no gradient" if norm is None else f"|g| {norm:.2g}"  # short: a card's width follows its text


def _norm(op: Operation) -> float | None:
    return op.gradient["norm"] if op.gradient else None


def op_stats(op: Operation) -> list[str]:
    """The lines the component shows when the operation is clicked."""
    lines = [f"{op.name} in {op.group}" + (f", parameter {op.param}" if op.param else "")]
    if op.forward:
        f = op.forward
        lines.append(
            f"value {shape_text(f['shape'])}: mean {f['mean']:.4g}, std {f['std']:.4g}, "
            f"min {f['min']:.4g}, max {f['max']:.4g}"
        )
    else:
        lines.append("an internal operation: its forward value is not kept")
    if op.gradient:
        g = op.gradient
        lines.append(f"gradient norm {g['norm']:.4g}, mean {g['mean']:.4g}, std {g['std']:.4g}")
    else:
        lines.append("no gradient reached this operation")
    return lines


def _out_shapes(graph: AutogradGraph) -> dict[str, list[int]]:
    """Each op's output shape: its forward value's, else the first edge out of it."""
    shapes: dict[str, list[int]] = {}
    for edge in graph.edges:
        shapes.setdefault(edge.source, edge.shape)
    for op in graph.operations:
        if op.forward:
            shapes[op.id] = op.forward["shape"]
    return shapes


def _fill(norm: float | None, bounds: tuple[float, float], theme_name: str) -> str | None:
    if norm is None or norm <= 0:
        return None
    low, high = bounds
    return tint((math.log10(norm) - low) / (high - low), theme_name)


def _groups(graph: AutogradGraph, expanded: set[str], bounds, theme_name: str) -> list[dict]:
    groups = []
    for node_id, group in graph.groups.items():
        count = len(group.members)
        operations = f"{count} operation{'s' if count != 1 else ''}"
        largest = "none" if group.grad_norm is None else f"{group.grad_norm:.4g}"
        stats = [f"{node_id} ({group.op}): {operations}", f"largest gradient norm inside: {largest}"]
        meta = f"{count} op{'s' if count != 1 else ''} · {norm_text(group.grad_norm)}"
        groups.append(
            {
                "id": node_id,
                "op": group.op,
                "expanded": node_id in expanded,
                "meta": meta,
                "fill": _fill(group.grad_norm, bounds, theme_name),
                "stats": stats,
            }
        )
    return groups


def _ops(graph: AutogradGraph, expanded: set[str], bounds, theme_name: str) -> list[dict]:
    shapes = _out_shapes(graph)
    ops = []
    for op in sorted((op for op in graph.operations if op.group in expanded), key=lambda op: op.level):
        meta = f"{shape_text(shapes.get(op.id, []))} · {norm_text(_norm(op))}"
        ops.append(
            {
                "id": op.id,
                "group": op.group,
                "label": short_name(op),
                "param": op.param is not None,
                "meta": meta,
                "fill": _fill(_norm(op), bounds, theme_name),
                "stats": op_stats(op),
            }
        )
    return ops


def unit_edges(graph: AutogradGraph, expanded: set[str]) -> list[dict]:
    """One edge per pair of units the graph joins (forward direction), labelled with the tensor's shape."""
    unit_of = {}
    for node_id, group in graph.groups.items():
        for member in group.members:
            unit_of[member] = OP_PREFIX + member if node_id in expanded else GROUP_PREFIX + node_id
    seen: dict[tuple[str, str], list[int]] = {}
    for edge in graph.edges:
        pair = (unit_of[edge.source], unit_of[edge.target])
        if pair[0] != pair[1] and pair not in seen:
            seen[pair] = edge.shape
    return [
        {"id": f"e{i}", "source": a, "target": b, "shape": shape_text(shape)}
        for i, ((a, b), shape) in enumerate(seen.items())
    ]


def _legend(bounds: tuple[float, float], theme_name: str) -> dict:
    low, high = bounds
    return {
        "what": WHAT,
        "low": f"{10**low:.1e}",
        "high": f"{10**high:.1e}",
        "stops": [tint(t, theme_name) for t in (0.0, 0.35, 0.65, 1.0)],
        "note": "log scale; plain cards: no gradient reached them",
    }


def _layout_key(groups: list[dict], ops: list[dict], edges: list[dict]) -> str:
    shown = [[g["id"], g["op"], g["meta"], g["expanded"]] for g in groups]
    shown += [[o["id"], o["group"], o["label"], o["meta"]] for o in ops]
    text = json.dumps([shown, [[e["source"], e["target"]] for e in edges]])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def autograd_payload(graph: AutogradGraph, expanded: set[str], theme_name: str, height: int = 560) -> dict:
    """The component's data for `graph` with the groups in `expanded` shown as their operations."""
    expanded = expanded & set(graph.groups)
    norms = {op.id: n for op in graph.operations if (n := _norm(op)) is not None}
    bounds = log_bounds(norms, None)
    groups = _groups(graph, expanded, bounds, theme_name)
    ops = _ops(graph, expanded, bounds, theme_name)
    edges = unit_edges(graph, expanded)
    return {
        "mode": MODE,
        "read_only": True,
        "theme": theme_name,
        "height": height,
        "title": f"{len(graph.operations)} operations in {len(graph.groups)} nodes",
        "groups": groups,
        "ops": ops,
        "edges": edges,
        "legend": _legend(bounds, theme_name),
        "layout_key": _layout_key(groups, ops, edges),
    }
