"""Validation and shape inference: a GraphSpec in, an Analysis (issues, shapes, counts) out.

Nothing here raises on user input. Issues name the node (and field) they are about; where a repair is
obvious it travels with the issue as a Fix that `builder.analysis.fixes.apply_fix` can carry out.

A Block node is analysed through its body (builder/spec/blocks.py): the body is a graph of its own, analysed here
in body mode (several Inputs by port, Outputs as its results) with the use's input shapes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import networkx as nx

from builder.analysis.duplicate_edges import duplicate_edge_issues
from builder.ops import ops_recurrent
from builder.ops.catalog import CATALOG
from builder.ops.opdef import ShapeError, resolve_params
from builder.spec import blocks, graph_size
from builder.spec.blocks import BlockContext, BlockUse
from builder.spec.edge_caps import written_edge_issues
from builder.spec.issues import Issue
from builder.spec.limits import cap_name, limits
from builder.spec.reserved import is_reserved
from builder.spec.spec import GraphSpec

ID_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")  # matched in full (fullmatch): no trailing newline


@dataclass
class Analysis:
    spec: GraphSpec
    issues: list[Issue] = field(default_factory=list)
    params: dict[str, dict] = field(default_factory=dict)  # resolved params (defaults filled)
    inputs: dict[str, list[str]] = field(default_factory=dict)  # producers per node, in port order
    shapes: dict[str, tuple] = field(default_factory=dict)  # output shape per node (no batch dim)
    dtypes: dict[str, str] = field(default_factory=dict)
    param_counts: dict[str, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological order, when acyclic
    bad_params: set[str] = field(default_factory=set)  # nodes with a parameter issue: their shapes are not inferred
    input_id: str | None = None
    output_id: str | None = None
    body: bool = False  # a block's body: Inputs by port, Outputs as its results
    input_ids: list[str] = field(default_factory=list)  # in port order (the network: its one Input)
    output_ids: list[str] = field(default_factory=list)  # in port order (the network: its one sink)
    uses: dict[str, BlockUse] = field(default_factory=dict)  # Block node id -> its definition, values and body
    cells: dict[str, BlockUse] = field(default_factory=dict)  # Recurrent node id -> its cell's (builder/ops_recurrent)
    expanded_nodes: int = (
        0  # nodes with every block use replaced by its body (builder/spec/graph_size.py counts it first)
    )
    duplicated: set[str] = field(default_factory=set)  # nodes of one input fed the same edge twice or more

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    @property
    def total_params(self) -> int:
        return sum(self.param_counts.values())

    def issues_for(self, node_id: str) -> list[Issue]:
        return [i for i in self.issues if i.node == node_id]

    def in_shapes(self, node_id: str) -> list[tuple]:
        return [self.shapes[s] for s in self.inputs.get(node_id, []) if s in self.shapes]


def input_map(spec: GraphSpec, known: set[str]) -> dict[str, list[str]]:
    """Producers of every node, ordered by explicit port first, then by edge order."""
    incoming: dict[str, list] = {n: [] for n in known}
    for i, e in enumerate(spec.edges):
        if e.source in known and e.target in known:
            incoming[e.target].append((e.port if e.port is not None else 10**9, i, e.source))
    return {n: [src for _, _, src in sorted(items)] for n, items in incoming.items()}


def _resolve(node, a: Analysis, ctx: BlockContext) -> tuple[dict, list[tuple[str, str]]]:
    """A node's params with defaults filled, and [(param, message)] for each problem."""
    if node.op == "Block":
        return blocks.resolve_use(node.params, ctx)
    if node.op == "Recurrent":
        return ops_recurrent.resolve(node.params, ctx.blocks)
    given = node.params
    if node.op == "Input" and a.body:
        given = {k: v for k, v in given.items() if k != "port"}  # the port orders the body's inputs
    return resolve_params(CATALOG[node.op], given)


def _check_nodes(spec: GraphSpec, a: Analysis, ctx: BlockContext) -> set[str]:
    """Ids, ops and params. Returns the ids of nodes usable for graph checks."""
    seen: set[str] = set()
    for i, node in enumerate(spec.nodes):
        if not ID_PATTERN.fullmatch(node.id):
            a.issues.append(
                Issue(
                    node.id,
                    "invalid_id",
                    f"id {node.id!r} must match ^{ID_PATTERN.pattern}$ "
                    "(lower-case letters, digits, underscores; not starting with a digit)",
                    field=f"nodes[{i}].id",
                )
            )
        elif is_reserved(node.id):
            a.issues.append(
                Issue(
                    node.id,
                    "reserved_id",
                    f"id '{node.id}' is reserved (a Python keyword or a "
                    f"name every torch module has); choose another, e.g. '{node.id}_1'",
                    field=f"nodes[{i}].id",
                )
            )
        if node.id in seen:
            a.issues.append(
                Issue(node.id, "duplicate_id", f"id '{node.id}' is used by more than one node", field=f"nodes[{i}].id")
            )
            continue
        seen.add(node.id)
        op = CATALOG.get(node.op)
        if op is None:
            a.issues.append(Issue(node.id, "unknown_op", f"unknown op '{node.op}'", field=f"nodes[{i}].op"))
            continue
        resolved, errors = _resolve(node, a, ctx)
        a.params[node.id] = resolved
        if node.op == "Output" and not a.body:
            message = "an Output is allowed only inside a block (it marks one of the block's results)"
            a.issues.append(Issue(node.id, "output_outside_block", message, field=f"nodes[{i}].op"))
            a.bad_params.add(node.id)
        reported = {name for name, _ in errors}
        oversized = [(name, message) for name, message in _oversized_params(resolved) if name not in reported]
        for name, message in errors + oversized:
            a.issues.append(Issue(node.id, "bad_param", message, field=f"nodes[{i}].params.{name}"))
            a.bad_params.add(node.id)
    return seen


def _oversized_params(params: dict) -> list[tuple[str, str]]:
    """(name, message) for each size parameter over the cap on a dimension (an int, or ints in a list)."""
    cap, found = limits().max_dim, []
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if any(abs(v) > cap for v in ints):
            shown = f"{value:,}" if isinstance(value, int) else str(value)
            found.append((name, f"{name} {shown} is over {cap:,}, the cap on a size ({cap_name('max_dim')})"))
    return found


def _check_edges(spec: GraphSpec, known: set[str], a: Analysis) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(known)
    for i, e in enumerate(spec.edges):
        missing = [(k, v) for k, v in (("source", e.source), ("target", e.target)) if v not in known]
        for key, value in missing:
            other = e.target if key == "source" else e.source
            a.issues.append(
                Issue(
                    other if other in known else None,
                    "unknown_node",
                    f"edge {e.source} -> {e.target}: {key} '{value}' is not a node",
                    field=f"edges[{i}].{key}",
                )
            )
        if not missing:
            g.add_edge(e.source, e.target)
    return g


def _check_cycles(g: nx.DiGraph, a: Analysis) -> bool:
    found = False
    for component in nx.strongly_connected_components(g):
        if len(component) == 1 and not g.has_edge(*(2 * tuple(component))):
            continue
        found = True
        cycle = [u for u, _ in nx.find_cycle(g.subgraph(component))]
        path = " -> ".join(cycle + [cycle[0]])
        a.issues.append(Issue(cycle[0], "cycle", f"cycle: {path} (a network must not feed back into itself)"))
    return found


def _check_ends(spec: GraphSpec, g: nx.DiGraph, a: Analysis) -> None:
    inputs = [n.id for n in spec.nodes if n.op == "Input" and n.id in g]
    if not inputs:
        a.issues.append(Issue(None, "no_input", "the graph has no Input node"))
        return
    for extra in inputs[1:]:
        a.issues.append(Issue(extra, "several_inputs", f"only one Input is allowed; '{inputs[0]}' is the first"))
    a.input_id = inputs[0]
    reachable = nx.descendants(g, a.input_id) | {a.input_id}
    for node in spec.nodes:
        if node.id in g and node.id not in reachable:
            a.issues.append(
                Issue(node.id, "disconnected", f"node '{node.id}' is not connected to the input '{a.input_id}'")
            )
    sinks = [n.id for n in spec.nodes if n.id in reachable and g.out_degree(n.id) == 0]
    if not sinks:
        return
    depth = nx.single_source_shortest_path_length(g, a.input_id)
    a.output_id = max(reversed(sinks), key=lambda s: depth.get(s, 0))  # the deepest; the last of equals
    for sink in sinks:
        if sink != a.output_id:
            a.issues.append(
                Issue(
                    sink,
                    "several_outputs",
                    f"node '{sink}' is not connected to the output '{a.output_id}' (a network has one output)",
                )
            )


def _ported(spec: GraphSpec, g: nx.DiGraph, op: str) -> list[str]:
    """The ids of a body's `op` nodes (Input or Output) in port order, then node order."""
    found = [(n.params.get("port", 0), i, n.id) for i, n in enumerate(spec.nodes) if n.op == op and n.id in g]
    return [node_id for *_, node_id in sorted(found, key=lambda t: (str(type(t[0])), t[0], t[1]))]


def _check_body_ends(spec: GraphSpec, g: nx.DiGraph, a: Analysis) -> None:
    """A body: every node reached from an Input, every branch ending in an Output, nothing after an Output."""
    a.input_ids, a.output_ids = _ported(spec, g, "Input"), _ported(spec, g, "Output")
    a.input_id = a.input_ids[0] if a.input_ids else None
    a.output_id = a.output_ids[0] if a.output_ids else None
    reachable = set(a.input_ids).union(*(nx.descendants(g, i) for i in a.input_ids))
    for node in spec.nodes:
        if node.id not in g:
            continue
        if node.id not in reachable:
            a.issues.append(
                Issue(node.id, "disconnected", f"node '{node.id}' is not connected to an Input of the block")
            )
        elif node.op == "Output" and g.out_degree(node.id):
            a.issues.append(
                Issue(node.id, "after_output", f"Output '{node.id}' feeds other nodes; an Output ends a branch")
            )
        elif node.op != "Output" and not g.out_degree(node.id):
            a.issues.append(
                Issue(node.id, "no_output", f"node '{node.id}' leads to no Output (a block's branches end in one)")
            )


def _check_arity(node_id: str, op, n_in: int, a: Analysis) -> bool:
    lo, hi = op.min_inputs, op.max_inputs
    if n_in >= lo and (hi is None or n_in <= hi):
        return True
    if hi == 0:
        expected = "no inputs"
    elif hi is None:
        expected = f"at least {lo} inputs"
    else:
        expected = f"exactly {lo} input{'s' if lo > 1 else ''}" if lo == hi else f"{lo} to {hi} inputs"
    a.issues.append(Issue(node_id, "arity", f"{op.name} takes {expected}; got {n_in}"))
    return False


def _dtype_issue(node_id: str, op, srcs: list[str], a: Analysis) -> bool:
    if op.dtype_in == "any":
        return False
    for src in srcs:
        if a.dtypes[src] != op.dtype_in:
            hint = " (add an Embedding first)" if a.dtypes[src] == "int64" else " (Embedding needs int64 ids)"
            a.issues.append(
                Issue(node_id, "dtype", f"{op.name} needs {op.dtype_in} input; got {a.dtypes[src]} from {src}{hint}")
            )
            return True
    return False


def _infer_node(spec_node, a: Analysis, ctx: BlockContext) -> None:
    op, node_id = CATALOG[spec_node.op], spec_node.id
    srcs = a.inputs[node_id]
    if node_id in a.duplicated or not _check_arity(node_id, op, len(srcs), a):
        return
    if node_id not in a.params or node_id in a.bad_params:
        return
    if any(s not in a.shapes for s in srcs) or _dtype_issue(node_id, op, srcs, a):
        return
    ins = [a.shapes[s] for s in srcs]
    if op.name == "Block":
        _infer_block_use(node_id, ins, [a.dtypes[s] for s in srcs], a, ctx)
        return
    if op.name == "Recurrent":
        ops_recurrent.infer(node_id, ins, srcs, a, ctx, lambda body: _analyze_graph(Analysis(body, body=True), ctx))
        return
    try:
        shape = tuple(op.shape(a.params[node_id], ins, srcs))
    except ShapeError as err:
        fixes = tuple(dataclasses.replace(f, target=f.target or node_id) for f in err.fixes)
        a.issues.append(Issue(node_id, err.code, str(err), fixes=fixes))
        return
    if _over_caps(node_id, op.name, shape, op.count(a.params[node_id], ins), a):
        return
    a.shapes[node_id] = shape
    dtype = a.params[node_id]["dtype"] if op.name == "Input" else "float32"
    a.dtypes[node_id] = a.dtypes[srcs[0]] if op.dtype_in == "any" else dtype
    a.param_counts[node_id] = op.count(a.params[node_id], ins)


def _infer_block_use(node_id: str, ins: list[tuple], dtypes: list[str], a: Analysis, ctx: BlockContext) -> None:
    """A Block node's shape, dtype and parameter count, from its body analysed with these inputs (cached)."""
    values = a.params[node_id]
    name = values["block"]
    if ctx.problems[name]:
        a.issues.extend(blocks.problem_issues(node_id, name, not a.body, ctx))
        return
    definition = ctx.blocks[name]
    if len(ins) != blocks.n_inputs(definition):
        message = f"block '{name}' takes {blocks.n_inputs(definition)} input(s); got {len(ins)}"
        a.issues.append(Issue(node_id, "arity", message))
        return
    key = blocks.body_key(name, values, ins, dtypes)
    if key not in ctx.bodies:
        body_spec = blocks.instantiate(name, definition, values, ins, dtypes)
        ctx.bodies[key] = _analyze_graph(Analysis(body_spec, body=True), ctx)
    body = ctx.bodies[key]
    if not body.ok:
        a.issues.extend(blocks.body_issues(node_id, name, body, not a.body))
        return
    if len(body.output_ids) != 1:  # several results are for a cell run over time (a Recurrent op, to come)
        message = f"block '{name}' has {len(body.output_ids)} outputs; a Block node passes on one"
        a.issues.append(Issue(node_id, "arity", message))
        return
    a.uses[node_id] = BlockUse(name, {k: v for k, v in values.items() if k != "block"}, body)
    a.shapes[node_id] = body.shapes[body.output_id]
    a.dtypes[node_id] = body.dtypes[body.output_id]
    a.param_counts[node_id] = body.total_params


def _over_caps(node_id: str, op_name: str, shape: tuple, params: int, a: Analysis) -> bool:
    """An issue at the node whose output or weights pass a cap (builder/spec/limits.py); nothing after it is sized."""
    caps = limits()
    if any(d > caps.max_dim for d in shape):
        message = f"{op_name} output {list(shape)} has a dimension over {caps.max_dim:,} ({cap_name('max_dim')})"
    elif params > caps.max_params:
        message = f"{op_name} has {params:,} parameters; at most {caps.max_params:,} ({cap_name('max_params')})"
    else:
        return False
    a.issues.append(Issue(node_id, "too_large", message))
    return True


def _check_total_params(a: Analysis) -> None:
    cap = limits().max_params
    if a.total_params > cap and not any(i.code == "too_large" for i in a.issues):
        biggest = max(a.param_counts, key=a.param_counts.get)
        a.issues.append(
            Issue(
                None,
                "too_large",
                f"the network has {a.total_params:,} parameters; at most {cap:,} ({cap_name('max_params')}); "
                f"the largest node is '{biggest}' with {a.param_counts[biggest]:,}",
            )
        )


def _analyze_graph(a: Analysis, ctx: BlockContext) -> Analysis:
    """Check and infer the graph of `a.spec`: the network, or (a.body) a block's instantiated body."""
    spec = a.spec
    known = _check_nodes(spec, a, ctx)
    g = _check_edges(spec, known, a)
    for issue in duplicate_edge_issues(spec, known):
        a.issues.append(issue)
        a.duplicated.add(issue.node)
    a.inputs = input_map(spec, known)
    if _check_cycles(g, a):
        return a
    if a.body:
        _check_body_ends(spec, g, a)
    else:
        _check_ends(spec, g, a)
        a.input_ids, a.output_ids = [a.input_id] if a.input_id else [], [a.output_id] if a.output_id else []
    position = {n.id: i for i, n in enumerate(spec.nodes)}
    a.order = list(nx.lexicographical_topological_sort(g, key=position.__getitem__))
    by_id = {n.id: n for n in reversed(spec.nodes)}  # a repeated id is the first node's (as in _check_nodes)
    for node_id in a.order:
        if by_id[node_id].op in CATALOG:
            _infer_node(by_id[node_id], a, ctx)
    a.expanded_nodes = sum(a.uses[n].body.expanded_nodes if n in a.uses else 1 for n in a.order)
    a.expanded_nodes += ops_recurrent.cell_nodes(a)
    return a


def size_issues(spec: GraphSpec) -> list[Issue]:
    """The caps on nodes and edges, checked on the definitions alone (no shape is analysed): the graph as
    written, then with its blocks expanded (builder/spec/graph_size.py). Linear in the file, however deep it nests."""
    cap = limits().max_nodes
    n_nodes = len(spec.nodes) + sum(len(b.nodes) for b in spec.blocks.values())
    if n_nodes > cap:
        return [Issue(None, "too_large", f"the graph has {n_nodes:,} nodes; at most {cap:,} ({cap_name('max_nodes')})")]
    return written_edge_issues(spec) or graph_size.expanded_issues(spec)


def analyze(spec: GraphSpec) -> Analysis:
    """Validate `spec` and infer every shape and parameter count that can be inferred. A graph over the caps on
    nodes or edges (size_issues) is refused before anything else is looked at."""
    a = Analysis(spec)
    a.issues.extend(size_issues(spec))
    if a.issues:
        return a
    ctx = BlockContext(spec.blocks, blocks.definition_problems(spec.blocks))
    a.issues.extend(blocks.definition_issues(ctx))
    _analyze_graph(a, ctx)
    _check_total_params(a)
    return a


def validate(spec: GraphSpec) -> list[Issue]:
    return analyze(spec).issues
