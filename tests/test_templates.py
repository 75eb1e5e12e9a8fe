"""Every template is valid and learns: its training loss goes down within a few epochs."""

import dataclasses

import pytest

from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES
from engine.train.backprop import Trainer
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

# epochs per template for the test: enough for a clear drop, small enough for a fast suite
SHORT_EPOCHS = {
    "perceptron": 10,
    "mlp_xor": 60,
    "mlp_iris": 5,
    "rnn_sine": 2,
    "lstm_sine": 2,
    "gru_parity": 3,
    "lstm_text": 1,
    "transformer_parity": 3,
    "resnet_mini": 1,
    "resnet18_blocks": 1,  # 11 million weights: one epoch on one thread takes ~30 s
    "dbn_digits": 5,
    "rbm_digits": 2,
    "som_digits": 2,
}
SHORT_SETTINGS = {"dbn_digits": {"pretrain_epochs": 2}}


LOWER_IS_BETTER = {"mistakes": True, "reconstruction_error": True, "quantization_error": True}


def _train_loss(trainer) -> float:
    return trainer.evaluate(trainer.x_train, trainer.y_train)[0]


def _rule_improves(run) -> None:
    """A learning rule other than backprop: its own first metric, first epoch against last, got better."""
    epochs = [e for e in run.trainer.run() if e["kind"] in ("epoch", "done")]
    assert epochs[-1]["kind"] == "done", epochs[-1]
    name = run.trainer.metric_names[0]
    first, last = epochs[0][name], epochs[-2][name]
    assert (last < first) if LOWER_IS_BETTER.get(name, True) else (last > first), (name, first, last)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_template_is_valid_and_documented(name):
    template = TEMPLATES[name]
    assert analyze(template.spec()).ok
    assert template.title and template.description and template.train["dataset"]
    assert TrainConfig.from_dict(template.train)[1] == []


@pytest.mark.parametrize("name", [n for n in TEMPLATES if n != "perceptron_xor"])
def test_template_trains_with_loss_going_down(name, single_thread_torch):
    template = TEMPLATES[name]
    short = {"epochs": SHORT_EPOCHS.get(name, 2), "device": "cpu", **SHORT_SETTINGS.get(name, {})}
    run = prepare_run(template.spec(), TrainConfig(**{**template.train, **short}))
    if not isinstance(run.trainer, Trainer):  # a rule with no loss (perceptron, CD-k, SOM)
        _rule_improves(run)
        return
    before = _train_loss(run.trainer)
    events = list(run.trainer.run())
    assert events[-1]["kind"] == "done", events[-1]
    after = _train_loss(run.trainer)
    assert after < 0.9 * before, (before, after)


def test_perceptron_cannot_learn_xor_but_learns_or(single_thread_torch):
    """The single-layer limit: XOR is not linearly separable, so at most 3 of 4 rows come out right."""
    for name, best in (("perceptron_xor", 0.75), ("perceptron", 1.0)):
        template = TEMPLATES[name]
        config = dataclasses.replace(TrainConfig(**template.train), epochs=100, device="cpu")
        run = prepare_run(template.spec(), config)
        accuracies = [e["val_accuracy"] for e in run.trainer.run() if e["kind"] == "epoch"]
        assert max(accuracies) <= 0.75 if name == "perceptron_xor" else accuracies[-1] == best
