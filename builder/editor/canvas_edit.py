"""The canvas's edits on a GraphSpec: add at a spot or onto an edge, connect to a numbered port, delete a
selection, paste a copy. Like `builder/editor/edit.py`, every function returns a new spec (or the spec unchanged and
a one-line reason); nothing raises on a user's mistake.

Ports: a merge op (Add, Multiply, Concat: more than one input) shows one numbered input port per wired input
plus one free port. Its incoming edges always carry explicit ports 0..n-1 in the order the op reads them, so
the order is visible on the canvas; connecting to port k inserts there and moves the later inputs down one.
"""

from __future__ import annotations

import copy

from builder.analysis.fixes import fresh_id
from builder.editor.edit import add_edge, starter_params
from builder.editor.layout import NODE_WIDTH, flag_for_layout
from builder.editor.palette_blocks import PALETTE_BLOCKS
from builder.library.block_library import blocks_for
from builder.ops.catalog import CATALOG
from builder.spec.spec import Edge, GraphSpec, Node, parse_spec

CARD_HALF_HEIGHT = 40  # a card is about 80 px high on the canvas: a drop point becomes its centre


def op_is_merge(op_name: str | None) -> bool:
    """Whether an op takes several inputs (its ports are numbered)."""
    op = CATALOG.get(op_name) if op_name is not None else None
    return op is not None and (op.max_inputs is None or op.max_inputs > 1)


def is_merge(spec: GraphSpec, node_id: str) -> bool:
    """Whether the node takes several inputs (its ports are numbered)."""
    node = spec.node(node_id)
    return op_is_merge(node.op if node is not None else None)


def _reading_order(ranked: list[tuple]) -> list[Edge]:
    return [e for _, _, e in sorted(ranked, key=lambda r: (r[0], r[1]))]


def incoming(spec: GraphSpec, node_id: str) -> list[Edge]:
    """The node's incoming edges in the order it reads them (explicit ports first, then wiring order)."""
    ranked = [(e.port if e.port is not None else 10**9, i, e) for i, e in enumerate(spec.edges) if e.target == node_id]
    return _reading_order(ranked)


def incoming_by_node(spec: GraphSpec) -> dict[str, list[Edge]]:
    """Every node's incoming edges in reading order, in one pass over the edges (what `incoming` gives one node)."""
    ranked: dict[str, list[tuple]] = {}
    for i, e in enumerate(spec.edges):
        ranked.setdefault(e.target, []).append((e.port if e.port is not None else 10**9, i, e))
    return {target: _reading_order(items) for target, items in ranked.items()}


def number_ports(spec: GraphSpec, node_id: str) -> None:
    """Give a merge node's incoming edges the ports 0..n-1 in reading order (in place)."""
    number_ports_of(spec, [node_id])


def number_ports_of(spec: GraphSpec, node_ids) -> None:
    """number_ports for several nodes, in one pass over the edges (in place)."""
    ops = {n.id: n.op for n in reversed(spec.nodes)}
    merges = {n for n in node_ids if op_is_merge(ops.get(n))}
    if not merges:
        return
    for target, edges in incoming_by_node(spec).items():
        if target in merges:
            for k, edge in enumerate(edges):
                edge.port = k


def edge_ids(spec: GraphSpec) -> dict[str, Edge]:
    """A stable id per edge, `source->target:port` (port 0 for a single-input op), `#2`... for repeats. Linear:
    each base id keeps the number of its next repeat (a base ends in ':<digits>', a repeat's id in '#<digits>',
    so one never takes the other's; the loop is a guard)."""
    ids: dict[str, Edge] = {}
    repeats: dict[str, int] = {}
    for edge in spec.edges:
        base = f"{edge.source}->{edge.target}:{edge.port or 0}"
        k = repeats.get(base, 1)
        edge_id = base if k == 1 else f"{base}#{k}"
        while edge_id in ids:
            k += 1
            edge_id = f"{base}#{k}"
        repeats[base] = k + 1
        ids[edge_id] = edge
    return ids


def add_at(spec: GraphSpec, op: str, x: float, y: float) -> tuple[GraphSpec, str | None, str | None]:
    """A new `op` node (or a built-in block of the palette) at (x, y), unwired. (spec, new id, None) or why not."""
    if op in PALETTE_BLOCKS:
        return _add_library_block(spec, op, x, y)
    if op not in CATALOG or op in ("Output", "Block", "Recurrent"):
        return spec, None, f"'{op}' is not a layer that can be added here"
    out = spec.copy()
    new_id = fresh_id(out, op)
    out.nodes.append(Node(new_id, op, starter_params(op), {"x": round(x), "y": round(y)}))
    return out, new_id, None


def _add_library_block(spec: GraphSpec, entry: str, x: float, y: float) -> tuple[GraphSpec, str | None, None]:
    """A use of a built-in block (its definition added to the spec's blocks unless one of that name is there)."""
    item = PALETTE_BLOCKS[entry]
    out = spec.copy()
    parsed, _ = parse_spec(
        {"version": 2, "name": "library", "nodes": [], "edges": [], "blocks": blocks_for(item.block)}
    )
    for name, definition in parsed.blocks.items():
        out.blocks.setdefault(name, definition)
    new_id = fresh_id(out, item.id_base)
    out.nodes.append(Node(new_id, item.op, copy.deepcopy(item.params), {"x": round(x), "y": round(y)}))
    return out, new_id, None


def insert_on_edge(
    spec: GraphSpec, op: str, edge_id: str, x: float, y: float
) -> tuple[GraphSpec, str | None, str | None]:
    """A new `op` node dropped onto an edge a -> b: becomes a -> new -> b (b keeps the port a had)."""
    edge = edge_ids(spec).get(edge_id)
    if edge is None:
        return spec, None, f"there is no edge '{edge_id}' any more"
    if op == "Input":
        return spec, None, "an Input cannot go between two layers: nothing can feed it"
    out, new_id, why_not = add_at(spec, op, x, y)
    if why_not:
        return spec, None, why_not
    flag_for_layout(out.node(new_id))  # the canvas lays it out with ELK, making room for it
    index = spec.edges.index(edge)
    old = out.edges[index]
    out.edges[index] = Edge(new_id, old.target, old.port)
    out.edges.insert(index, Edge(old.source, new_id))
    return out, new_id, None


def feeds(spec: GraphSpec, start: str, goal: str) -> bool:
    """Whether a path of edges leads from `start` to `goal` (one pass over the edges, then a walk: linear)."""
    after: dict[str, list[str]] = {}
    for edge in spec.edges:
        after.setdefault(edge.source, []).append(edge.target)
    seen, todo = {start}, [start]
    while todo:
        for nxt in after.get(todo.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return start == goal


def connect(spec: GraphSpec, source: str, target: str, port: int | None) -> tuple[GraphSpec, str | None]:
    """Wire source -> target at `port`. A merge node: inserted there, later inputs move down one. Any other node
    takes one input: a new connection replaces the one it had (one edit, so one Undo puts the old one back).
    A connection that would close a cycle is refused, naming both nodes."""
    out, why_not = add_edge(spec, source, target)
    if why_not:
        return spec, why_not
    if feeds(spec, target, source):
        return spec, f"'{source}' -> '{target}' would close a cycle: '{target}' already feeds '{source}'"
    new_edge = out.edges[-1]
    if is_merge(out, target):
        ordered = [e for e in incoming(out, target) if e is not new_edge]
        k = len(ordered) if port is None else max(0, min(int(port), len(ordered)))
        ordered.insert(k, new_edge)
        for i, edge in enumerate(ordered):
            edge.port = i
    else:
        out.edges = [e for e in out.edges if e is new_edge or e.target != target]
    return out, None


def delete_selection(spec: GraphSpec, node_ids: list[str], edge_id_list: list[str]) -> GraphSpec:
    """Delete these nodes (with their edges) and these edges; merge ports are renumbered without gaps. One pass
    over the nodes and one over the edges, whatever the selection's size."""
    ids = edge_ids(spec)
    doomed = {id(ids[e]) for e in edge_id_list if e in ids}
    gone = set(node_ids) & {n.id for n in spec.nodes}
    out = spec.copy()
    out.nodes = [n for n in out.nodes if n.id not in gone]
    touched, kept = {ids[e].target for e in edge_id_list if e in ids}, []
    for original, copied in zip(spec.edges, out.edges):
        if id(original) in doomed:
            continue
        if copied.source in gone or copied.target in gone:
            touched.add(copied.target)
            continue
        kept.append(copied)
    out.edges = kept
    number_ports_of(out, touched - gone)
    return out


def paste(spec: GraphSpec, node_ids: list[str], dx: float, dy: float) -> tuple[GraphSpec, list[str]]:
    """Copies of these nodes with fresh ids, moved by (dx, dy), with the edges among them. Returns the new ids.
    Linear in the graph and the selection (builder.editor.session.EditorSession.paste also holds it to the node cap)."""
    wanted = set(node_ids)
    originals = [n for n in spec.nodes if n.id in wanted]
    out, renamed = spec.copy(), {}
    taken = {n.id for n in out.nodes}
    for node in originals:
        new_id = free_id_among(taken, f"{node.id}_copy")
        taken.add(new_id)
        renamed[node.id] = new_id
        ui = {**node.ui, "x": round(float(node.ui.get("x", 0)) + dx), "y": round(float(node.ui.get("y", 0)) + dy)}
        out.nodes.append(Node(new_id, node.op, copy.deepcopy(node.params), ui))
    for edge in spec.edges:
        if edge.source in renamed and edge.target in renamed:
            out.edges.append(Edge(renamed[edge.source], renamed[edge.target], edge.port))
    return out, [renamed[n.id] for n in originals]


def free_id(spec: GraphSpec, wanted: str) -> str:
    """`wanted` if no node has it, else `wanted_2`, `wanted_3`, ... (ids stay valid: lower-case, digits and _)."""
    return free_id_among({n.id for n in spec.nodes}, wanted)


def free_id_among(taken: set[str], wanted: str) -> str:
    """`wanted` if not in `taken`, else `wanted_2`, `wanted_3`, ..."""
    if wanted not in taken:
        return wanted
    k = 2
    while f"{wanted}_{k}" in taken:
        k += 1
    return f"{wanted}_{k}"


def add_from_palette(spec: GraphSpec, op: str, x: float, y: float, on_edge: str | None):
    """The palette's drop at (x, y), the pointer in flow coordinates, which becomes the card's centre: onto an
    edge (inserted there) or onto the pane. (spec, new id or None, why not)."""
    x, y = x - NODE_WIDTH / 2, y - CARD_HALF_HEIGHT
    if on_edge:
        return insert_on_edge(spec, op, on_edge, x, y)
    return add_at(spec, op, x, y)
