"""An activation op's curve and its derivative, computed through the op's own torch module (the inspector draws them).

    curve = activation_curve("LeakyReLU", {"negative_slope": 0.2})  # None for an op that is not an activation
    curve.x, curve.y, curve.slope                                     # plain lists of floats

The module is built from the op's engine record (engine/compile/op_records.py) exactly as a compiled network builds
it, and `slope` is d y / d x by autograd, so it is the gradient training passes back. Where that is not the
function's own derivative (a straight-through step, whose true derivative is 0 away from its jump), `true_slope`
holds the true one, None where it is undefined. Two ops are not functions of one number: Softmax is drawn as its
first unit on the pair (x, 0), which is sigmoid(x); Maxout as one unit whose pieces are fixed example lines, since
its real pieces are the weights it learns. `note` says so in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from builder.ops.catalog import ops_by_group
from engine.compile.op_records import build_module

X_RANGE = (-4.0, 4.0)
POINTS = 161  # a grid step of 0.05, so x = 0 and the kinks at +-0.5 are on it
ACTIVATION_OPS = tuple(op.name for op in ops_by_group()["activation"])
STRAIGHT_THROUGH = frozenset({"Step", "BipolarStep"})  # forward a step, backward the identity


@dataclass(frozen=True)
class ActivationCurve:
    """One op's curve on a grid of x, as plain numbers (see the module doc)."""

    op: str
    x: list[float]
    y: list[float]
    slope: list[float]  # d y / d x by autograd: the gradient used in training
    true_slope: list[float | None] | None = None  # the function's own derivative, where it differs from `slope`
    pieces: list[list[float]] = field(default_factory=list)  # Maxout: the value of each example line on x
    note: str = ""  # what is drawn, where it is not simply the op's function of x


def grid(points: int = POINTS, x_range: tuple[float, float] = X_RANGE) -> torch.Tensor:
    """(points,) evenly spaced x values, float32; computed in float64 so that x = 0 is exactly 0."""
    lo, hi = x_range
    steps = torch.arange(points, dtype=torch.float64)
    return (lo + steps * (hi - lo) / (points - 1)).float()


def _value_and_slope(module: torch.nn.Module, inputs: torch.Tensor, x: torch.Tensor) -> tuple[list, list]:
    """The first output unit of `module` on `inputs` (N, F) built from the leaf `x` (N,), and its d/dx."""
    y = module(inputs)[:, 0]  # (N,)
    (slope,) = torch.autograd.grad(y.sum(), x)  # each y_i depends on x_i only
    return y.detach().tolist(), slope.tolist()


def _scalar_curve(op: str, params: dict, x: torch.Tensor) -> ActivationCurve:
    module = build_module(op, params, [(1,)])
    y, slope = _value_and_slope(module, x.unsqueeze(1), x)  # (N, 1): one unit
    if op not in STRAIGHT_THROUGH:
        return ActivationCurve(op, x.tolist(), y, slope)
    note = "gradient used in training: straight-through (1 everywhere); the true derivative is 0 off the jump at 0"
    return ActivationCurve(op, x.tolist(), y, slope, true_slope=_step_derivative(y), note=note)


def _step_derivative(y: list[float]) -> list[float | None]:
    """The true derivative of a step function sampled on the grid: 0 where it is flat, None at its jump."""
    last = len(y) - 1
    return [None if y[max(i - 1, 0)] != y[min(i + 1, last)] else 0.0 for i in range(len(y))]


def _softmax_curve(params: dict, x: torch.Tensor) -> ActivationCurve:
    module = build_module("Softmax", {**params, "dim": -1}, [(2,)])  # over the pair, whatever the node's dim
    pair = torch.stack([x, torch.zeros_like(x)], dim=1)  # (N, 2): (x, 0)
    y, slope = _value_and_slope(module, pair, x)
    note = "Softmax of the pair (x, 0), its first unit: that is sigmoid(x); a real node normalises over its dim"
    return ActivationCurve("Softmax", x.tolist(), y, slope, note=note)


def example_pieces(pieces: int) -> tuple[list[float], list[float]]:
    """(slopes, intercepts) of `pieces` example lines: tangents of x^2 / 6 at points spread over [-3, 3]."""
    touch = torch.linspace(-3.0, 3.0, pieces) if pieces > 1 else torch.tensor([2.0])
    return (touch / 3).tolist(), (-(touch**2) / 6).tolist()


def _maxout_curve(params: dict, x: torch.Tensor) -> ActivationCurve:
    module = build_module("Maxout", {**params, "out_features": 1}, [(1,)])  # one unit, one input
    slopes, intercepts = example_pieces(params["pieces"])
    with torch.no_grad():
        module.linear.weight.copy_(torch.tensor(slopes).unsqueeze(1))  # (pieces, 1)
        module.linear.bias.copy_(torch.tensor(intercepts))  # (pieces,)
    inputs = x.unsqueeze(1)  # (N, 1)
    y, slope = _value_and_slope(module, inputs, x)
    lines = module.linear(inputs).detach().T.tolist()  # (pieces, N)
    note = (
        f"one Maxout unit with {params['pieces']} example pieces (dotted); a real node's pieces are its learned "
        "weights, so its own curve changes as it trains"
    )
    return ActivationCurve("Maxout", x.tolist(), y, slope, pieces=lines, note=note)


def activation_curve(op: str, params: dict, points: int = POINTS) -> ActivationCurve | None:
    """The curve of activation op `op` with resolved (valid) `params` on x in X_RANGE; None for other ops."""
    if op not in ACTIVATION_OPS:
        return None
    x = grid(points).requires_grad_(True)
    if op == "Softmax":
        return _softmax_curve(params, x)
    if op == "Maxout":
        return _maxout_curve(params, x)
    return _scalar_curve(op, params, x)
