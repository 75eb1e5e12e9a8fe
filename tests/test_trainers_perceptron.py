"""Rosenblatt's perceptron rule (engine.train.perceptron) against scikit-learn's Perceptron, and its classic limits."""

import dataclasses
import warnings

import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Perceptron

from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES, graph
from builder.spec.spec import parse_spec
from engine.compile.fx_module import compile_analysis
from engine.data.datasets import Dataset
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.perceptron import PerceptronTrainer
from engine.train.pipeline import prepare_run


def _rows(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer points (exact in float32 and float64) labelled by a line, with a few labels flipped so that no
    epoch is free of mistakes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-5, 6, (40, 2), generator=g).float()  # [40, 2]
    y = (x[:, 0] + 2 * x[:, 1] - 1 >= 0).long()  # [40]
    y[:4] = 1 - y[:4]
    return x, y


def _trainer(x, y, **config) -> PerceptronTrainer:
    analysis = analyze(TEMPLATES["perceptron"].spec())
    data = Dataset("points", "classification", x, y, x, y, 2, ("0", "1"), (2,), "float32")
    config = TrainConfig(dataset="or", device="cpu", **config)
    return PerceptronTrainer(compile_analysis(analysis), data, config, None, "fc")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weights_equal_scikit_learns_perceptron_with_no_shuffling_and_rate_one(seed):
    x, y = _rows(seed)
    trainer = _trainer(x, y, lr=1.0, epochs=6, shuffle=False, log_every=1)
    events = list(trainer.run())
    assert [e["kind"] for e in events].count("epoch") == 6 and events[-1]["kind"] == "done"
    reference = Perceptron(eta0=1.0, shuffle=False, alpha=0.0, max_iter=6, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(x.double().numpy(), y.numpy())
    assert trainer.linear.weight[0].tolist() == reference.coef_[0].tolist()
    assert trainer.linear.bias.tolist() == reference.intercept_.tolist()


def test_a_score_of_exactly_zero_is_a_mistake_for_either_class():
    """From zero weights every first score is 0: the rule updates on it whichever the class."""
    x = torch.tensor([[1.0, 2.0]])
    for label, sign in ((1, 1.0), (0, -1.0)):
        trainer = _trainer(x, torch.tensor([label]), lr=1.0, epochs=1, shuffle=False)
        list(trainer.run())
        assert trainer.linear.weight[0].tolist() == [sign * 1.0, sign * 2.0] and trainer.linear.bias.item() == sign


def _mistakes(name: str, dataset: str) -> tuple[list[int], list[float], dict]:
    template = TEMPLATES[name]
    config = dataclasses.replace(TrainConfig(**template.train), dataset=dataset, epochs=50, device="cpu")
    run = prepare_run(template.spec(), config)
    events = list(run.trainer.run())
    epochs = [e for e in events if e["kind"] == "epoch"]
    return [e["mistakes"] for e in epochs], [e["val_accuracy"] for e in epochs], events[-1]


@pytest.mark.parametrize("dataset", ["or", "and"])
def test_learns_or_and_and_to_an_epoch_without_mistakes_and_stops_there(dataset):
    mistakes, accuracies, done = _mistakes("perceptron", dataset)
    assert mistakes[-1] == 0 and all(m > 0 for m in mistakes[:-1]) and accuracies[-1] == 1.0
    assert done["kind"] == "done" and "an epoch without mistakes" in done["message"] and len(mistakes) < 50


def test_never_gets_all_four_rows_of_xor_right():
    mistakes, accuracies, done = _mistakes("perceptron_xor", "xor")
    assert len(mistakes) == 50 and min(mistakes) > 0 and max(accuracies) <= 0.75 and done["kind"] == "done"


def test_step_events_carry_the_running_mistakes_and_the_decision_line():
    x, y = _rows(0)
    trainer = _trainer(x, y, lr=1.0, epochs=1, shuffle=False, log_every=5)
    steps = [e for e in trainer.run() if e["kind"] == "step"]
    assert [e["step"] for e in steps] == list(range(5, 41, 5))
    assert steps[-1]["mistakes"] >= steps[0]["mistakes"] > 0
    assert {"weight_0", "weight_1", "bias"} <= set(steps[-1])


def test_the_rule_refuses_a_hidden_layer_naming_it():
    spec = graph(
        "deep_step",
        [
            ("x", "Input", {"shape": [2]}),
            ("hidden", "Linear", {"out_features": 4}),
            ("act", "Tanh"),
            ("fc", "Linear", {"out_features": 1}),
            ("step", "Step"),
        ],
    )
    config = TrainConfig(dataset="or", trainer="perceptron", device="cpu")
    with pytest.raises(ConfigError, match="node 'fc': trainer 'perceptron': the rule has no error signal for a hidden"):
        prepare_run(parse_spec(spec)[0], config)
    with pytest.raises(ConfigError, match="node 'fc2': trainer 'perceptron': the rule trains a Linear followed by"):
        prepare_run(TEMPLATES["mlp_xor"].spec(), config)
