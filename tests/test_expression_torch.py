"""The Backprop explorer's arithmetic against torch.autograd over generated expressions: wherever torch's values
and the variables' gradients are finite numbers, the explorer gives the same values and gradients (every node's,
including an intermediate gradient that is inf or nan where torch's is too); wherever the explorer refuses,
torch has a node whose value, or a variable whose gradient, is not a finite number (the explorer shows every
node's value, so it refuses an infinite one even where torch's output is finite again, e.g. sigmoid(exp(1000))).

Derandomized by default (about 2,000 expressions); NETCANVAS_FUZZ=1 draws new ones each run:
    NETCANVAS_FUZZ=1 OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_expression_torch.py
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from builder.explorer.expression import Expression, parse_expression
from builder.explorer.expression_trace import Trace, TraceError, trace
from tests.test_expression import torch_trace

FUZZ = os.environ.get("NETCANVAS_FUZZ") == "1"
SETTINGS = settings(
    max_examples=5000 if FUZZ else 2000,
    derandomize=not FUZZ,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
VARIABLES = ("x", "y", "z")
CONSTANTS = ("0", "1", "2", "0.5", "3", "(-1)", "1e-3")
VALUES = (0.0, 0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, 1e-3, 1e3, 710.0, 1e-200, 1e200)
UPSTREAMS = (1.0, -2.0, 0.0, 0.5)


def _grow(children):
    unary = st.tuples(st.sampled_from(["exp", "log", "sigmoid", "tanh", "relu", "-"]), children).map(
        lambda t: f"-({t[1]})" if t[0] == "-" else f"{t[0]}({t[1]})"
    )
    binary = st.tuples(st.sampled_from(["+", "-", "*", "/", "**", "max"]), children, children).map(
        lambda t: f"max({t[1]}, {t[2]})" if t[0] == "max" else f"({t[1]} {t[0]} {t[2]})"
    )
    return unary | binary


LEAVES = st.sampled_from(VARIABLES * 3 + CONSTANTS)
EXPRESSIONS = st.recursive(LEAVES, _grow, max_leaves=8)


def same(ours: float, theirs: float) -> bool:
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    if math.isinf(ours) or math.isinf(theirs):
        return ours == theirs
    return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12)


def compare(text: str, values: dict[str, float], upstream: float) -> None:
    expr = parse_expression(text)
    assert isinstance(expr, Expression), expr
    assume(expr.variables)
    values = {name: values[name] for name in expr.variables}
    ours = trace(expr, values, upstream)
    tensors = torch_trace(expr, values, upstream)
    torch_values = {node_id: t.item() for node_id, t in tensors.items()}
    leaf_grads = {n.id: tensors[n.id].grad.item() for n in expr.nodes if n.kind == "input"}
    torch_finite = all(map(math.isfinite, torch_values.values())) and all(map(math.isfinite, leaf_grads.values()))
    if isinstance(ours, TraceError):
        assert not torch_finite, f"{text} at {values}: ours refuses ({ours.message}) where torch is finite"
        return
    assert isinstance(ours, Trace)
    assert torch_finite, f"{text} at {values}: torch {torch_values} {leaf_grads} where ours is finite"
    for node in expr.nodes:
        assert same(ours.forward.values[node.id], torch_values[node.id]), (text, values, node.label)
        if node.id in ours.backward.grads and tensors[node.id].requires_grad:
            grad = tensors[node.id].grad.item()
            assert same(ours.backward.grads[node.id], grad), (text, values, upstream, node.label, grad)


@SETTINGS
@given(
    text=EXPRESSIONS,
    values=st.fixed_dictionaries({name: st.sampled_from(VALUES) for name in VARIABLES}),
    upstream=st.sampled_from(UPSTREAMS),
)
@example(text="x ** 0", values={"x": 0.0, "y": 1.0, "z": 1.0}, upstream=1.0)
@example(text="relu(x) ** 0.5", values={"x": -1.0, "y": 1.0, "z": 1.0}, upstream=1.0)
@example(text="max(x, y) * relu(z) ** 0.5", values={"x": 2.0, "y": 2.0, "z": -1.0}, upstream=0.0)
def test_the_explorer_agrees_with_torch_autograd(text, values, upstream):
    compare(text, values, upstream)


def test_the_issues_examples_give_torchs_gradients():
    power = trace(parse_expression("x ** 0"), {"x": 0.0})
    assert isinstance(power, Trace) and power.backward.grads["n0"] == 0.0
    blocked = trace(parse_expression("relu(x) ** 0.5"), {"x": -1.0})
    assert isinstance(blocked, Trace) and blocked.backward.grads["n0"] == 0.0
    assert blocked.backward.grads["n1"] == math.inf  # the power's derivative at 0, blocked by relu as in torch
