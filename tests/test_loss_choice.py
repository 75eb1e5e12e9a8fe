"""A loss picked instead of the chosen one: each fits its tasks, computes what it says, and trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from builder.library.templates import TEMPLATES
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.helpers import chain

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def trainer(template: str, **config):
    t = TEMPLATES[template]
    return prepare_run(t.spec(), TrainConfig(**{**t.train, "device": "cpu", **config})).trainer


def loss_on_first_batch(tr) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = tr.x_train[:16], tr.y_train[:16]
    with torch.no_grad():
        out = tr.model(x)
    return tr.objective.loss(out, x if tr.objective.targets_are_inputs else y), out, y


def test_unknown_loss_is_a_config_problem():
    assert TrainConfig(loss="hinge").problems() == ["loss must be one of cross_entropy, mse, l1, huber; got 'hinge'"]
    assert TrainConfig(loss="l1").problems() == []


@pytest.mark.parametrize("name, reference", [("l1", F.l1_loss), ("huber", F.huber_loss), ("mse", F.mse_loss)])
def test_regression_losses_compute_what_they_say(name, reference):
    tr = trainer("rnn_sine", loss=name, epochs=1)
    value, out, y = loss_on_first_batch(tr)
    assert tr.objective.name == name
    torch.testing.assert_close(value, reference(out, y))


def test_classification_mse_compares_probabilities_with_one_hot_targets():
    tr = trainer("mlp_iris", loss="mse", epochs=1)
    value, out, y = loss_on_first_batch(tr)
    assert tr.objective.name == "mse_probabilities"
    torch.testing.assert_close(value, F.mse_loss(torch.softmax(out, dim=-1), F.one_hot(y, 3).float()))
    assert trainer("mlp_iris", loss="cross_entropy").objective.name == "cross_entropy"


def test_classification_mse_trains():
    tr = trainer("mlp_iris", loss="mse", lr=0.05, epochs=40)
    events = list(tr.run())
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert epochs[-1]["loss"] < 0.5 * epochs[0]["loss"] and epochs[-1]["val_accuracy"] > 0.8


def test_a_loss_that_does_not_fit_says_what_would():
    with pytest.raises(
        ConfigError, match="loss 'l1' does not fit task 'classification'; use one of cross_entropy, mse"
    ):
        trainer("mlp_iris", loss="l1")
    with pytest.raises(ConfigError, match="loss 'cross_entropy' does not fit task 'regression'; use one of mse, l1"):
        trainer("rnn_sine", loss="cross_entropy")
    step = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": 1}), ("step", "Step"))
    with pytest.raises(ConfigError, match="output node 'step', a Step"):
        prepare_run(step, TrainConfig(dataset="or", loss="cross_entropy", device="cpu", trainer="backprop"))


def test_a_loss_chosen_for_a_rule_that_minimises_none_is_refused_not_ignored():
    step = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": 1}), ("step", "Step"))
    with pytest.raises(ConfigError, match="loss 'mse' has no effect with the perceptron rule"):
        prepare_run(step, TrainConfig(dataset="or", loss="mse", device="cpu"))  # auto picks the perceptron rule


@pytest.mark.parametrize("head, auto_name", [("BipolarSigmoid", "bipolar_bce"), ("BipolarStep", "step_mse")])
def test_bipolar_outputs_are_read_as_y_plus_one_over_two(head, auto_name):
    from engine.probes.epoch_probes import class_probabilities, predicted_classes

    spec = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": 1}), ("out", head))
    config = TrainConfig(dataset="xor", device="cpu", epochs=1, batch_size=4)
    tr = prepare_run(spec, config).trainer
    assert tr.objective.name == auto_name
    value, out, y = loss_on_first_batch(prepare_run(spec, TrainConfig(**{**config.to_dict(), "loss": "mse"})).trainer)
    torch.testing.assert_close(value, F.mse_loss((out + 1) / 2, y))  # squared error on the 0/1 scale
    probs = class_probabilities(torch.tensor([[-1.0], [0.0], [1.0]]), head)
    torch.testing.assert_close(probs[:, 1], torch.tensor([0.0, 0.5, 1.0]))
    assert predicted_classes(torch.tensor([[-0.2], [0.2]]), 2, head).tolist() == [0, 1]
    if head == "BipolarStep":
        with pytest.raises(ConfigError, match=r"a BipolarStep \(-1 or \+1\); use loss mse"):
            prepare_run(spec, TrainConfig(**{**config.to_dict(), "loss": "cross_entropy"}))
