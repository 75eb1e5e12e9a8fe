"""Editing a GraphSpec the way the Build page does: add, wire, delete, rename, set a parameter.

Every function returns a new spec (the one passed in is left untouched). A user mistake (a bad id, a
self-loop) comes back as a message string, never as an exception.
"""

from __future__ import annotations

import re

from builder.analysis.fixes import fresh_id
from builder.analysis.validate import ID_PATTERN
from builder.editor.layout import LAYER_GAP, NODE_WIDTH, ROW_GAP
from builder.ops.catalog import CATALOG
from builder.ops.opdef import REQUIRED, Param, check_value
from builder.spec.spec import Edge, GraphSpec, Node

# Starting values for parameters the catalog marks as required, so a freshly added node is valid.
STARTER_VALUES = {
    "shape": [2],
    "out_features": 16,
    "out_channels": 8,
    "kernel_size": 3,
    "hidden_size": 16,
    "num_embeddings": 32,
    "embedding_dim": 16,
    "num_heads": 2,
    "nhead": 2,
    "n_hidden": 16,
    "rows": 4,
    "cols": 4,
}


def starter_params(op: str) -> dict:
    """Values for the op's required parameters (defaults cover the rest)."""
    params = {}
    for p in CATALOG[op].params:
        if p.required:
            params[p.name] = STARTER_VALUES.get(p.name, max(1, int(p.min or 1)))
    return params


def _position(node: Node | None) -> tuple[float, float] | None:
    if node is None or not {"x", "y"} <= set(node.ui):
        return None
    return float(node.ui["x"]), float(node.ui["y"])


def free_spot(spec: GraphSpec, near: str | None) -> dict:
    """A position right of `near` (or right of everything) that no other node occupies."""
    anchor = _position(spec.node(near)) if near else None
    taken = [p for p in (_position(n) for n in spec.nodes) if p]
    if anchor is None:
        right = max((x for x, _ in taken), default=-LAYER_GAP)
        anchor = (right, min((y for _, y in taken), default=0.0))
    x, y = anchor[0] + LAYER_GAP, anchor[1]
    while any(abs(x - tx) < LAYER_GAP * 0.6 and abs(y - ty) < ROW_GAP * 0.8 for tx, ty in taken):
        y += ROW_GAP
    return {"x": x, "y": y}


def make_room(spec: GraphSpec, node_id: str) -> GraphSpec:
    """Move `node_id` down, in row steps, until it overlaps no other node (a fix inserts at a midpoint)."""
    node = spec.node(node_id)
    here = _position(node)
    if here is None:
        return spec
    others = [p for p in (_position(n) for n in spec.nodes if n.id != node_id) if p]
    x, y = here
    while any(abs(x - ox) < NODE_WIDTH + 20 and abs(y - oy) < ROW_GAP * 0.8 for ox, oy in others):
        y += ROW_GAP / 2
    return move_nodes(spec, {node_id: (x, y)}) if y != here[1] else spec


def add_node(spec: GraphSpec, op: str, after: str | None = None, wire: bool = False) -> tuple[GraphSpec, str]:
    """Add a new `op` node next to `after`; with `wire`, connect after -> new node. Returns (spec, new id)."""
    out = spec.copy()
    new_id = fresh_id(out, op)
    out.nodes.append(Node(new_id, op, starter_params(op), free_spot(out, after)))
    if wire and after and out.node(after) is not None and op != "Input":
        out.edges.append(Edge(after, new_id))
    return out, new_id


def delete_node(spec: GraphSpec, node_id: str) -> GraphSpec:
    out = spec.copy()
    out.nodes = [n for n in out.nodes if n.id != node_id]
    out.edges = [e for e in out.edges if node_id not in (e.source, e.target)]
    return out


def delete_edge(spec: GraphSpec, source: str, target: str) -> GraphSpec:
    """Remove one edge source -> target (the last one, if the pair is wired twice)."""
    out = spec.copy()
    for i in range(len(out.edges) - 1, -1, -1):
        if (out.edges[i].source, out.edges[i].target) == (source, target):
            del out.edges[i]
            break
    return out


def add_edge(spec: GraphSpec, source: str, target: str) -> tuple[GraphSpec, str | None]:
    """Wire source -> target. Returns (spec, None) or (the spec unchanged, why not)."""
    if source == target:
        return spec, f"cannot connect '{source}' to itself"
    for end in (source, target):
        if spec.node(end) is None:
            return spec, f"there is no node '{end}'"
    if spec.node(target).op == "Input":
        return spec, f"'{target}' is the Input: nothing can feed it"
    out = spec.copy()
    out.edges.append(Edge(source, target))
    return out, None


def rename_node(spec: GraphSpec, old: str, new: str) -> tuple[GraphSpec, str | None]:
    """Give node `old` the id `new`, rewiring its edges. Returns (spec, None) or (spec unchanged, why not)."""
    new = new.strip()
    if new == old:
        return spec, None
    if not ID_PATTERN.fullmatch(new):
        return spec, f"'{new}' is not a valid id: use lower-case letters, digits and _, not starting with a digit"
    if spec.node(new) is not None:
        return spec, f"'{new}' is already used by another node"
    out = spec.copy()
    for node in out.nodes:
        if node.id == old:
            node.id = new
    for e in out.edges:
        e.source = new if e.source == old else e.source
        e.target = new if e.target == old else e.target
    return out, None


MAX_NAME_LENGTH = 64
NAME_CHARACTER = re.compile(r"[A-Za-z0-9 ._-]")  # letters, digits, space, -, _ and .
NAME_RULE = f"1 to {MAX_NAME_LENGTH} characters: letters, digits, spaces, '-', '_' or '.'"


def network_name_problem(name: str) -> str | None:
    """Why `name` (already stripped) cannot name a network, in one line naming what was received; None if it can."""
    if not name:
        return f"network name is empty; give it {NAME_RULE}"
    if len(name) > MAX_NAME_LENGTH:
        return f"network name has {len(name)} characters; give it {NAME_RULE}"
    bad = sorted({ch for ch in name if not NAME_CHARACTER.fullmatch(ch)})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:5])
        return f"network name {name!r:.80} holds {shown}; give it {NAME_RULE}"
    return None


def rename_network(spec: GraphSpec, name: str) -> tuple[GraphSpec, str | None]:
    """Give the network the name `name` (surrounding spaces dropped). Returns (spec, None) or (spec unchanged,
    why not). The name becomes the saved file's name, the run list's and the exported class's."""
    name = name.strip()
    problem = network_name_problem(name)
    if problem:
        return spec, problem
    out = spec.copy()
    out.name = name
    return out, None


def set_param(spec: GraphSpec, node_id: str, name: str, value) -> GraphSpec:
    """Set one parameter; a value of None, or the catalog default, removes it from the spec."""
    out = spec.copy()
    node = out.node(node_id)
    param = CATALOG[node.op].param(name) if node.op in CATALOG else None
    is_default = param is not None and not param.required and value == param.default
    if value is None or is_default:
        node.params.pop(name, None)
    else:
        node.params[name] = value
    return out


def parse_param_text(param: Param, text: str) -> tuple[object, str | None]:
    """Read a `shape` ("1, 8, 8") or `size` ("3" or "3, 5") parameter typed as text.

    Empty text means "not set" (None). Returns (value, error message or None).
    """
    text = text.strip().strip("[]()").strip()
    if not text:
        if param.required:
            return None, f"'{param.name}' is required"
        return None, None
    try:
        numbers = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        return None, f"'{param.name}' takes whole numbers separated by commas, e.g. 1, 8, 8"
    value = numbers[0] if param.kind == "size" and len(numbers) == 1 else numbers
    value, error = check_value(param, value)
    return value, (f"'{param.name}' {error}" if error else None)


def format_param(value) -> str:
    """A parameter value as the inspector's text box shows it."""
    if value is None or value is REQUIRED:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def move_nodes(spec: GraphSpec, positions: dict[str, tuple[float, float]]) -> GraphSpec:
    out = spec.copy()
    for node in out.nodes:
        if node.id in positions:
            x, y = positions[node.id]
            node.ui = {**node.ui, "x": round(x), "y": round(y)}
    return out


def starter_spec() -> GraphSpec:
    """The small network a new session starts with: Input[2] -> Linear(16) -> ReLU -> Linear(2)."""
    nodes = [
        Node("x", "Input", {"shape": [2]}, {"x": 0, "y": 0}),
        Node("fc1", "Linear", {"out_features": 16}, {"x": LAYER_GAP, "y": 0}),
        Node("relu", "ReLU", {}, {"x": 2 * LAYER_GAP, "y": 0}),
        Node("fc2", "Linear", {"out_features": 2}, {"x": 3 * LAYER_GAP, "y": 0}),
    ]
    edges = [Edge("x", "fc1"), Edge("fc1", "relu"), Edge("relu", "fc2")]
    return GraphSpec(name="starter", nodes=nodes, edges=edges)
