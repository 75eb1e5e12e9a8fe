"""Small spec builders and AppTest helpers shared by the tests."""

from __future__ import annotations

from builder.spec.spec import GraphSpec, parse_spec


def make_spec(nodes: list, edges: list, name: str = "t") -> GraphSpec:
    """nodes: (id, op) or (id, op, params); edges: (source, target) or (source, target, port)."""
    raw = {
        "version": 1,
        "name": name,
        "nodes": [{"id": n[0], "op": n[1], **({"params": n[2]} if len(n) > 2 else {})} for n in nodes],
        "edges": [{"source": e[0], "target": e[1], **({"port": e[2]} if len(e) > 2 else {})} for e in edges],
    }
    spec, issues = parse_spec(raw)
    assert spec is not None, issues
    return spec


def chain(*nodes) -> GraphSpec:
    """A straight chain of nodes, each fed by the one before."""
    return make_spec(list(nodes), [(a[0], b[0]) for a, b in zip(nodes, nodes[1:])])


def elements_in_order(at) -> list:
    """Every leaf element of an AppTest page (widgets, text, alerts), in the order drawn."""
    out, stack = [], [at._tree]
    while stack:
        node = stack.pop()
        children = getattr(node, "children", None)
        if children:
            stack.extend(reversed(list(children.values())))
        else:
            out.append(node)
    return out
