"""What the canvas component draws, made from a spec and its analysis: the payload's nodes, edges and palette
(the protocol is in docs/ARCHITECTURE.md, "The canvas component"). Pure data: the component only draws it.
"""

from __future__ import annotations

from collections import Counter

from builder.analysis.validate import Analysis
from builder.editor.canvas_edit import edge_ids, op_is_merge
from builder.editor.palette_blocks import PALETTE_BLOCKS
from builder.ops.catalog import CATALOG, ops_by_group
from builder.ops.opdef import fmt
from builder.spec.spec import GraphSpec

GROUP_COLOURS = {  # accents that read on a light and a dark card
    "io": "#2e9d48",
    "dense": "#2f7ed8",
    "normalisation": "#00a3b4",
    "convolution": "#8e44c9",
    "activation": "#ef7d00",
    "recurrent": "#d0397a",
    "merge": "#8d6e63",
    "attention": "#5c6bc0",
    "unsupervised": "#6fa23a",
    "blocks": "#607d8b",
}
UNKNOWN_OP = "#d32f2f"
PALETTE_HIDDEN = {"Output", "Block", "Recurrent"}  # Output lives inside blocks; blocks and cells come below


def key_params(op_name: str, params: dict) -> str:
    """The op's key parameters, leaving out optional ones still at their default."""
    op = CATALOG.get(op_name)
    if op is None:
        return ""
    parts = []
    for name in op.key_params:
        value, param = params.get(name), op.param(name)
        if value is None or (param is not None and not param.required and value == param.default):
            continue
        shown = fmt(value) if isinstance(value, list | tuple) else str(value).lower()
        parts.append(f"{name}={shown}")
    if op_name == "Block":
        parts = [f"{params.get('block', '?')}"] + [f"{k}={v}" for k, v in params.items() if k != "block"]
    return " · ".join(parts)


def short(message: str, limit: int = 90) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def block_inputs(node, spec: GraphSpec, analysis: Analysis) -> list[str] | None:
    """A block use's body Inputs in port order (from the analysed use, else the definition); None when unknown."""
    use = analysis.uses.get(node.id)
    if use is not None and getattr(use.body, "input_ids", None):
        return list(use.body.input_ids)
    block = spec.blocks.get(node.params.get("block"))
    if block is None:
        return None
    inputs = sorted((n for n in block.nodes if n.op == "Input"), key=lambda n: n.params.get("port", 0))
    return [n.id for n in inputs] or None


def _ports(node, wired: int, body_inputs: list[str] | None = None) -> tuple[int, list[str] | None]:
    """(input ports, their labels): a block use one per body Input (labelled by their ids when several); other
    merge ops one per wired input (`wired`) plus a free one, numbered from 1."""
    op = CATALOG.get(node.op)
    if node.op == "Input" or (op is not None and op.max_inputs == 0):
        return 0, None
    if node.op == "Block" and body_inputs:
        return len(body_inputs), (list(body_inputs) if len(body_inputs) > 1 else None)
    if not op_is_merge(node.op):
        return 1, None
    n = wired + 1
    return n, [str(k + 1) for k in range(n)]


def _node(node, wired: int, analysis: Analysis, problems: list, spec: GraphSpec) -> dict:
    shape = analysis.shapes.get(node.id)
    count = analysis.param_counts.get(node.id, 0)
    op = CATALOG.get(node.op)
    inputs, labels = _ports(node, wired, block_inputs(node, spec, analysis) if node.op == "Block" else None)
    tooltip = "\n".join(p.message for p in problems) or (op.doc if op is not None else "")
    return {
        "id": node.id,
        "op": node.op,
        "colour": GROUP_COLOURS.get(op.group, "#777") if op is not None else UNKNOWN_OP,
        "params": key_params(node.op, analysis.params.get(node.id, node.params)),
        "shape": fmt(shape) if shape is not None else "?",
        "count": f"{count:,} p" if count else "",
        "problem": short(problems[0].message) + (f" (+{len(problems) - 1})" if len(problems) > 1 else "")
        if problems
        else None,
        "tooltip": tooltip,
        "inputs": inputs,
        "port_labels": labels,
        "outputs": 1,
        "block": node.op == "Block",
        "x": float(node.ui.get("x", 0)),
        "y": float(node.ui.get("y", 0)),
        "fill": None,
        "badge": None,
    }


def picture_nodes(spec: GraphSpec, analysis: Analysis) -> list[dict]:
    """The cards, in one pass over the issues, the edges and the nodes (linear in the graph)."""
    problems: dict[str, list] = {}
    for issue in analysis.issues:
        if issue.severity == "error" or issue.node is not None:
            problems.setdefault(issue.node, []).append(issue)
    wired = Counter(e.target for e in spec.edges)
    return [_node(node, wired[node.id], analysis, problems.get(node.id, []), spec) for node in spec.nodes]


def picture_edges(spec: GraphSpec, analysis: Analysis) -> list[dict]:
    """The wires, linear in the graph (ids by builder.editor.canvas_edit.edge_ids)."""
    ops = {n.id: n.op for n in reversed(spec.nodes)}  # a repeated id is the first node's, as spec.node finds it
    edges = []
    for edge_id, edge in edge_ids(spec).items():
        shape = analysis.shapes.get(edge.source)
        port = edge.port if op_is_merge(ops.get(edge.target)) else 0  # a block use's port k: its body's Input k
        label = fmt(shape) if shape is not None else "?"
        edges.append({"id": edge_id, "source": edge.source, "target": edge.target, "port": port or 0, "label": label})
    return edges


def palette() -> list[dict]:
    """The catalog's ops by group, for the component's palette."""
    groups = []
    for group, ops in ops_by_group().items():
        shown = [{"name": op.name, "doc": op.doc} for op in ops if op.name not in PALETTE_HIDDEN]
        if shown:
            groups.append({"group": group, "colour": GROUP_COLOURS.get(group, "#777"), "ops": shown})
    library = [{"name": name, "doc": item.doc} for name, item in PALETTE_BLOCKS.items()]
    groups.append({"group": "blocks", "colour": GROUP_COLOURS["blocks"], "ops": library})
    return groups
