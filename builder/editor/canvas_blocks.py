"""Blocks on the canvas: make a block from a selection, expand one use back into its body, and open a block's
body as a graph of its own to edit (the edit is written back into the definition, so it applies to every use).

A block made from a selection gets one `Input` per distinct producer outside the selection (port k in the
order they are met) and one `Output` fed by the one selected node that feeds the rest of the graph (or the
selection's one sink); a selection with two nodes feeding outward is refused, since a Block node passes on
one result.
"""

from __future__ import annotations

import copy

from builder.analysis.fixes import fresh_id
from builder.editor.canvas_edit import free_id
from builder.editor.layout import AUTO, LAYER_GAP, layered_layout
from builder.spec.blocks import param_ref
from builder.spec.spec import BlockDef, Edge, GraphSpec, Node


def _fresh_block_name(spec: GraphSpec) -> str:
    k = 1
    while f"block{k}" in spec.blocks:
        k += 1
    return f"block{k}"


def _few(names: list[str], most: int = 6) -> str:
    """At most `most` names, the rest counted: a selection of thousands makes a one-line notice."""
    return ", ".join(names[:most]) + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _outward_source(spec: GraphSpec, chosen: set[str]) -> tuple[str | None, str | None]:
    """(the selected node whose result leaves the selection, None) or (None, why the selection cannot be a block)."""
    leaving = list(dict.fromkeys(e.source for e in spec.edges if e.source in chosen and e.target not in chosen))
    if len(leaving) > 1:
        return None, f"{_few([repr(s) for s in leaving])} all feed nodes outside; a block passes on one result"
    if leaving:
        return leaving[0], None
    sinks = [n for n in chosen if not any(e.source == n and e.target in chosen for e in spec.edges)]
    if len(sinks) != 1:
        return None, f"the selection ends in {len(sinks)} nodes ({_few(sorted(sinks))}); a block ends in one"
    return sinks[0], None


def _selection_problem(spec: GraphSpec, ids: list[str]) -> str | None:
    if len(ids) < 2:
        return "select two or more nodes to make a block"
    for node_id in ids:
        node = spec.node(node_id)
        if node is None:
            return f"there is no node '{node_id}'"
        if node.op in ("Input", "Output"):
            return f"'{node_id}' is the network's {node.op}; it stays outside any block"
    return None


def make_block(spec: GraphSpec, ids: list[str]) -> tuple[GraphSpec, str | None, str | None]:
    """Turn the chosen nodes into a new block definition and one use of it. (spec, use id, None) or why not."""
    why_not = _selection_problem(spec, ids)
    if why_not:
        return spec, None, f"Not made a block: {why_not}"
    chosen = set(ids)
    result, why_not = _outward_source(spec, chosen)
    if why_not:
        return spec, None, f"Not made a block: {why_not}"
    producers = list(dict.fromkeys(e.source for e in spec.edges if e.target in chosen and e.source not in chosen))
    name, body = _fresh_block_name(spec), _body_of(spec, chosen, producers, result)
    out = spec.copy()
    use_id = fresh_id(out, "Block")
    xs = [float(spec.node(i).ui.get("x", 0)) for i in ids]
    ys = [float(spec.node(i).ui.get("y", 0)) for i in ids]
    out.blocks[name] = body
    kept_edges = [e for e in out.edges if e.source not in chosen and e.target not in chosen]
    wired_in = [Edge(p, use_id, k if len(producers) > 1 else None) for k, p in enumerate(producers)]
    wired_out = [Edge(use_id, e.target, e.port) for e in out.edges if e.source == result and e.target not in chosen]
    out.nodes = [n for n in out.nodes if n.id not in chosen]
    out.nodes.append(Node(use_id, "Block", {"block": name}, {"x": round(min(xs)), "y": round(sum(ys) / len(ys))}))
    out.edges = kept_edges + wired_in + wired_out
    return out, use_id, None


def _body_of(spec: GraphSpec, chosen: set[str], producers: list[str], result: str) -> BlockDef:
    """The chosen nodes with an Input per outside producer and an Output after `result`."""
    taken = set(chosen)
    input_ids = []
    for k in range(len(producers)):
        base = "x" if len(producers) == 1 else f"x{k + 1}"
        while base in taken:
            base += "_in"
        taken.add(base)
        input_ids.append(base)
    output_id = "out"
    while output_id in taken:
        output_id += "_"
    left = min(float(spec.node(i).ui.get("x", 0)) for i in chosen) - LAYER_GAP
    right = max(float(spec.node(i).ui.get("x", 0)) for i in chosen) + LAYER_GAP
    nodes = [Node(i, "Input", {"port": k}, {"x": round(left), "y": 130 * k}) for k, i in enumerate(input_ids)]
    nodes += [Node(n.id, n.op, copy.deepcopy(n.params), dict(n.ui)) for n in spec.nodes if n.id in chosen]
    nodes.append(Node(output_id, "Output", {}, {"x": round(right), "y": 0}))
    edges = []
    for e in spec.edges:
        if e.target in chosen:
            source = e.source if e.source in chosen else input_ids[producers.index(e.source)]
            edges.append(Edge(source, e.target, e.port))
    edges.append(Edge(result, output_id))
    return BlockDef({}, nodes, edges)


def _use_values(spec: GraphSpec, node: Node) -> tuple[str | None, dict, str | None]:
    name = node.params.get("block")
    if name not in spec.blocks:
        return None, {}, f"'{node.id}' uses block {name!r}, which is not defined"
    values = {**spec.blocks[name].params, **{k: v for k, v in node.params.items() if k != "block"}}
    missing = [k for k, v in values.items() if v is None]
    if missing:
        return None, {}, f"'{node.id}' sets no value for block parameter(s) {', '.join(missing)}"
    return name, values, None


def _substituted(params: dict, values: dict) -> dict:
    return {k: (values[param_ref(v)] if param_ref(v) in values else copy.deepcopy(v)) for k, v in params.items()}


def expand_use(spec: GraphSpec, use_id: str) -> tuple[GraphSpec, str | None]:
    """Replace one Block node by a copy of its body (ids `<use>_<inner>`, "$p" replaced by the use's values).
    The body goes where the use was, flagged for the canvas's layout (builder.editor.layout.AUTO), which lays it
    out and shifts the cards downstream of it to the right."""
    node = spec.node(use_id)
    if node is None or node.op != "Block":
        return spec, f"Not expanded: '{use_id}' is not a block"
    name, values, why_not = _use_values(spec, node)
    if why_not:
        return spec, f"Not expanded: {why_not}"
    body = body_view(spec, name)
    producers = spec.inputs_of(use_id)
    out, renamed, port_source = spec.copy(), {}, {}
    ux, uy = float(node.ui.get("x", 0)), float(node.ui.get("y", 0))
    x0 = min((float(n.ui.get("x", 0)) for n in body.nodes), default=0.0)
    y0 = min((float(n.ui.get("y", 0)) for n in body.nodes), default=0.0)
    for inner in body.nodes:
        if inner.op == "Input":
            port = int(inner.params.get("port", 0))
            port_source[inner.id] = producers[port] if port < len(producers) else None
            continue
        if inner.op == "Output":
            continue
        new_id = free_id(out, f"{use_id}_{inner.id}")
        renamed[inner.id] = new_id
        ui = {"x": round(ux + float(inner.ui.get("x", 0)) - x0), "y": round(uy + float(inner.ui.get("y", 0)) - y0)}
        ui[AUTO] = True
        out.nodes.append(Node(new_id, inner.op, _substituted(inner.params, values), ui))
    result = _resolve_output(body, renamed, port_source)
    out.edges = [e for e in out.edges if use_id not in (e.source, e.target)]
    for e in body.edges:
        if e.target in renamed:
            source = renamed.get(e.source) or port_source.get(e.source)
            if source is not None:
                out.edges.append(Edge(source, renamed[e.target], e.port))
    out.edges += [Edge(result, e.target, e.port) for e in spec.edges if e.source == use_id and result]
    out.nodes = [n for n in out.nodes if n.id != use_id]
    return out, None


def _resolve_output(body: GraphSpec, renamed: dict, port_source: dict) -> str | None:
    """The node (new id, or an outside producer) feeding the body's first Output."""
    output = next((n for n in body.nodes if n.op == "Output"), None)
    feeding = next((e.source for e in body.edges if output is not None and e.target == output.id), None)
    return renamed.get(feeding) or port_source.get(feeding)


def body_view(spec: GraphSpec, name: str) -> GraphSpec:
    """A block's body as a graph to draw and edit, laid out if its nodes have no positions yet."""
    block = spec.blocks[name].copy()
    view = GraphSpec(name=name, nodes=block.nodes, edges=block.edges, version=spec.version)
    if any(not {"x", "y"} <= set(n.ui) for n in view.nodes):
        view = layered_layout(view)
    return view


def with_body(spec: GraphSpec, name: str, body: GraphSpec) -> GraphSpec:
    """`spec` with block `name`'s body replaced by `body` (its parameters kept)."""
    out = spec.copy()
    params = out.blocks[name].params
    out.blocks[name] = BlockDef(params, [Node(n.id, n.op, n.params, n.ui) for n in body.nodes], list(body.edges))
    return out


def uses_of(spec: GraphSpec, name: str) -> int:
    """How many nodes use block `name` (at the top level and inside other blocks)."""
    count = sum(1 for n in spec.nodes if n.op == "Block" and n.params.get("block") == name)
    for block in spec.blocks.values():
        count += sum(1 for n in block.nodes if n.op == "Block" and n.params.get("block") == name)
    return count
