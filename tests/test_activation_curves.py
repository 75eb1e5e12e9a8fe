"""The inspector's activation curves (engine/compile/activation_curves.py) against closed forms, and the figure.

The curves come from each op's own module and autograd, so these tests check the ops themselves as much as the
plotting: values and derivatives on the grid, the straight-through steps' two derivatives, the bipolar ops."""

from __future__ import annotations

import math

import pytest
import torch

from builder.ops.catalog import CATALOG
from engine.compile.activation_curves import (
    ACTIVATION_OPS,
    STRAIGHT_THROUGH,
    activation_curve,
    example_pieces,
    grid,
)
from ui.figures.activations import activation_figure

pytestmark = pytest.mark.usefixtures("single_thread_torch")

X = grid().double()
KINKS = {"ReLU": [0.0], "LeakyReLU": [0.0], "ELU": [0.0], "Step": [0.0], "BipolarStep": [0.0], "Maxout": [0.0]}


def defaults(op: str) -> dict:
    return {p.name: (3 if p.name == "out_features" else p.default) for p in CATALOG[op].params}


def curve_tensors(op: str, params: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    curve = activation_curve(op, {**defaults(op), **(params or {})})
    assert curve is not None and curve.x == grid().tolist()
    return torch.tensor(curve.y, dtype=torch.float64), torch.tensor(curve.slope, dtype=torch.float64)


def away_from(kinks: list[float], tol: float = 0.03) -> torch.Tensor:
    """Mask of grid points more than `tol` from every kink (where a derivative has two sides)."""
    mask = torch.ones_like(X, dtype=torch.bool)
    for k in kinks:
        mask &= (X - k).abs() > tol
    return mask


def close(actual: torch.Tensor, expected: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    mask = torch.ones_like(X, dtype=torch.bool) if mask is None else mask
    torch.testing.assert_close(actual[mask], expected[mask], rtol=1e-5, atol=1e-5)


def test_sigmoid_tanh_and_bipolar_sigmoid_match_their_closed_forms():
    s, t = torch.sigmoid(X), torch.tanh(X)
    y, slope = curve_tensors("Sigmoid")
    close(y, s), close(slope, s * (1 - s))
    y, slope = curve_tensors("Tanh")
    close(y, t), close(slope, 1 - t**2)
    y, slope = curve_tensors("BipolarSigmoid")
    close(y, 2 * s - 1), close(slope, 2 * s * (1 - s)), close(slope, (1 - y**2) / 2)
    assert y.min() > -1 and y.max() < 1


@pytest.mark.parametrize("negative_slope", [0.01, 0.3])
def test_relu_and_leaky_relu_slopes(negative_slope):
    mask = away_from([0.0])
    y, slope = curve_tensors("ReLU")
    close(y, X.clamp_min(0)), close(slope, (X > 0).double(), mask)
    y, slope = curve_tensors("LeakyReLU", {"negative_slope": negative_slope})
    close(y, torch.where(X > 0, X, negative_slope * X))
    close(slope, torch.where(X > 0, 1.0, negative_slope).double(), mask)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu_and_gelu(alpha):
    y, slope = curve_tensors("ELU", {"alpha": alpha})
    close(y, torch.where(X > 0, X, alpha * (X.exp() - 1)))
    close(slope, torch.where(X > 0, torch.ones_like(X), alpha * X.exp()), away_from([0.0]))
    phi = torch.exp(-(X**2) / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(X / math.sqrt(2)))
    y, slope = curve_tensors("GELU")
    close(y, X * cdf), close(slope, cdf + X * phi)


@pytest.mark.parametrize("op, low, at_zero", [("Step", 0.0, 1.0), ("BipolarStep", -1.0, -1.0)])
def test_steps_draw_the_straight_through_gradient_and_the_true_derivative(op, low, at_zero):
    curve = activation_curve(op, {})
    y = torch.tensor(curve.y, dtype=torch.float64)
    close(y, torch.where(X > 0, 1.0, torch.where(X == 0, at_zero, low)).double())  # Step fires at 0, BipolarStep not
    assert curve.y[X.tolist().index(0.0)] == at_zero
    assert set(curve.slope) == {1.0}  # what training passes back
    assert {v for v in curve.true_slope if v is not None} == {0.0}  # flat everywhere ...
    undefined = [x for x, v in zip(curve.x, curve.true_slope) if v is None]
    assert undefined and all(abs(x) <= 0.05 + 1e-6 for x in undefined)  # ... but at the jump
    assert "straight-through" in curve.note


@pytest.mark.parametrize("width", [1.0, 2.5])
def test_piecewise_linear_saturates_outside_its_width(width):
    y, slope = curve_tensors("PiecewiseLinear", {"width": width})
    close(y, (X / width + 0.5).clamp(0, 1))
    inside = X.abs() < width / 2
    close(slope, torch.where(inside, 1 / width, 0.0).double(), away_from([-width / 2, width / 2]))
    assert y.min() == 0 and y.max() == 1


def test_softmax_is_drawn_as_its_first_unit_on_x_and_zero():
    curve = activation_curve("Softmax", {"dim": 0})  # the node's dim does not matter for the pair
    s = torch.sigmoid(X)
    close(torch.tensor(curve.y, dtype=torch.float64), s)
    close(torch.tensor(curve.slope, dtype=torch.float64), s * (1 - s))
    assert "(x, 0)" in curve.note


@pytest.mark.parametrize("pieces", [1, 2, 3, 4])
def test_maxout_is_the_max_of_its_example_pieces_and_says_so(pieces):
    curve = activation_curve("Maxout", {"out_features": 7, "pieces": pieces})
    slopes, intercepts = example_pieces(pieces)
    lines = (
        torch.tensor(slopes, dtype=torch.float64)[:, None] * X + torch.tensor(intercepts, dtype=torch.float64)[:, None]
    )
    close(torch.tensor(curve.y, dtype=torch.float64), lines.max(dim=0).values)
    close(torch.tensor(curve.pieces, dtype=torch.float64)[0], lines[0])
    top_two = lines.topk(min(2, pieces), dim=0).values
    clear_winner = (top_two[0] - top_two[-1] > 0.05) | (pieces == 1)  # away from where two pieces cross
    best = torch.tensor(slopes, dtype=torch.float64)[lines.argmax(dim=0)]
    close(torch.tensor(curve.slope, dtype=torch.float64), best, clear_winner)
    assert len(curve.pieces) == pieces and "example pieces" in curve.note


def test_every_activation_op_is_drawn_and_only_the_steps_differ_from_their_numerical_derivative():
    assert set(ACTIVATION_OPS) == {op for op, d in CATALOG.items() if d.group == "activation"}
    step = (X[1] - X[0]).item()
    for op in ACTIVATION_OPS:
        y, slope = curve_tensors(op)
        numeric = torch.gradient(y, spacing=step)[0]  # central differences
        mask = away_from(KINKS.get(op, []) + ([-0.5, 0.5] if op == "PiecewiseLinear" else []), tol=0.06)
        agrees = torch.allclose(slope[mask], numeric[mask], atol=2e-3)
        assert agrees == (op not in STRAIGHT_THROUGH), op
    assert activation_curve("Linear", {"out_features": 2, "bias": True}) is None


def test_figure_draws_the_curve_its_derivative_and_for_steps_the_true_one():
    fig = activation_figure(activation_curve("LeakyReLU", {"negative_slope": 0.2}))
    assert [trace.name for trace in fig.data] == ["f(x)", "f′(x)"] and fig.layout.height == 220
    fig = activation_figure(activation_curve("Step", {}))
    assert [trace.name for trace in fig.data] == ["f(x)", "f′ in training", "true f′"]
    fig = activation_figure(activation_curve("Maxout", {"out_features": 1, "pieces": 3}))
    assert [trace.name for trace in fig.data] == ["pieces"] * 3 + ["f(x)", "f′(x)"]
    assert sum(bool(trace.showlegend) for trace in fig.data[:3]) == 1
