"""The edge caps on a graph as written (builder/spec/limits.py): its edges in all, the network's and every block
body's together (NETCANVAS_MAX_EDGES), and the incoming edges of any one node (NETCANVAS_MAX_INPUTS_PER_NODE).

The parser (builder/spec/spec.py) counts the edge lists before it reads a single edge and refuses a file over either
cap with a message naming the graph or the node, so a file of 100,000 copies of one edge is refused in
milliseconds instead of reaching validation, the canvas and export. builder.analysis.validate checks the same on a spec
made in memory (the editor's) with `written_edge_issues`, and builder/spec/graph_size.py the total with the blocks
expanded. Linear in the edges.
"""

from __future__ import annotations

from collections import Counter

from builder.spec.issues import Issue
from builder.spec.limits import cap_name, limits


def too_many_edges(count: int) -> Issue | None:
    """The cap on a graph's edges as written (the network's and every body's, together); None within it."""
    cap = limits().max_edges
    if count <= cap:
        return None
    message = f"edges: the graph has {count:,} edges, its blocks' included; at most {cap:,} ({cap_name('max_edges')})"
    return Issue(None, "too_large", message, field="edges")


def crowded_nodes(targets, where: str) -> list[Issue]:
    """An issue per node with more incoming edges than the cap; `targets` are the edges' target ids, `where`
    the edge list's field (`edges`, `blocks.basic.edges`)."""
    cap = limits().max_inputs_per_node
    issues = []
    for target, count in Counter(targets).items():
        if count > cap:
            message = (
                f"{where}: node {str(target)[:40]!r} has {count:,} incoming edges; a node takes at most {cap:,} "
                f"({cap_name('max_inputs_per_node')})"
            )
            issues.append(Issue(None, "too_large", message, field=where))
    return issues


def written_edge_issues(spec) -> list[Issue]:
    """The edge caps on a GraphSpec as written: its edges in all, and each node's incoming edges (per graph)."""
    total = len(spec.edges) + sum(len(b.edges) for b in spec.blocks.values())
    issues = [i for i in [too_many_edges(total)] if i is not None]
    issues += crowded_nodes((e.target for e in spec.edges), "edges")
    for name, block in spec.blocks.items():
        issues += crowded_nodes((e.target for e in block.edges), f"blocks.{name}.edges")
    return issues
