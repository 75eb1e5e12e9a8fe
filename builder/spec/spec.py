"""GraphSpec v2: the JSON contract between canvas, validation, compile, templates, CLI and bundles.

Parsing is strict and never raises on user input: it returns the spec (or None) and a list of Issues,
each naming the field it is about (`nodes[2].params`), so the CLI and the UI can show them as data.

Version 2 adds `blocks`: named sub-graphs `{"params": {p: default}, "nodes": [...], "edges": [...]}` that a
`Block` node uses (`{"op": "Block", "params": {"block": "basic", "channels": 64}}`); inside a body, `Input`
nodes carry `"port": k`, `Output` nodes mark the results and a param value `"$p"` is the block's parameter `p`
(a default of null: every use must set it). A version 1 file is upgraded as it is read (no blocks); a spec
is always written as version 2. What a body means is checked by builder/spec/blocks.py and builder/analysis/validate.py.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field

from builder.spec.edge_caps import crowded_nodes, too_many_edges
from builder.spec.issues import Issue
from builder.spec.reserved import is_reserved

SPEC_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 is upgraded on reading (it has no blocks)
TOP_KEYS = {"version", "name", "nodes", "edges", "blocks"}
BLOCK_KEYS = {"params", "nodes", "edges"}
NODE_KEYS = {"id", "op", "params", "ui"}
UI_NUMBERS = ("x", "y")  # the canvas position; everything else in `ui` is free-form
MAX_VALUE_DEPTH = 8  # lists and objects inside a node's params or ui: a shape is 2 deep, a layout 1 or 2
MAX_POSITION = 1e9  # |x|, |y| on the canvas
EDGE_KEYS = {"source", "target", "port"}
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")  # block and block-parameter names, as node ids (fullmatch)


@dataclass
class Node:
    id: str
    op: str
    params: dict = field(default_factory=dict)
    ui: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"id": self.id, "op": self.op}
        if self.params:
            out["params"] = dict(self.params)
        if self.ui:
            out["ui"] = dict(self.ui)
        return out


@dataclass
class Edge:
    source: str
    target: str
    port: int | None = None

    def to_dict(self) -> dict:
        out = {"source": self.source, "target": self.target}
        if self.port is not None:
            out["port"] = self.port
        return out


@dataclass
class BlockDef:
    """A block definition: its parameters (name -> default; None: each use must set it) and its body."""

    params: dict = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "params": _copied(self.params),
            "nodes": [_copied(n.to_dict()) for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }

    def copy(self) -> BlockDef:
        nodes = [Node(n.id, n.op, _copied(n.params), _copied(n.ui)) for n in self.nodes]
        return BlockDef(_copied(self.params), nodes, [Edge(e.source, e.target, e.port) for e in self.edges])


@dataclass
class GraphSpec:
    name: str = "untitled"
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    version: int = SPEC_VERSION
    blocks: dict[str, BlockDef] = field(default_factory=dict)

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def inputs_of(self, node_id: str) -> list[str]:
        """Producers feeding `node_id`, ordered by port (ports first), then by edge order."""
        incoming = [
            (e.port if e.port is not None else 10**9, i, e.source)
            for i, e in enumerate(self.edges)
            if e.target == node_id
        ]
        return [src for _, _, src in sorted(incoming)]

    def to_dict(self) -> dict:
        """Plain JSON-ready data that shares no mutable value with the spec."""
        return {
            "version": self.version,
            "name": self.name,
            "nodes": [_copied(n.to_dict()) for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
            "blocks": {name: block.to_dict() for name, block in self.blocks.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def copy(self) -> GraphSpec:
        """A deep copy: nothing (not even a shape list inside params) is shared with the original."""
        nodes = [Node(n.id, n.op, _copied(n.params), _copied(n.ui)) for n in self.nodes]
        edges = [Edge(e.source, e.target, e.port) for e in self.edges]
        blocks = {name: block.copy() for name, block in self.blocks.items()}
        return GraphSpec(self.name, nodes, edges, self.version, blocks)


def _copied(value):
    """A copy of JSON-like data (dicts, lists, tuples, scalars) sharing nothing mutable; unlike copy.deepcopy it
    keeps no memo, which makes copying a 10,000-node spec several times faster."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(item) for item in value)
    return value


def _schema(field_path: str, message: str) -> Issue:
    return Issue(node=None, code="schema", message=f"{field_path}: {message}", field=field_path)


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def _is_object_with_keys(raw, path: str, allowed: set[str], issues: list[Issue]) -> bool:
    """Whether `raw` is an object; each key outside `allowed` is an issue of its own."""
    if not isinstance(raw, dict):
        issues.append(_schema(path, f"expected an object, got {_type_name(raw)}"))
        return False
    for key in sorted(set(raw) - allowed):
        issues.append(_schema(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"))
    return True


def _parse_node(raw, path: str, issues: list[Issue]) -> Node | None:
    if not _is_object_with_keys(raw, path, NODE_KEYS, issues):
        return None
    node_id, op = raw.get("id"), raw.get("op")
    ok = True
    for key, value in (("id", node_id), ("op", op)):
        if not isinstance(value, str):
            issues.append(_schema(f"{path}.{key}", f"expected a string, got {_type_name(value)}"))
            ok = False
    params, ui = raw.get("params", {}), raw.get("ui", {})
    for key, value in (("params", params), ("ui", ui)):
        if not isinstance(value, dict):
            issues.append(_schema(f"{path}.{key}", f"expected an object, got {_type_name(value)}"))
            ok = False
        elif _depth(value) > MAX_VALUE_DEPTH:
            issues.append(_schema(f"{path}.{key}", f"nested more than {MAX_VALUE_DEPTH} levels deep"))
            ok = False
    if ok:
        ok = _positions_are_numbers(ui, f"{path}.ui", issues)
    return Node(node_id, op, dict(params), dict(ui)) if ok else None


def _depth(value, limit: int = MAX_VALUE_DEPTH + 1) -> int:
    """How deep lists and objects nest in `value` (a number or a string is 0), counted up to `limit`."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    if children is None:
        return 0
    if limit <= 0:
        return 1
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


def _positions_are_numbers(ui: dict, path: str, issues: list[Issue]) -> bool:
    ok = True
    for key in UI_NUMBERS:
        value = ui.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) <= MAX_POSITION:
            issues.append(_schema(f"{path}.{key}", f"expected a number within ±{MAX_POSITION:g}, got {value!r:.40}"))
            ok = False
    return ok


def _parse_edge(raw, path: str, issues: list[Issue]) -> Edge | None:
    if not _is_object_with_keys(raw, path, EDGE_KEYS, issues):
        return None
    ok = True
    for key in ("source", "target"):
        if not isinstance(raw.get(key), str):
            issues.append(_schema(f"{path}.{key}", f"expected a node id string, got {_type_name(raw.get(key))}"))
            ok = False
    port = raw.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or port < 0):
        issues.append(_schema(f"{path}.port", f"expected an integer >= 0, got {port!r}"))
        ok = False
    return Edge(raw["source"], raw["target"], port) if ok else None


def _parse_list(raw: dict, key: str, parse_item, issues: list[Issue], where: str = "") -> list:
    items = raw.get(key)
    if not isinstance(items, list):
        issues.append(_schema(f"{where}{key}", f"expected a list, got {_type_name(items)}"))
        return []
    parsed = [parse_item(item, f"{where}{key}[{i}]", issues) for i, item in enumerate(items)]
    return [p for p in parsed if p is not None]


def _is_name(name) -> bool:
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def _parse_block(name, raw, issues: list[Issue]) -> BlockDef | None:
    """One entry of `blocks`; its field paths read `blocks.basic.nodes[2].params`."""
    path = f"blocks.{name}"
    if not _is_object_with_keys(raw, path, BLOCK_KEYS, issues):
        return None
    before = len(issues)
    params = raw.get("params", {})
    if not isinstance(params, dict):
        issues.append(_schema(f"{path}.params", f"expected an object, got {_type_name(params)}"))
    elif _depth(params) > MAX_VALUE_DEPTH:
        issues.append(_schema(f"{path}.params", f"nested more than {MAX_VALUE_DEPTH} levels deep"))
    else:
        for param in params:
            if not _is_name(param) or param == "block":
                message = f"a block parameter name must match ^{NAME_PATTERN.pattern}$ and not be 'block'"
                issues.append(_schema(f"{path}.params.{str(param)[:40]}", message))
    nodes = _parse_list(raw, "nodes", _parse_node, issues, f"{path}.")
    edges = _parse_list(raw, "edges", _parse_edge, issues, f"{path}.")
    return BlockDef(dict(params), nodes, edges) if len(issues) == before else None


def _parse_blocks(raw: dict, issues: list[Issue]) -> dict[str, BlockDef]:
    blocks = raw.get("blocks", {})
    if not isinstance(blocks, dict):
        issues.append(_schema("blocks", f"expected an object, got {_type_name(blocks)}"))
        return {}
    for name in blocks:
        if not _is_name(name) or is_reserved(name):
            message = f"block name {name!r:.40} must match ^{NAME_PATTERN.pattern}$ and not be a reserved name"
            issues.append(_schema(f"blocks.{str(name)[:40]}", message))
    parsed = {name: _parse_block(name, body, issues) for name, body in blocks.items()}
    return {name: block for name, block in parsed.items() if block is not None}


def _edge_lists(raw: dict) -> dict[str, list]:
    """A raw spec's edge lists by field (`edges`, `blocks.basic.edges`), none of them read yet."""
    lists = {"edges": raw.get("edges")}
    blocks = raw.get("blocks")
    if isinstance(blocks, dict):
        lists |= {f"blocks.{name}.edges": body.get("edges") for name, body in blocks.items() if isinstance(body, dict)}
    return {where: edges for where, edges in lists.items() if isinstance(edges, list)}


def _too_many_edges(raw: dict) -> list[Issue]:
    """The total edge cap on the lists as written, and then the nodes they crowd (their targets counted raw)."""
    lists = _edge_lists(raw)
    too_many = too_many_edges(sum(len(edges) for edges in lists.values()))
    if too_many is None:
        return []
    crowded = []
    for where, edges in lists.items():
        targets = (e.get("target") for e in edges if isinstance(e, dict))
        crowded += crowded_nodes((t for t in targets if isinstance(t, str)), where)
    return [too_many, *crowded]


def _crowded(spec: GraphSpec) -> list[Issue]:
    """Nodes with more incoming edges than the cap, in the network or a block body (builder/spec/edge_caps.py)."""
    issues = crowded_nodes((e.target for e in spec.edges), "edges")
    for name, block in spec.blocks.items():
        issues += crowded_nodes((e.target for e in block.edges), f"blocks.{name}.edges")
    return issues


def parse_spec(raw) -> tuple[GraphSpec | None, list[Issue]]:
    """Check the JSON structure strictly. Returns (spec, []) or (None, issues). A graph over the edge caps is
    refused here (NETCANVAS_MAX_EDGES before an edge is read, NETCANVAS_MAX_INPUTS_PER_NODE naming the node)."""
    issues: list[Issue] = []
    if not isinstance(raw, dict):
        return None, [_schema("spec", f"expected a JSON object, got {_type_name(raw)}")]
    too_many = _too_many_edges(raw)
    if too_many:
        return None, too_many
    for key in sorted(set(raw) - TOP_KEYS):
        issues.append(_schema(key, f"unknown top-level key (allowed: {', '.join(sorted(TOP_KEYS))})"))
    version = raw.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        expected = " or ".join(str(v) for v in READABLE_VERSIONS)
        issues.append(_schema("version", f"expected {expected}, got {version!r:.40}"))
    elif version == 1 and "blocks" in raw:
        issues.append(_schema("blocks", "a version 1 spec has no blocks (blocks came with version 2)"))
    name = raw.get("name", "untitled")
    if not isinstance(name, str):
        issues.append(_schema("name", f"expected a string, got {_type_name(name)}"))
    nodes = _parse_list(raw, "nodes", _parse_node, issues)
    edges = _parse_list(raw, "edges", _parse_edge, issues)
    blocks = _parse_blocks(raw, issues)
    if issues:
        return None, issues
    spec = GraphSpec(name=name, nodes=nodes, edges=edges, blocks=blocks)  # a version 1 file is now version 2
    crowded = _crowded(spec)
    return (None, crowded) if crowded else (spec, [])


def loads_spec(text: str | bytes) -> tuple[GraphSpec | None, list[Issue]]:
    """Parse JSON text into a spec; unreadable JSON is an issue, not an exception."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return None, [_schema("json", f"not valid JSON ({err})")]
    except RecursionError:
        return None, [_schema("json", "its lists and objects nest too deeply to read")]
    except ValueError:  # an integer of more digits than Python converts
        digits = sys.get_int_max_str_digits()
        return None, [_schema("json", f"a number in it has over {digits:,} digits")]
    return parse_spec(raw)


def load_spec(path: str) -> tuple[GraphSpec | None, list[Issue]]:
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as err:
        return None, [_schema("file", f"cannot read {path}: {err.strerror or err}")]
    return loads_spec(text)


def save_spec(spec: GraphSpec, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(spec.to_json() + "\n")
