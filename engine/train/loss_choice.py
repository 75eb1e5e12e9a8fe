"""The loss a person picks instead of the one engine.train.losses chooses (TrainConfig.loss; None keeps that one).

| loss            | task                          | what it is                                                   |
| --------------- | ----------------------------- | ------------------------------------------------------------ |
| `cross_entropy` | classification                | the chosen cross-entropy family (softmax, sigmoid, per step) |
| `mse`           | classification                | squared error between class probabilities and one-hot targets |
| `mse`           | regression, reconstruction    | mean squared error (the default there)                       |
| `l1`            | regression, reconstruction    | mean absolute error                                          |
| `huber`         | regression, reconstruction    | squared near 0, absolute beyond 1 (robust to outliers)       |

A loss that does not fit the task or the output is a ConfigError naming the field and what would fit.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from engine.compile.op_records import OutputKind
from engine.errors import ConfigError
from engine.train.config import LOSSES
from engine.train.losses import UNIT_INTERVAL_LOSSES, Objective, Sink, on_unit_interval

LABEL_LOSSES = frozenset(
    {"cross_entropy", "cross_entropy_softmax_nll", "sequence_cross_entropy", "sequence_cross_entropy_softmax_nll"}
)
_ZERO_ONE, _PROBABILITIES = UNIT_INTERVAL_LOSSES[OutputKind.ZERO_ONE], UNIT_INTERVAL_LOSSES[OutputKind.PROBABILITIES]
ALREADY_SQUARED = frozenset({_ZERO_ONE.single, _ZERO_ONE.one_hot})  # a Step output learns by squared error only
ON_PROBABILITIES = frozenset({_PROBABILITIES.single, _PROBABILITIES.one_hot})  # a Sigmoid output
_BIPOLAR = UNIT_INTERVAL_LOSSES[OutputKind.BIPOLAR]
ON_BIPOLAR = frozenset({_BIPOLAR.single, _BIPOLAR.one_hot})  # a BipolarSigmoid output, read as (y + 1) / 2
REGRESSION_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.huber_loss}


def fitting_losses(task: str) -> tuple[str, ...]:
    return LOSSES[:2] if task == "classification" else LOSSES[1:]


def apply_loss_choice(objective: Objective, loss: str | None, sink: Sink) -> Objective:
    """`objective` with the loss `loss` (None: unchanged); ConfigError when it does not fit."""
    if loss is None:
        return objective
    if loss not in fitting_losses(objective.task):
        fits = ", ".join(fitting_losses(objective.task))
        raise ConfigError(f"loss '{loss}' does not fit task '{objective.task}'; use one of {fits} (or auto)")
    if objective.task != "classification":
        return dataclasses.replace(objective, name=loss, loss=REGRESSION_LOSSES[loss])
    if loss == "cross_entropy":
        if objective.name in ALREADY_SQUARED:
            raise ConfigError(
                f"loss 'cross_entropy' does not fit the output node '{sink.node_id}', a {sink.op} "
                f"({'-1 or +1' if sink.output.bipolar else '0 or 1'}); "
                "use loss mse (or auto)"
            )
        return objective
    return _probability_mse(objective, sink)


def _probability_mse(objective: Objective, sink: Sink) -> Objective:
    """Classification by squared error between the predicted class probabilities and one-hot targets."""
    name = objective.name
    if name in ALREADY_SQUARED:
        return objective
    if name in ON_PROBABILITIES:  # a Sigmoid output: already probabilities, targets already 0/1
        loss = F.mse_loss
    elif name in ON_BIPOLAR:
        loss = on_unit_interval(F.mse_loss)
    elif name == "bce_logits":  # one logit for two classes, targets [B, 1] in {0, 1}
        loss = lambda out, y: F.mse_loss(torch.sigmoid(out), y)  # noqa: E731
    else:  # labels against [.., C] outputs: logits, or probabilities from a Softmax
        assert name in LABEL_LOSSES, f"no squared-error form for objective {name!r}"
        softmax = name.endswith("softmax_nll")
        loss = lambda out, y: F.mse_loss(  # noqa: E731
            out if softmax else torch.softmax(out, dim=-1), F.one_hot(y, out.shape[-1]).to(out.dtype)
        )
    return dataclasses.replace(objective, name="mse_probabilities", loss=loss)
