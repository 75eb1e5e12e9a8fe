"""Edges repeated into a node that reads one input: `x -> relu` twice is a mistake (ReLU takes one input), told
as an issue at the node with a Fix that removes the copies (builder/analysis/fixes.py). A merge (Add, Multiply,
Concat) and a Block of several inputs may read one producer twice on purpose (x + x, x * x, [x, x], a cell's x and
h fed by one node), so edges into them are left alone; their number is capped by builder/spec/edge_caps.py instead.
"""

from __future__ import annotations

from builder.ops.catalog import CATALOG
from builder.spec.issues import Fix, Issue
from builder.spec.spec import GraphSpec

FIX_KIND = "remove_duplicate_edges"


def takes_one_input(op_name: str) -> bool:
    """Whether an op (of the catalog) reads at most one input, so that a second copy of an edge into it is a
    mistake."""
    op = CATALOG.get(op_name)
    return op is not None and op.max_inputs is not None and op.max_inputs <= 1


def duplicate_edge_issues(spec: GraphSpec, known: set[str]) -> list[Issue]:
    """One issue, with its Fix, per edge repeated into a node of one input (both ends in `known`). Linear."""
    ops = {n.id: n.op for n in reversed(spec.nodes)}  # a repeated id is the first node's
    counts: dict[tuple[str, str], int] = {}
    for e in spec.edges:
        if e.source in known and e.target in known and takes_one_input(ops[e.target]):
            counts[(e.source, e.target)] = counts.get((e.source, e.target), 0) + 1
    issues = []
    for (source, target), n in counts.items():
        if n < 2:
            continue
        what = "the duplicate edge" if n == 2 else f"the {n - 1:,} duplicate edges"
        fix = Fix(FIX_KIND, f"remove {what}", op=ops[target], target=target, source=source)
        message = f"edge {source} -> {target} is there {n:,} times; {ops[target]} takes one input"
        issues.append(Issue(target, "duplicate_edge", message, field="edges", fixes=(fix,)))
    return issues
