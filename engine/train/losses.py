"""Choosing the loss (and accuracy) from the task, the network's output shape and what its output op gives.

What an op's output is (logits; probabilities in [0, 1] for a Sigmoid or PiecewiseLinear; 0/1 for a Step; a
distribution for a Softmax; (-1, 1) for a BipolarSigmoid; -1/+1 for a BipolarStep) is the `output` of its record in
engine/compile/op_records.py; the Sink reads it from there. A bipolar output y is scored as (y + 1) / 2 against the
same 0/1 targets, so BCE on a BipolarSigmoid is BCE on sigmoid(x), and a unit says "yes" above 0.

| task / output                                   | loss                                        |
| ----------------------------------------------- | ------------------------------------------- |
| classification, output [C]                      | cross entropy (NLL of log p for a Softmax)  |
| classification per step, output [T, C]          | cross entropy over all steps (text)         |
| 2 classes, output [1]                           | BCE with logits; BCE for a Sigmoid output;  |
|                                                 | MSE on {0, 1} for a Step output (perceptron |
|                                                 | rule through the straight-through gradient) |
|                                                 | the same on (y + 1) / 2 for the bipolar ops |
| classification, Sigmoid or Step output [C]      | BCE / MSE against one-hot targets           |
|   (or PiecewiseLinear, BipolarSigmoid, -Step)   |                                             |
| regression                                      | MSE                                         |
| reconstruction                                  | MSE against the input                       |

An output that cannot match the targets is a DataError naming the output node and the fix. The loss
functions are plain torch code: no Python work per sample and no host sync.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.fx
import torch.nn.functional as F

from engine.compile.op_records import OutputKind, output_kind
from engine.data.datasets import Dataset, fmt_shape
from engine.errors import DataError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Sink:
    """The network's output node: its id and op name it in messages, what its op gives chooses the loss."""

    node_id: str = "output"
    op: str | None = None  # e.g. "Linear", "Sigmoid", "Step", "Softmax"; None for a hand-written module

    @property
    def output(self) -> OutputKind:
        """What the output values are, from the op's engine record (logits for a hand-written module)."""
        return output_kind(self.op)

    @classmethod
    def from_analysis(cls, analysis) -> Sink:
        """The output node of a validated spec (builder.analysis.validate.Analysis)."""
        node = analysis.spec.node(analysis.output_id)
        assert node is not None, "Sink.from_analysis needs an Analysis with an output node"
        return cls(node.id, node.op)

    @classmethod
    def of_module(cls, model: torch.nn.Module) -> Sink:
        """Read the output node from a compiled GraphModule (engine.compile.fx_module records `spec_id` and
        `spec_op` in each fx node's meta); a generic Sink for any other module."""
        graph = getattr(model, "graph", None)
        outputs = [n for n in graph.nodes if n.op == "output"] if graph is not None else []
        if not outputs or not isinstance(outputs[0].args[0], torch.fx.Node):
            return cls()
        meta = outputs[0].args[0].meta
        return cls(meta.get("spec_id", "output"), meta.get("spec_op"))


@dataclass(frozen=True)
class Objective:
    name: str  # e.g. "cross_entropy", "bce_logits", "mse"
    task: str
    loss: LossFn  # (output [B, *out], target [B, *target]) -> mean loss, 0-d
    correct: LossFn | None = None  # (output, target) -> number of right predictions, 0-d; None: no accuracy
    prepare: Callable[[torch.Tensor], torch.Tensor] = lambda y: y  # labels -> loss targets, once per run
    targets_are_inputs: bool = False  # reconstruction: the target of a batch is its input
    per_step: bool = False  # one prediction per step (accuracy counts B * T predictions)

    def n_predictions(self, y: torch.Tensor) -> int:
        return y.numel() if self.per_step else len(y)


# --- loss and accuracy functions ---------------------------------------------------------------------


def flat_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # [B*T, C] vs [B*T]


def softmax_nll(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    log_probs = torch.log(probs.clamp_min(1e-12))  # a Softmax output is already normalised
    return F.nll_loss(log_probs.reshape(-1, probs.shape[-1]), y.reshape(-1))


def bce_on_probabilities(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(probs.clamp(1e-7, 1 - 1e-7), y)


def on_unit_interval(loss: LossFn) -> LossFn:
    """`loss` applied to a bipolar output y in [-1, 1] rescaled to (y + 1) / 2 in [0, 1]."""
    return lambda out, y: loss((out + 1) / 2, y)


def argmax_correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.argmax(dim=-1) == y).sum()


def one_hot_correct(out: torch.Tensor, y_one_hot: torch.Tensor) -> torch.Tensor:
    return (out.argmax(dim=-1) == y_one_hot.argmax(dim=-1)).sum()


def threshold_correct(threshold: float) -> LossFn:
    def correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((out > threshold).to(y.dtype) == y).sum()

    return correct


def as_column(y: torch.Tensor) -> torch.Tensor:
    return y.to(torch.float32).unsqueeze(1)  # [N] labels -> [N, 1] floats in {0, 1}


def one_hot(n_classes: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda y: F.one_hot(y, n_classes).to(torch.float32)  # [N] -> [N, C]


# --- choosing ----------------------------------------------------------------------------------------


def _labels(name: str, softmax: bool, per_step: bool = False) -> Objective:
    if softmax:
        return Objective(f"{name}_softmax_nll", "classification", softmax_nll, argmax_correct, per_step=per_step)
    loss = flat_cross_entropy if per_step else F.cross_entropy
    return Objective(name, "classification", loss, argmax_correct, per_step=per_step)


class UnitIntervalLoss(NamedTuple):
    """The objectives of an output already in [0, 1] (or in [-1, 1], rescaled)."""

    single: str  # the objective's name for one unit and 2 classes
    one_hot: str  # its name for one unit per class against one-hot targets
    loss: LossFn


UNIT_INTERVAL_LOSSES = {
    OutputKind.PROBABILITIES: UnitIntervalLoss("bce", "one_hot_sigmoid", bce_on_probabilities),
    OutputKind.ZERO_ONE: UnitIntervalLoss("step_mse", "one_hot_step", F.mse_loss),  # perceptron rule via the Step
    OutputKind.BIPOLAR: UnitIntervalLoss(
        "bipolar_bce", "one_hot_bipolar_sigmoid", on_unit_interval(bce_on_probabilities)
    ),  # BCE on sigmoid(x)
    # the Step's names: engine.train.loss_choice treats a BipolarStep like a Step (squared error only)
    OutputKind.PLUS_MINUS_ONE: UnitIntervalLoss("step_mse", "one_hot_step", on_unit_interval(F.mse_loss)),
}


def _single_output(output: OutputKind) -> Objective:
    """Two classes from one output unit."""
    if output in UNIT_INTERVAL_LOSSES:
        chosen = UNIT_INTERVAL_LOSSES[output]
        return Objective(chosen.single, "classification", chosen.loss, threshold_correct(output.yes_above), as_column)
    return Objective(
        "bce_logits", "classification", F.binary_cross_entropy_with_logits, threshold_correct(0.0), as_column
    )


def _classification(out: tuple, data: Dataset, sink: Sink) -> Objective:
    c, where = data.n_classes, f"the output node '{sink.node_id}' gives {fmt_shape(out)}"
    if data.task != "classification":
        raise DataError(
            f"dataset '{data.name}' has real-valued targets; task 'classification' needs class labels "
            "(use task 'regression')"
        )
    if data.y_train.dim() == 2:  # a label at every step: text
        steps = data.y_train.shape[1]
        if out == (steps, c):
            return _labels("sequence_cross_entropy", sink.output is OutputKind.DISTRIBUTION, per_step=True)
        hint = (
            f"set out_features to {c}"
            if len(out) == 2 and out[0] == steps
            else f"keep return_sequences true and end with Linear(out_features={c})"
        )
        raise DataError(
            f"{where} but dataset '{data.name}' has a label at each of {steps} steps with {c} classes, "
            f"so the output must be [{steps}, {c}]; {hint}"
        )
    if out == (c,) and sink.output in UNIT_INTERVAL_LOSSES:
        chosen = UNIT_INTERVAL_LOSSES[sink.output]
        return Objective(chosen.one_hot, "classification", chosen.loss, one_hot_correct, one_hot(c))
    if out == (c,):
        return _labels("cross_entropy", sink.output is OutputKind.DISTRIBUTION)
    if out == (1,) and c == 2:
        return _single_output(sink.output)
    also = " (or 1 with a Sigmoid or Step output)" if c == 2 else ""
    if len(out) == 1:
        raise DataError(f"{where} but dataset '{data.name}' has {c} classes; set out_features to {c}{also}")
    raise DataError(
        f"{where} but dataset '{data.name}' has one label per sample ({c} classes), so the output "
        f"must be [{c}]{also}; add a Flatten (or set return_sequences false) before the last Linear"
    )


def label_values(data: Dataset) -> torch.Tensor:
    """The number each class index stands for: its name when every name is a number ("0", "1", "25"),
    else the index itself (iris species)."""
    try:
        return torch.tensor([float(name) for name in data.class_names], dtype=torch.float32)
    except ValueError:
        return torch.arange(len(data.class_names), dtype=torch.float32)


def _regression_targets(data: Dataset) -> tuple[tuple[int, ...], Callable[[torch.Tensor], torch.Tensor]]:
    """(target shape, labels -> float targets) for regression on `data`."""
    if data.task != "classification":
        return data.target_shape, lambda y: y
    if data.y_train.dim() != 1:
        raise DataError(
            f"task 'regression' needs one number per sample; dataset '{data.name}' has a label at "
            "every step (use task 'classification')"
        )
    values = label_values(data)  # [C]
    return (1,), lambda y: values[y].unsqueeze(1)  # [N] class indices -> [N, 1] the numbers they name


def _regression(out: tuple, data: Dataset, sink: Sink) -> Objective:
    target, to_numbers = _regression_targets(data)
    if math.prod(out) != math.prod(target):
        raise DataError(
            f"the output node '{sink.node_id}' gives {fmt_shape(out)} but dataset '{data.name}' has "
            f"regression targets of shape {fmt_shape(target)}; the output must be {fmt_shape(target)}"
            + (f" (end with Linear(out_features={target[0]}))" if len(target) == 1 else "")
        )
    return Objective("mse", "regression", F.mse_loss, prepare=lambda y: to_numbers(y).reshape(len(y), *out))


def _reconstruction(out: tuple, data: Dataset, sink: Sink) -> Objective:
    if data.input_dtype != "float32":
        raise DataError(
            f"task 'reconstruction' needs float features; dataset '{data.name}' gives {data.input_dtype} token ids"
        )
    if out != data.feature_shape:
        raise DataError(
            f"the output node '{sink.node_id}' gives {fmt_shape(out)} but reconstruction needs the "
            f"Input's shape {fmt_shape(data.feature_shape)}; end with a layer (or a Reshape) that "
            f"gives {fmt_shape(data.feature_shape)}"
        )
    return Objective("reconstruction_mse", "reconstruction", F.mse_loss, targets_are_inputs=True)


def choose_objective(task: str, out_shape: tuple, data: Dataset, sink: Sink) -> Objective:
    """The loss for `task` given the output shape (no batch dim); DataError if they cannot match."""
    out = tuple(out_shape)
    choosers = {
        "classification": _classification,
        "regression": _regression,
        "reconstruction": _reconstruction,
        "unsupervised": _reconstruction,  # the target is the input
    }
    assert task in choosers, f"unknown task {task!r} (TrainConfig.problems should have caught it)"
    return choosers[task](out, data, sink)
