"""The forward values, backward gradients and steps of a parsed expression (builder/explorer/expression.py), for the
Backprop explorer; plain floats and `math`, checked against torch.autograd in tests/test_expression.py.

    traced = trace(parsed, {"x": -2, "y": 5, "z": 4}, upstream=1.0)   # a Trace, or a TraceError naming the node
    shown = snapshot(traced, step)                       # what is known after `step` of traced.total steps

Gradients: a node's gradient is the sum over the edges leaving it of what each edge carries back (its local
derivative x the gradient of the edge's target), so a repeated variable (x * x) collects one term per use.
Each edge follows torch.autograd's formula and conventions (builder/explorer/expression_maths.py; compared with torch
over thousands of generated expressions in tests/test_expression_torch.py). The explorer refuses an
expression where a node's value or a variable's gradient is not a finite number; an operation's gradient may be
inf or nan on the way back where torch's is too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from builder.explorer.expression import Expression, Node
from builder.explorer.expression_maths import apply, computed, edge_gradient


@dataclass(frozen=True)
class TraceError:
    message: str
    node: str | None = None  # the node id it names, if any


@dataclass(frozen=True)
class Forward:
    values: dict[str, float]  # node id -> value


@dataclass(frozen=True)
class Backward:
    upstream: float
    grads: dict[str, float]  # node id -> d(output)/d(node) x upstream, for nodes that depend on a variable
    local: dict[int, float]  # edge index -> d(target)/d(source), for edges whose source depends on a variable
    flowing: dict[int, float]  # edge index -> local x the target's gradient: what the edge adds to its source


@dataclass(frozen=True)
class Trace:
    expression: Expression
    forward: Forward
    backward: Backward
    forward_steps: tuple[str, ...]  # node ids, topological order
    backward_steps: tuple[str, ...]  # node ids, reverse order

    @property
    def total(self) -> int:
        return len(self.forward_steps) + len(self.backward_steps)


@dataclass(frozen=True)
class Snapshot:
    step: int  # 0 .. total
    phase: str  # "start", "forward" or "backward": the pass of the step just taken
    current: str | None  # the node of the step just taken
    values: dict[str, float]
    grads: dict[str, float]  # gathered so far
    edge_values: dict[int, float] = field(default_factory=dict)
    local: dict[int, float] = field(default_factory=dict)
    flowing: dict[int, float] = field(default_factory=dict)


def format_value(value: float) -> str:
    if not math.isfinite(value):
        return "nan (not defined)" if math.isnan(value) else "∞" if value > 0 else "-∞"
    size = abs(value)
    if size == 0:
        return "0.00"
    if size >= 1e5 or size < 0.01:
        return f"{value:.3g}"
    return f"{value:.3f}" if size < 1 else f"{value:.2f}"


# --- forward and backward ------------------------------------------------------------------------------------


def _why(error: Exception | None) -> str:
    if isinstance(error, ZeroDivisionError):
        return "divides by zero"
    if isinstance(error, ValueError):
        return "is outside its function's domain (its value is not a real number)"
    return "overflows (its value is not a finite number)"


def _inputs_text(expr: Expression, node: Node, values: dict[str, float]) -> str:
    named = [i for i in dict.fromkeys(node.inputs) if expr.node(i).kind != "constant"]
    return ", ".join(f"{expr.node(i).name} = {format_value(values[i])}" for i in named)


def _at(expr: Expression, node: Node, values: dict[str, float]) -> str:
    """' at x = 1.00, y = 2.00', or nothing for an operation on numbers only."""
    inputs = _inputs_text(expr, node, values)
    return f" at {inputs}" if inputs else ""


def forward(expr: Expression, values: dict[str, float]) -> Forward | TraceError:
    """Every node's value, in topological order; a TraceError names a variable without a value or a node whose
    value is not a finite number (the explorer shows every value, so it refuses any that is not one)."""
    missing = [name for name in expr.variables if name not in values]
    if missing:
        return TraceError(f"There is no value for {', '.join(missing)}.")
    out: dict[str, float] = {}
    for node in expr.nodes:
        if node.kind == "input":
            out[node.id] = float(values[node.name])
            if not math.isfinite(out[node.id]):
                return TraceError(f"The value {node.name} = {values[node.name]} is not a finite number.", node.id)
            continue
        if node.kind == "constant":
            out[node.id] = float(node.value)
            continue
        result, error = computed(apply, node.op, [out[i] for i in node.inputs])
        if not math.isfinite(result):
            return TraceError(f"The operation {node.label} {_why(error)}{_at(expr, node, out)}.", node.id)
        out[node.id] = result
    return Forward(out)


def depends_on_a_variable(expr: Expression) -> set[str]:
    needs: set[str] = set()
    for node in expr.nodes:
        if node.kind == "input" or any(i in needs for i in node.inputs):
            needs.add(node.id)
    return needs


def _incoming(expr: Expression, node_id: str) -> list[int]:
    return [k for k, edge in enumerate(expr.edges) if edge.target == node_id]


def backward(expr: Expression, fwd: Forward, upstream: float = 1.0) -> Backward | TraceError:
    """Gradients of the output times `upstream`, node by node in reverse topological order, by torch's formulas
    (builder/explorer/expression_maths.py). An operation's gradient may be inf or nan on the way (relu(x) ** 0.5 at
    x = -1: the power's derivative at 0 is inf, and relu blocks it, so x gets 0 as in torch); a variable's
    gradient that is not a finite number is refused, naming the edge where it stopped being one."""
    if not math.isfinite(upstream):
        return TraceError(f"The upstream gradient {upstream} is not a finite number.")
    needs = depends_on_a_variable(expr)
    grads = {expr.output: float(upstream)} if expr.output in needs else {}
    local: dict[int, float] = {}
    flowing: dict[int, float] = {}
    for node in reversed(expr.nodes):
        if node.kind != "op" or node.id not in needs:
            continue
        args = [fwd.values[i] for i in node.inputs]
        for k in _incoming(expr, node.id):
            source = expr.edges[k].source
            if source in needs:
                local[k], flowing[k] = edge_gradient(
                    node.op, args, fwd.values[node.id], expr.edges[k].port, grads[node.id]
                )
                grads[source] = grads.get(source, 0.0) + flowing[k]
    result = Backward(float(upstream), grads, local, flowing)
    bad = next((n for n in expr.nodes if n.kind == "input" and not math.isfinite(grads[n.id])), None)
    return result if bad is None else TraceError(_not_finite(expr, fwd, result, bad), bad.id)


def _not_finite(expr: Expression, fwd: Forward, bwd: Backward, variable: Node) -> str:
    """Why the gradient by `variable` is not a finite number: from the variable towards the output, the first
    edge that carries a value that is not finite although the gradient arriving at its target is finite."""
    out = expr.node(expr.output).name
    head = f"The gradient of {out} by {variable.name} is not a finite number ({bwd.grads[variable.id]})"
    node_id = variable.id
    while True:
        leaving = [k for k, e in enumerate(expr.edges) if e.source == node_id and k in bwd.flowing]
        bad = next((k for k in leaving if not math.isfinite(bwd.flowing[k])), None)
        if bad is None:
            name = expr.node(node_id).name
            return f"{head}: the finite terms of the gradient by {name} add up to more than a float can hold."
        target = expr.node(expr.edges[bad].target)
        if math.isfinite(bwd.grads[target.id]):
            source, d = expr.node(node_id).name, bwd.local[bad]
            at = _at(expr, target, fwd.values)
            if math.isfinite(d):
                return f"{head}: what {target.label} passes back to {source} overflows{at}."
            what = "infinite" if math.isinf(d) else "not defined"
            return f"{head}: the derivative of {target.label} by {source} is {what}{at}."
        node_id = target.id


def trace(expr: Expression, values: dict[str, float], upstream: float = 1.0) -> Trace | TraceError:
    """Forward, backward and the steps between: every operation forward, then back in reverse order (an
    expression that is a lone variable or number has one step each way, or none back for a number)."""
    fwd = forward(expr, values)
    if isinstance(fwd, TraceError):
        return fwd
    bwd = backward(expr, fwd, upstream)
    if isinstance(bwd, TraceError):
        return bwd
    needs = depends_on_a_variable(expr)
    forward_steps = tuple(n.id for n in expr.nodes if n.kind == "op") or (expr.output,)
    backward_steps = tuple(n.id for n in reversed(expr.nodes) if n.kind == "op" and n.id in needs)
    if not backward_steps and expr.output in needs:
        backward_steps = (expr.output,)
    return Trace(expr, fwd, bwd, forward_steps, backward_steps)


def snapshot(tr: Trace, step: int) -> Snapshot:
    """What is known after `step` steps (clamped to 0 .. tr.total): inputs and constants from the start."""
    expr, step = tr.expression, max(0, min(step, tr.total))
    done_forward = set(tr.forward_steps[:step])
    done_backward = tr.backward_steps[: max(0, step - len(tr.forward_steps))]
    values = {n.id: tr.forward.values[n.id] for n in expr.nodes if n.kind != "op" or n.id in done_forward}
    edge_values = {k: values[e.source] for k, e in enumerate(expr.edges) if e.target in done_forward}
    grads = {expr.output: tr.backward.upstream} if done_backward else {}
    local, flowing = {}, {}
    for node_id in done_backward:
        for k in _incoming(expr, node_id):
            if k in tr.backward.local:
                local[k], flowing[k] = tr.backward.local[k], tr.backward.flowing[k]
                source = expr.edges[k].source
                grads[source] = grads.get(source, 0.0) + flowing[k]
    phase = "start" if step == 0 else "forward" if step <= len(tr.forward_steps) else "backward"
    current = None if step == 0 else (tr.forward_steps + tr.backward_steps)[step - 1]
    return Snapshot(step, phase, current, values, grads, edge_values, local, flowing)


def describe_step(tr: Trace, shown: Snapshot) -> str:
    """One line on the step just taken: 'q = x + y = 3.00 (x = -2.00, y = 5.00)' or, backward, the gradient
    the node passes to each of its inputs."""
    if shown.current is None:
        return ""
    expr, node = tr.expression, tr.expression.node(shown.current)
    value = format_value(tr.forward.values[node.id])
    if shown.phase == "forward":
        inputs = _inputs_text(expr, node, shown.values)
        return f"{node.label} = {value}" + (f" ({inputs})" if inputs else "")
    grad = format_value(shown.grads[node.id])
    parts = [f"grad {node.name} = {grad}"]
    for k in _incoming(expr, node.id):
        if k in shown.local:
            source = expr.node(expr.edges[k].source).name
            d, passed = format_value(shown.local[k]), format_value(shown.flowing[k])
            if math.isfinite(shown.grads[node.id]) or shown.local[k] != 0:
                parts.append(f"∂{node.name}/∂{source} = {d}, so {source} gets {d} · {grad} = {passed}")
            else:  # torch's convention: a blocked edge passes nothing back, whatever arrives
                parts.append(f"∂{node.name}/∂{source} = {d}: the edge is blocked, so {source} gets 0 (as in torch)")
    return f"back through {node.label}: " + "; ".join(parts)
