"""builder.explorer.expression against torch.autograd: every node's value and gradient, each edge's local derivative,
the steps between, and the parser's refusals with their columns."""

from __future__ import annotations

import math

import pytest
import torch

from builder.explorer.expression import MAX_DEPTH, Expression, ParseError, parse_expression
from builder.explorer.expression_trace import Trace, TraceError, describe_step, snapshot, trace

TORCH_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": torch.pow,
    "neg": lambda a: -a,
    "exp": torch.exp,
    "log": torch.log,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "max": torch.maximum,
}

# (expression, values, upstream, the same function written in torch by hand)
CASES = [
    ("(x + y) * z", {"x": -2, "y": 5, "z": 4}, 1.0, lambda t: (t["x"] + t["y"]) * t["z"]),
    ("(x + y) * z", {"x": -2, "y": 5, "z": 4}, 1.5, lambda t: (t["x"] + t["y"]) * t["z"]),
    (
        "sigmoid(w1*x1 + w2*x2 + b)",
        {"w1": 2.0, "x1": -1.0, "w2": -3.0, "x2": -2.0, "b": -3.0},
        1.0,
        lambda t: torch.sigmoid(t["w1"] * t["x1"] + t["w2"] * t["x2"] + t["b"]),
    ),
    ("x * x", {"x": 3.0}, 1.0, lambda t: t["x"] * t["x"]),
    ("x * y + x / y - x", {"x": 1.5, "y": -0.5}, 2.0, lambda t: t["x"] * t["y"] + t["x"] / t["y"] - t["x"]),
    ("x ** 3 + 2 ^ y", {"x": -1.5, "y": 0.7}, 1.0, lambda t: t["x"] ** 3 + 2 ** t["y"]),
    ("x ** y", {"x": 2.5, "y": -1.3}, 1.0, lambda t: t["x"] ** t["y"]),
    ("log(x) * exp(-y)", {"x": 0.3, "y": 1.2}, 1.0, lambda t: torch.log(t["x"]) * torch.exp(-t["y"])),
    ("tanh(x * y) - -x", {"x": 0.4, "y": 2.0}, -1.0, lambda t: torch.tanh(t["x"] * t["y"]) - -t["x"]),
    ("relu(x) + relu(y) + relu(z)", {"x": 2.0, "y": -1.0, "z": 0.0}, 1.0, lambda t: sum(map(torch.relu, t.values()))),
    ("max(x, y) * max(y, x) + max(x, x)", {"x": 1.0, "y": 4.0}, 1.0, None),
    ("max(x, y)", {"x": 2.0, "y": 2.0}, 1.0, lambda t: torch.maximum(t["x"], t["y"])),  # a tie: half each
    ("-x ** 2 / (1 + exp(-x))", {"x": 0.9}, 1.0, lambda t: -(t["x"] ** 2) / (1 + torch.exp(-t["x"]))),
    ("(a - b) * (a + b) * c", {"a": 3.0, "b": 1.0, "c": 0.25}, 1.0, None),
]


def torch_trace(expr: Expression, values: dict, upstream: float):
    """Every node's value and gradient, computed by torch over the same graph."""
    leaves = {n: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for n, v in values.items()}
    tensors = {}
    for node in expr.nodes:
        if node.kind == "input":
            tensors[node.id] = leaves[node.name]
        elif node.kind == "constant":
            tensors[node.id] = torch.tensor(node.value, dtype=torch.float64)
        else:
            tensors[node.id] = TORCH_OPS[node.op](*[tensors[i] for i in node.inputs])
            if tensors[node.id].requires_grad:  # an operation on constants only has no gradient
                tensors[node.id].retain_grad()
    tensors[expr.output].backward(torch.tensor(upstream, dtype=torch.float64))
    return tensors


def traced(text: str, values: dict, upstream: float = 1.0) -> Trace:
    expr = parse_expression(text)
    assert isinstance(expr, Expression), expr
    result = trace(expr, values, upstream)
    assert isinstance(result, Trace), result
    return result


@pytest.mark.parametrize("text, values, upstream, by_hand", CASES, ids=[f"{c[0]}|{c[2]}" for c in CASES])
def test_values_and_gradients_equal_torch_autograd(text, values, upstream, by_hand):
    result = traced(text, values, upstream)
    expr = result.expression
    tensors = torch_trace(expr, values, upstream)
    for node in expr.nodes:
        assert result.forward.values[node.id] == pytest.approx(tensors[node.id].item(), rel=1e-12), node.label
        if node.kind != "constant":
            assert result.backward.grads[node.id] == pytest.approx(tensors[node.id].grad.item(), rel=1e-12), node.label
    if by_hand is not None:  # the graph itself, against torch written by hand
        leaves = {n: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for n, v in values.items()}
        out = by_hand(leaves)
        out.backward(torch.tensor(upstream, dtype=torch.float64))
        assert result.forward.values[expr.output] == pytest.approx(out.item(), rel=1e-12)
        for node in expr.nodes:
            if node.kind == "input":
                assert result.backward.grads[node.id] == pytest.approx(leaves[node.name].grad.item(), rel=1e-12)


@pytest.mark.parametrize("text, values, upstream, by_hand", CASES, ids=[f"{c[0]}|{c[2]}" for c in CASES])
def test_each_edge_carries_its_local_derivative_times_the_targets_gradient(text, values, upstream, by_hand):
    result = traced(text, values, upstream)
    expr = result.expression
    tensors = torch_trace(expr, values, 1.0)
    for k, edge in enumerate(expr.edges):
        if expr.node(edge.source).kind == "constant":
            assert k not in result.backward.local
            continue
        args = [tensors[i].detach().clone().requires_grad_(True) for i in expr.node(edge.target).inputs]
        out = TORCH_OPS[expr.node(edge.target).op](*args)
        (local,) = torch.autograd.grad(out, args[edge.port], allow_unused=False)
        assert result.backward.local[k] == pytest.approx(local.item(), rel=1e-12), (expr.node(edge.target).label, k)
        expected = result.backward.local[k] * result.backward.grads[edge.target]
        assert result.backward.flowing[k] == pytest.approx(expected, rel=1e-12)


def test_the_worked_example():
    result = traced("(x + y) * z", {"x": -2, "y": 5, "z": 4})
    by_name = {n.name: n.id for n in result.expression.nodes}
    assert [n.label for n in result.expression.nodes if n.kind == "op"] == ["q = x + y", "f = q * z"]
    values, grads = result.forward.values, result.backward.grads
    assert values[by_name["q"]] == 3 and values[by_name["f"]] == 12
    assert (grads[by_name["q"]], grads[by_name["z"]], grads[by_name["x"]], grads[by_name["y"]]) == (4, 3, 4, 4)
    scaled = traced("(x + y) * z", {"x": -2, "y": 5, "z": 4}, upstream=1.5).backward.grads
    assert all(scaled[node] == 1.5 * grad for node, grad in grads.items())


def test_steps_go_forward_in_topological_order_then_back_in_reverse():
    result = traced("(x + y) * z", {"x": -2, "y": 5, "z": 4}, upstream=1.5)
    names = lambda ids: [result.expression.node(i).name for i in ids]  # noqa: E731
    assert names(result.forward_steps) == ["q", "f"] and names(result.backward_steps) == ["f", "q"]
    assert result.total == 4
    start = snapshot(result, 0)
    assert start.phase == "start" and start.current is None and not start.edge_values and not start.grads
    assert sorted(start.values.values()) == [-2, 4, 5]  # the inputs are known from the start
    one = snapshot(result, 1)
    assert describe_step(result, one) == "q = x + y = 3.00 (x = -2.00, y = 5.00)"
    assert sorted(one.edge_values.values()) == [-2, 5] and not one.local
    three = snapshot(result, 3)
    assert three.phase == "backward" and sorted(three.local.values()) == [3, 4] and len(three.grads) == 3
    assert "∂f/∂q = 4.00, so q gets 4.00 · 1.50 = 6.00" in describe_step(result, three)
    end = snapshot(result, 99)
    assert end.step == 4 and end.grads == result.backward.grads and end.local == result.backward.local


def test_a_repeated_variable_gathers_one_term_per_use_step_by_step():
    result = traced("x * x + x", {"x": 3.0})
    x = result.expression.variables.index("x")
    assert result.backward.grads[f"n{x}"] == 7.0
    assert snapshot(result, result.total - 1).grads[f"n{x}"] == 1.0  # only the + has passed its term back yet
    assert snapshot(result, result.total).grads[f"n{x}"] == 7.0


def test_a_lone_variable_and_a_constant_expression():
    lone = traced("x", {"x": 3.0}, upstream=2.0)
    assert lone.total == 2 and snapshot(lone, 2).grads == {"n0": 2.0}
    constant = traced("2 * 3", {})
    assert constant.forward.values["n2"] == 6.0 and constant.backward_steps == () and constant.backward.grads == {}


@pytest.mark.parametrize(
    "text, values, message",
    [
        ("x * y", {"x": 1.0}, "There is no value for y."),
        (
            "log(x)",
            {"x": -1.0},
            "The operation f = log(x) is outside its function's domain (its value is not a real number) at x = -1.00.",
        ),
        (
            "exp(x) * 2",
            {"x": 1000.0},
            "The operation q = exp(x) overflows (its value is not a finite number) at x = 1000.00.",
        ),
        ("exp(1000) * x", {"x": 1.0}, "The operation q = exp(1000) overflows (its value is not a finite number)."),
        (
            "x * x * x",
            {"x": 1e120},
            "The operation f = q * x overflows (its value is not a finite number) at q = 1e+240, x = 1e+120.",
        ),
        ("x / (y - 1)", {"x": 1.0, "y": 1.0}, "The operation f = x / q divides by zero at x = 1.00, q = 0.00."),
        ("x ** y", {"x": 0.0, "y": -1.0}, "The operation f = x ** y divides by zero at x = 0.00, y = -1.00."),
        (
            "x ** 0.5",
            {"x": -4.0},
            "The operation f = x ** 0.5 is outside its function's domain (its value is not "
            "a real number) at x = -4.00.",
        ),
        (
            "x ** y",
            {"x": -2.0, "y": 2.0},
            "The gradient of f by y is not a finite number (nan): the derivative of "
            "f = x ** y by y is not defined at x = -2.00, y = 2.00.",
        ),
        (
            "x ** 0.5 * 2",
            {"x": 0.0},
            "The gradient of f by x is not a finite number (inf): the derivative of "
            "q = x ** 0.5 by x is infinite at x = 0.00.",
        ),
        (
            "x * y",
            {"x": 1e300, "y": 1e-300},
            "The gradient of f by y is not a finite number (inf): what f = x * y "
            "passes back to y overflows at x = 1e+300, y = 1e-300.",
        ),
    ],
)
def test_values_that_are_not_finite_name_the_node_in_one_sentence(text, values, message):
    result = trace(parse_expression(text), values, upstream=1e10 if "1e-300" in str(values) else 1.0)
    assert isinstance(result, TraceError) and result.message == message, result


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("x + y @ z", "unexpected '@'", 7),
        ("x.y", "attribute access is not allowed", 2),
        ("sigmoid(x).real", "attribute access is not allowed", 11),
        ("open(x)", "unknown function 'open'", 1),
        ("x + __import__(y)", "unknown function '__import__'", 5),
        ("x(y)", "unknown function 'x'", 1),
        ("(x)(y)", "unexpected '('", 4),
        ("2(x)", "unexpected '('", 2),
        ("exp(x)(y)", "unexpected '('", 7),
        ("x ** 1000", "exponent 1000 is too large", 6),
        ("x ^ -101", "exponent -101 is too large", 5),
        ("exp + 1", "'exp' is a function", 1),
        ("max(x)", "max() takes 2 arguments, not 1", 1),
        ("exp(x, y)", "exp() takes 1 argument, not 2", 1),
        ("(x + y", "unclosed '('", 1),
        ("x y", "unexpected 'y'", 3),
        ("x +", "unexpected end of the expression", 4),
        ("x = 1", "unexpected '='", 3),
        ("x; y", "unexpected ';'", 2),
        ("'x'", 'unexpected "\'"', 1),
        ("1e999 * x", "number 1e999 is too large", 1),
        ("  ", "the expression is empty", 1),
    ],
)
def test_the_parser_refuses_with_the_column_of_the_culprit(text, message, column):
    result = parse_expression(text)
    assert isinstance(result, ParseError), result
    assert message in result.message and f"at column {column}" in result.message
    assert result.caret == f"{text}\n{' ' * (column - 1)}^"


def test_the_message_reads_as_the_issue_asks():
    result = parse_expression("x + y @ z")
    assert result.message == "unexpected '@' at column 7."
    assert result.caret.splitlines() == ["x + y @ z", "      ^"]
    assert parse_expression("x.y").message == "unexpected '.' at column 2: attribute access is not allowed."


@pytest.mark.parametrize("length", [501, 2000])
def test_an_over_long_expression_is_refused_with_the_limit_in_a_sentence(length):
    text = ("x + " * length)[:length]
    result = parse_expression(text)
    assert isinstance(result, ParseError) and result.expression == text
    expected = (
        f"it is {length:,} characters long and the limit is 500 characters; the text is kept for you to shorten "
        "(the caret marks character 501)."
    )
    assert result.message == expected and result.caret == f"{text}\n{' ' * 500}^"


def test_nesting_deeper_than_the_limit_is_refused_not_a_recursion_error():
    assert isinstance(parse_expression("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH), Expression)
    for text in ("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), "-" * 1000 + "x", "exp(" * 200 + "x"):
        result = parse_expression(text[:500])
        assert isinstance(result, ParseError) and f"deeper than {MAX_DEPTH} levels" in result.message, text
    long_but_flat = " + ".join(["x"] * 120)
    assert isinstance(parse_expression(long_but_flat), Expression)
    assert traced(long_but_flat, {"x": 1.0}).backward.grads["n0"] == 120


def test_operator_precedence_follows_python():
    for text, values in [("-2 ** 2", {}), ("2 ** 3 ** 2", {}), ("x - y - z", {"x": 1, "y": 2, "z": 3})]:
        expected = {"-2 ** 2": -4.0, "2 ** 3 ** 2": 512.0, "x - y - z": -4.0}[text]
        assert traced(text, values).forward.values[traced(text, values).expression.output] == expected
    assert math.isclose(traced("x ^ 2 * 3", {"x": 2}).forward.values["n4"], 12.0)


def test_names_avoid_the_variables():
    expr = parse_expression("f * q + out")
    assert isinstance(expr, Expression)
    names = [n.name for n in expr.nodes]
    assert len(set(names)) == len(names) and expr.node(expr.output).name == "result"
