"""How big a graph is with its blocks expanded, from the definitions alone: no parameter is resolved and no shape
is analysed, so the caps on nodes and edges hold before any of that work (builder.analysis.validate.analyze checks them
first; a file of nested blocks whose uses all differ would otherwise be analysed use by use).

Expanded, a `Block` node is its body (the body's nodes replace it, its edges are added); a `Recurrent` node stays
one node and adds its cell's body once per direction (twice when `bidirectional` is true or a block parameter
that may be true). This is the count builder.analysis.validate's Analysis.expanded_nodes reaches for a valid network,
and an upper bound for one with errors. Each definition is sized once (memoised), in the order of the uses
graph, so the work is linear in the file however deep the nesting; a block that refers to itself (refused by
builder/spec/blocks.py) counts its use of the cycle as one node.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from builder.spec.blocks import USED_BY, used_block
from builder.spec.issues import Issue
from builder.spec.limits import cap_name, limits
from builder.spec.spec import BlockDef, Edge, GraphSpec, Node


@dataclass(frozen=True)
class Size:
    nodes: int
    edges: int


@dataclass(frozen=True)
class Part:
    """What one node of the network weighs expanded: `node` (its id) uses `block` (or None)."""

    node: str
    block: str | None
    size: Size
    uses: str = "block"  # "block" (a Block node) or "cell" (a Recurrent node)


def directions(node: Node) -> int:
    """A Recurrent's directions as written: 1 when `bidirectional` is false or absent, else 2 (at most)."""
    return 1 if node.params.get("bidirectional", False) is False else 2


def _node_part(node: Node, sizes: dict[str, Size]) -> Part:
    """A node's expanded size: a Block use its body's; a Recurrent itself plus its cell per direction."""
    used = used_block(node)
    if not isinstance(used, str) or used not in sizes:
        return Part(node.id, None, Size(1, 0))
    body = sizes[used]
    if node.op == "Recurrent":
        k = directions(node)
        return Part(node.id, used, Size(1 + k * body.nodes, k * body.edges), "cell")
    return Part(node.id, used, body)


def _graph_size(nodes: list[Node], edges: list[Edge], sizes: dict[str, Size]) -> Size:
    parts = [_node_part(node, sizes) for node in nodes]
    return Size(sum(p.size.nodes for p in parts), len(edges) + sum(p.size.edges for p in parts))


def block_sizes(blocks: dict[str, BlockDef]) -> dict[str, Size]:
    """Each definition's expanded size, the blocks it uses sized first (a use inside a cycle counts 1 node)."""
    uses = nx.DiGraph()
    uses.add_nodes_from(blocks)
    for name, block in blocks.items():
        for node in block.nodes:
            used = used_block(node)
            if node.op in USED_BY and isinstance(used, str) and used in blocks:
                uses.add_edge(name, used)
    condensed = nx.condensation(uses)
    sizes: dict[str, Size] = {}
    for component in reversed(list(nx.topological_sort(condensed))):
        members = condensed.nodes[component]["members"]
        known = {name: size for name, size in sizes.items() if name not in members}
        for name in sorted(members):
            sizes[name] = _graph_size(blocks[name].nodes, blocks[name].edges, known)
    return sizes


def expanded_parts(spec: GraphSpec) -> tuple[Size, list[Part]]:
    """The network's expanded size, and each of its nodes' parts in it."""
    sizes = block_sizes(spec.blocks)
    parts = [_node_part(node, sizes) for node in spec.nodes]
    total = Size(sum(p.size.nodes for p in parts), len(spec.edges) + sum(p.size.edges for p in parts))
    return total, parts


def node_count(spec: GraphSpec) -> int:
    """What the node cap is held to: the nodes as written (every definition's, used or not) or expanded,
    whichever is more."""
    written = len(spec.nodes) + sum(len(b.nodes) for b in spec.blocks.values())
    return max(written, expanded_parts(spec)[0].nodes)


def _largest(parts: list[Part], what: str) -> str:
    part = max((p for p in parts if p.block is not None), key=lambda p: getattr(p.size, what), default=None)
    if part is None:
        return ""
    return f"; the largest use is '{part.node}' ({part.uses} '{part.block}', {getattr(part.size, what):,} {what})"


def expanded_issues(spec: GraphSpec) -> list[Issue]:
    """The node and edge caps on the network with its blocks expanded, as issues of the graph (no analysis)."""
    caps = limits()
    total, parts = expanded_parts(spec)
    issues = []
    for what, count, cap, field in (
        ("nodes", total.nodes, caps.max_nodes, "max_nodes"),
        ("edges", total.edges, caps.max_edges, "max_edges"),
    ):
        if count > cap:
            message = (
                f"the network has {count:,} {what} with its blocks expanded; at most {cap:,} ({cap_name(field)})"
                + _largest(parts, what)
            )
            issues.append(Issue(None, "too_large", message))
    return issues
