"""Blocks (GraphSpec v2): checking the definitions, resolving a Block node's parameters, and analysing a body.

A definition is checked once per analysis for what does not depend on a use: it has an Input and an Output,
its Input ports run 0..n-1, every `"$p"` names one of its parameters, every Block node inside names a known
block, and no block refers to itself (directly or through others). A use (a `Block` node) then analyses the
body with the use's input shapes and resolved parameters (builder.analysis.validate in body mode); the result is cached
per distinct (block, parameter values, input shapes, dtypes), so a ResNet's repeated blocks are analysed once.

Messages name the use and the inner node, and end with the definition: `block 'res2' › node 'conv1': ...
(block definition 'basic')`; a nested use adds its level: `block 'res2' › block 'inner' › node 'conv1': ...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import networkx as nx

from builder.spec.issues import Issue
from builder.spec.spec import BlockDef, Edge, GraphSpec, Node

PARAM_REF = "$"  # a param value "$p" is the block's parameter p
MAX_BLOCK_DEPTH = 16  # blocks inside blocks inside ...: deeper nesting is refused (and never recursed into)


@dataclass(frozen=True)
class DefProblem:
    """A problem of a block definition itself, whatever uses it."""

    node: str | None  # the inner node it is about, if any
    message: str
    field: str


@dataclass
class BlockContext:
    """What analysing the uses of blocks needs: the definitions, their problems and the cache of bodies."""

    blocks: dict[str, BlockDef]
    problems: dict[str, list[DefProblem]]
    bodies: dict[tuple, object] = field(default_factory=dict)  # key -> builder.analysis.validate.Analysis of the body


@dataclass(frozen=True)
class BlockUse:
    """A Block node that analysed: which definition, with which parameter values, and its body's analysis."""

    block: str
    values: dict
    body: object  # builder.analysis.validate.Analysis of the instantiated body


def param_ref(value) -> str | None:
    """The block parameter a param value refers to ("$channels" -> "channels"), else None."""
    if isinstance(value, str) and value.startswith(PARAM_REF) and len(value) > 1:
        return value[1:]
    return None


USED_BY = {"Block": "block", "Recurrent": "cell"}  # op -> its parameter naming the block it uses


def used_block(node: Node) -> object:
    """The block a node uses: a Block's `block`, a Recurrent's `cell` (builder/ops/ops_recurrent.py); else None."""
    key = USED_BY.get(node.op)
    return node.params.get(key) if key else None


def _ports(nodes: list[Node], op: str) -> list[object]:
    return [n.params.get("port", 0) for n in nodes if n.op == op]


def _port_problems(name: str, block: BlockDef) -> list[DefProblem]:
    problems, where = [], f"blocks.{name}.nodes"
    for i, node in enumerate(block.nodes):
        if node.op == "Input" and set(node.params) - {"port"}:
            extra = ", ".join(sorted(set(node.params) - {"port"}))
            message = f"an Input inside a block takes only 'port' (its shape comes from the use); got {extra}"
            problems.append(DefProblem(node.id, message, f"{where}[{i}].params"))
    for op in ("Input", "Output"):
        ports = _ports(block.nodes, op)
        if not ports:
            what = "its inputs" if op == "Input" else "its result"
            problems.append(DefProblem(None, f"has no {op} node (an {op} marks {what})", where))
        elif sorted(p if isinstance(p, int) and not isinstance(p, bool) else -1 for p in ports) != list(
            range(len(ports))
        ):
            message = f"its {op} ports must be 0 to {len(ports) - 1}, each once; got {ports}"
            problems.append(DefProblem(None, message, where))
    return problems


def _reference_problems(name: str, block: BlockDef, blocks: dict[str, BlockDef]) -> list[DefProblem]:
    problems, known = [], ", ".join(sorted(block.params)) or "none"
    for i, node in enumerate(block.nodes):
        for key, value in node.params.items():
            ref = param_ref(value)
            if ref is not None and ref not in block.params:
                message = f"parameter '{key}' refers to '{value}', which is not a parameter of the block ({known})"
                problems.append(DefProblem(node.id, message, f"blocks.{name}.nodes[{i}].params.{key}"))
        used = used_block(node)
        if node.op in USED_BY and not (isinstance(used, str) and used in blocks):
            message = f"uses block {used!r:.40}, which is not defined (defined: {', '.join(sorted(blocks)) or 'none'})"
            problems.append(DefProblem(node.id, message, f"blocks.{name}.nodes[{i}].params.{USED_BY[node.op]}"))
    return problems


def _uses_graph(blocks: dict[str, BlockDef]) -> nx.DiGraph:
    """block -> the blocks its body uses, each edge carrying the id of the Block node that uses it."""
    g = nx.DiGraph()
    g.add_nodes_from(blocks)
    for name, block in blocks.items():
        for node in block.nodes:
            used = used_block(node)
            if isinstance(used, str) and used in blocks:
                g.add_edge(name, used, node=node.id)
    return g


def _nesting_problems(blocks: dict[str, BlockDef]) -> dict[str, list[DefProblem]]:
    """A block that refers to itself (directly or through others) names its cycle; too deep a nesting is refused."""
    g, found = _uses_graph(blocks), {}
    cyclic = set()
    for component in nx.strongly_connected_components(g):
        name = min(component)
        if len(component) == 1 and not g.has_edge(name, name):
            continue
        cycle = [u for u, _ in nx.find_cycle(g.subgraph(component), source=name)]
        path = " -> ".join(cycle + [cycle[0]])
        for block_name in component:
            user = next(v for v in g.successors(block_name) if v in component)
            node = g.edges[block_name, user]["node"]
            message = f"uses block '{user}', and block '{block_name}' refers to itself: {path}"
            found.setdefault(block_name, []).append(DefProblem(node, message, f"blocks.{block_name}.nodes"))
        cyclic |= component
    if not cyclic:
        depth = {}
        for name in reversed(list(nx.topological_sort(g))):
            depth[name] = 1 + max((depth[u] for u in g.successors(name)), default=0)
            if depth[name] > MAX_BLOCK_DEPTH:
                message = f"nests blocks {depth[name]} deep; at most {MAX_BLOCK_DEPTH}"
                found.setdefault(name, []).append(DefProblem(None, message, f"blocks.{name}"))
    return found


def definition_problems(blocks: dict[str, BlockDef]) -> dict[str, list[DefProblem]]:
    """The problems of each definition that do not depend on a use (empty list: none)."""
    nesting = _nesting_problems(blocks)
    return {
        name: _port_problems(name, block) + _reference_problems(name, block, blocks) + nesting.get(name, [])
        for name, block in blocks.items()
    }


def definition_issues(ctx: BlockContext) -> list[Issue]:
    """Each definition's problems once, as issues of the graph (they name the block and the inner node)."""
    issues = []
    for name, problems in ctx.problems.items():
        for p in problems:
            where = f"block definition '{name}'" + (f" › node '{p.node}'" if p.node else "")
            issues.append(Issue(None, "bad_block", f"{where}: {p.message}", field=p.field))
    return issues


def resolve_use(given: dict, ctx: BlockContext) -> tuple[dict, list[tuple[str, str]]]:
    """A Block node's params with the block's defaults filled: ({"block": name, p: value...}, [(param, message)])."""
    name = given.get("block")
    defined = ", ".join(sorted(ctx.blocks)) or "none"
    if "block" not in given:
        return dict(given), [("block", f"Block needs parameter 'block', the name of a block definition ({defined})")]
    if not isinstance(name, str) or name not in ctx.blocks:
        return dict(given), [("block", f"unknown block {name!r:.40} (defined: {defined})")]
    defaults, errors = ctx.blocks[name].params, []
    for key in sorted(set(given) - set(defaults) - {"block"}):
        errors.append(
            (key, f"unknown parameter '{key}' for block '{name}' (its parameters: {', '.join(defaults) or 'none'})")
        )
    resolved = {"block": name}
    for key, default in defaults.items():
        resolved[key] = given.get(key, default)
        if resolved[key] is None:
            errors.append((key, f"block '{name}' needs parameter '{key}' (it has no default)"))
    return resolved, errors


def _substituted(value, values: dict):
    ref = param_ref(value)
    return values[ref] if ref is not None else value


def instantiate(name: str, block: BlockDef, values: dict, in_shapes: list, in_dtypes: list[str]) -> GraphSpec:
    """The body as a graph of its own: "$p" replaced by the use's values, each Input given its port's shape."""
    nodes = []
    for node in block.nodes:
        if node.op == "Input":
            port = node.params.get("port", 0)
            params = {"port": port, "shape": list(in_shapes[port]), "dtype": in_dtypes[port]}
        else:
            params = {key: _substituted(value, values) for key, value in node.params.items()}
        nodes.append(Node(node.id, node.op, params))
    edges = [Edge(e.source, e.target, e.port) for e in block.edges]
    return GraphSpec(name=name, nodes=nodes, edges=edges)


def body_key(name: str, values: dict, in_shapes: list, in_dtypes: list[str]) -> tuple:
    frozen = json.dumps(values, sort_keys=True, default=repr)
    return (name, frozen, tuple(tuple(s) for s in in_shapes), tuple(in_dtypes))


def n_inputs(block: BlockDef) -> int:
    return sum(1 for n in block.nodes if n.op == "Input")


def use_message(use_id: str, issue: Issue, block: str, outermost: bool) -> str:
    """An inner issue as the use's: `block 'res2' › node 'conv1': ...`, the definition named at the outermost."""
    nested = issue.node is not None and issue.message.startswith(
        (f"block '{issue.node}' › ", f"block '{issue.node}': ")
    )
    if nested:
        text = f"block '{use_id}' › {issue.message}"
    elif issue.node is not None:
        text = f"block '{use_id}' › node '{issue.node}': {issue.message}"
    else:
        text = f"block '{use_id}': {issue.message}"
    return text + (f" (block definition '{block}')" if outermost else "")


def problem_issues(use_id: str, block: str, outermost: bool, ctx: BlockContext) -> list[Issue]:
    """The use of a definition that has problems: one issue per problem, at the use."""
    issues = []
    for p in ctx.problems.get(block, []):
        inner = Issue(p.node, "bad_block", p.message)
        issues.append(Issue(use_id, "bad_block", use_message(use_id, inner, block, outermost), field=p.field))
    return issues


def body_issues(use_id: str, block: str, body, outermost: bool) -> list[Issue]:
    """The errors of a body analysed for one use, as the use's issues (fixes inside a body are not offered)."""
    issues = []
    for issue in body.issues:
        if issue.severity != "error":
            continue
        where = f"blocks.{block}.{issue.field}" if issue.field else f"blocks.{block}"
        issues.append(Issue(use_id, issue.code, use_message(use_id, issue, block, outermost), field=where))
    return issues
