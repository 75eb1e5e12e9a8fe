"""Training: config problems, device choice, every loss path, events, determinism, divergence."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from torch import nn

from engine.data.datasets import load_dataset
from engine.errors import ConfigError, DataError
from engine.train.backprop import Trainer, seed_everything
from engine.train.config import TrainConfig
from engine.train.device import pick_device
from engine.train.losses import Sink

pytestmark = pytest.mark.usefixtures("single_thread_torch")


class StraightThroughStep(nn.Module):
    """Heaviside step whose gradient passes straight through (the perceptron's output unit)."""

    def forward(self, x):
        hard = (x > 0).to(x.dtype)
        return x + (hard - x).detach()


class SeqLast(nn.Module):
    """[B, T, F] -> [B, F]: the last step of a sequence."""

    def forward(self, x):
        return x[:, -1]


class InfAfter(nn.Module):
    """Passes x through until its `n`-th call in training mode, then outputs inf."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        return x * float("inf") if self.training and self.calls >= self.n else x


def train(model_fn, dataset, sink_op=None, seed=0, **config):
    """Seed, build, train; returns (trainer, events)."""
    seed_everything(seed)
    model = model_fn()
    data = dataset if not isinstance(dataset, str) else load_dataset(dataset, seed=seed)
    cfg = TrainConfig(dataset=data.name, seed=seed, device="cpu", **config)
    trainer = Trainer(model, data, cfg, Sink("out", sink_op))
    return trainer, list(trainer.run())


def epoch_losses(events):
    return [e["loss"] for e in events if e["kind"] == "epoch"]


def mlp(n_in, n_out, *tail):
    return lambda: nn.Sequential(nn.Linear(n_in, 16), nn.Tanh(), nn.Linear(16, n_out), *tail)


# --- config and device -------------------------------------------------------------------------------


def test_config_problems_name_field_expected_and_received():
    assert TrainConfig().problems() == []
    assert TrainConfig(lr=-1).problems() == ["lr must be > 0, got -1"]
    problems = TrainConfig(dataset="mnist", optimizer="lbfgs", batch_size=0, val_split=1.5).problems()
    assert any(p.startswith("dataset must be one of xor, or, and") and "'mnist'" in p for p in problems)
    assert "optimizer must be one of sgd, momentum, adam, adamw, rmsprop; got 'lbfgs'" in problems
    assert "batch_size must be >= 1, got 0" in problems and "val_split must be in [0, 1), got 1.5" in problems
    assert TrainConfig(trainer="rbm_pretrain").problems() == [
        "trainer 'rbm_pretrain' is now 'rbm' (CD-k on the graph's RBM); 'dbn' pretrains a stack"
    ]
    assert TrainConfig(batch_size="32").problems() == ["batch_size must be an integer, got '32' (str)"]
    assert TrainConfig(lr=float("nan")).problems() == ["lr must be a finite number, got nan (float)"]
    assert TrainConfig(dataset="csv:data.csv", target="y").problems() == []


def test_config_round_trip_and_from_dict_problems():
    config = TrainConfig(dataset="digits", optimizer="momentum", lr=0.1, epochs=3, task="reconstruction")
    assert TrainConfig.from_dict(config.to_dict()) == (config, [])
    parsed, problems = TrainConfig.from_dict({"dataset": "iris", "learning_rate": 0.1, "epochs": True})
    assert parsed is None
    assert problems[0].startswith("unknown training config key 'learning_rate' (allowed: dataset, task")
    assert "epochs must be an integer, got True (bool)" in problems
    assert TrainConfig.from_dict([1]) == (None, ["training config must be a JSON object, got list"])


def test_pick_device():
    assert pick_device("cpu")[0] == torch.device("cpu")
    device, message = pick_device("auto")
    assert message.startswith("using ") and device.type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        assert device.type != "cuda"
        with pytest.raises(ConfigError, match="device 'cuda' was asked for but no CUDA GPU is available"):
            pick_device("cuda")
    with pytest.raises(ConfigError, match="device must be one of"):
        pick_device("tpu")


def test_trainer_rejects_a_bad_config():
    with pytest.raises(ConfigError, match="lr must be > 0, got 0"):
        Trainer(nn.Linear(2, 1), load_dataset("xor"), TrainConfig(lr=0))


# --- every loss path ---------------------------------------------------------------------------------


LOSS_CASES = [
    # (id, dataset, model, sink op, expected objective, config)
    ("cross_entropy", "iris", mlp(4, 3), "Linear", "cross_entropy", {"batch_size": 16}),
    ("softmax_nll", "iris", mlp(4, 3, nn.Softmax(dim=-1)), "Softmax", "cross_entropy_softmax_nll", {"batch_size": 16}),
    ("bce_logits", "moons", mlp(2, 1), "Linear", "bce_logits", {}),
    ("bce_sigmoid", "moons", mlp(2, 1, nn.Sigmoid()), "Sigmoid", "bce", {}),
    ("one_hot_sigmoid", "iris", mlp(4, 3, nn.Sigmoid()), "Sigmoid", "one_hot_sigmoid", {"batch_size": 16}),
    (
        "regression",
        "sine",
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 1)),
        "Linear",
        "mse",
        {},
    ),
    ("rnn_regression", "sine", lambda: nn.Sequential(nn.Linear(1, 8), SeqLast(), nn.Linear(8, 1)), "Linear", "mse", {}),
    ("reconstruction", "digits", mlp(64, 64), "Linear", "reconstruction_mse", {"task": "reconstruction"}),
    ("labels_as_regression", "moons", mlp(2, 1), "Linear", "mse", {"task": "regression"}),
    (
        "per_step_cross_entropy",
        "text",
        lambda: nn.Sequential(nn.Embedding(28, 16), nn.Linear(16, 28)),
        "Linear",
        "sequence_cross_entropy",
        {"lr": 0.03},
    ),
]


@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_each_loss_path_brings_the_loss_down(case):
    _, dataset, model_fn, sink_op, objective, extra = case
    config = {"epochs": 3, "batch_size": 64, "lr": 0.02, "log_every": 4, **extra}
    trainer, events = train(model_fn, dataset, sink_op, **config)
    assert trainer.objective.name == objective
    steps = [e["loss"] for e in events if e["kind"] == "step"]  # each the mean of 4 steps
    assert trainer.step >= 24 and steps[-1] + steps[-2] < 0.8 * (steps[0] + steps[1]), steps
    assert events[-1]["kind"] == "done" and trainer.status == "done"
    has_accuracy = trainer.objective.correct is not None
    assert ("val_accuracy" in events[-1]) == has_accuracy
    if has_accuracy:
        assert 0 <= events[-1]["val_accuracy"] <= 1


def test_integer_labels_as_regression_targets_keep_their_values(tmp_path):
    path = tmp_path / "ages.csv"
    path.write_text("height,age\n" + "".join(f"{h},{20 + h % 3 * 15}\n" for h in range(30)))
    data = load_dataset(f"csv:{path}")
    assert data.task == "classification" and data.class_names == ("20", "35", "50")
    trainer, _ = train(mlp(1, 1), data, task="regression", epochs=1)
    assert trainer.objective.name == "mse"
    assert sorted(set(trainer.y_train.flatten().tolist())) == [20.0, 35.0, 50.0]


def test_perceptron_rule_learns_and_with_a_step_output():
    model_fn = lambda: nn.Sequential(nn.Linear(2, 1), StraightThroughStep())
    trainer, events = train(model_fn, "and", "Step", optimizer="sgd", lr=0.1, epochs=40, batch_size=4)
    assert trainer.objective.name == "step_mse"
    assert events[-1]["val_accuracy"] == 1.0 and events[-1]["loss"] == 0.0


def test_output_that_cannot_match_the_targets_is_a_data_error():
    cases = [
        (
            "digits",
            mlp(64, 3),
            None,
            "the output node 'out' gives [3] but dataset 'digits' has 10 classes; set out_features to 10",
        ),
        ("moons", mlp(2, 3), None, "has 2 classes; set out_features to 2 (or 1 with a Sigmoid or Step output)"),
        (
            "text",
            lambda: nn.Sequential(nn.Embedding(28, 8), nn.Linear(8, 5)),
            None,
            "gives [32, 5] but dataset 'text' has a label at each of 32 steps with 28 classes, so the output must be "
            "[32, 28]; set out_features to 28",
        ),
        ("sine", lambda: nn.Linear(1, 4), None, "gives [20, 4] but dataset 'sine' has regression targets of shape [1]"),
        ("digits", mlp(64, 32), "reconstruction", "gives [32] but reconstruction needs the Input's shape [64]"),
        ("sine", lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 1)), "classification", "real-valued targets"),
    ]
    for dataset, model_fn, task, message in cases:
        with pytest.raises(DataError, match=re.escape(message)):
            train(model_fn, dataset, task=task)


# --- the loop ----------------------------------------------------------------------------------------


def test_events_and_batching():
    trainer, events = train(mlp(4, 3), "iris", epochs=2, batch_size=16, log_every=3)
    steps_per_epoch = -(-120 // 16)  # 8 batches of the 120 training rows
    kinds = [e["kind"] for e in events]
    assert kinds.count("epoch") == 2 and kinds[-1] == "done" and trainer.step == 2 * steps_per_epoch
    assert [e["step"] for e in events if e["kind"] == "step"] == [3, 6, 9, 12, 15]
    epoch = next(e for e in events if e["kind"] == "epoch")
    assert set(epoch) == {"kind", "epoch", "step", "loss", "val_loss", "val_accuracy", "seconds", "train_seconds"}
    assert epoch["step"] == steps_per_epoch and epoch["seconds"] >= epoch["train_seconds"] > 0
    assert trainer.metrics()["status"] == "done" and trainer.metrics()["epochs"] == 2


def test_same_seed_same_curve_other_seed_other_curve():
    def curve(seed):
        _, events = train(mlp(4, 3, nn.Dropout(0.1)), "iris", seed=seed, epochs=3, batch_size=16, log_every=1)
        return [(e["kind"], e["step"], e["loss"], e.get("val_loss")) for e in events if e["kind"] != "done"]

    assert curve(1) == curve(1)
    assert curve(1) != curve(2)


def test_breaking_out_stops_the_run():
    seed_everything(0)
    trainer = Trainer(mlp(4, 3)(), load_dataset("iris"), TrainConfig(dataset="iris", epochs=50, log_every=2))
    for event in trainer.run():
        if event["step"] >= 6:
            break
    assert trainer.status == "stopped" and trainer.step == 6


def test_no_validation_split_and_batchnorm_single_trailing_batch():
    data = load_dataset("iris", val_split=0)  # 150 rows: batches of 149 and 1 -> the 1 is left out
    model_fn = lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    trainer, events = train(model_fn, data, epochs=2, batch_size=149)
    assert events[-1]["kind"] == "done" and events[-1]["val_loss"] is None and trainer.step == 2


def test_inf_output_names_the_step_and_restores_good_weights():
    model_fn = lambda: nn.Sequential(nn.Linear(4, 3), InfAfter(37))
    trainer, events = train(model_fn, "iris", epochs=10, batch_size=16, log_every=5)  # 8 steps an epoch
    last = events[-1]
    assert last["kind"] == "diverged" and trainer.status == "diverged"
    assert "at step 37 (epoch 5); try a lower learning rate" in last["message"]
    assert last["message"].startswith("loss became ") and last["step"] == 37
    assert last["restored_step"] <= 35
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert all(e["kind"] != "step" or e["step"] < 37 for e in events)


def test_huge_learning_rate_diverges_with_a_clear_message():
    model_fn = lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 1))
    trainer, events = train(model_fn, "sine", optimizer="sgd", lr=1e6, epochs=5, batch_size=32, log_every=4)
    last = events[-1]
    assert last["kind"] == "diverged" and last["loss"] is None
    assert re.fullmatch(r"loss became (nan|inf) at step \d+ \(epoch 1\); try a lower learning rate", last["message"])
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.metrics()["status"] == "diverged"


def test_compiled_spec_trains_when_the_compiler_is_there():
    compile_mod = pytest.importorskip("engine.compile.fx_module")
    from builder.analysis.validate import analyze
    from engine.data.datasets import fit_to_analysis
    from tests.helpers import chain

    spec = chain(("x", "Input", {"shape": [1, 8, 8]}), ("flat", "Flatten"), ("fc", "Linear", {"out_features": 10}))
    analysis = analyze(spec)
    data = fit_to_analysis(load_dataset("digits"), analysis)
    seed_everything(0)
    model = compile_mod.compile_spec(spec)
    config = dataclasses.replace(TrainConfig(dataset="digits", device="cpu"), epochs=2, batch_size=64)
    assert Sink.of_module(model) == Sink.from_analysis(analysis) == Sink("fc", "Linear")
    assert Sink.of_module(nn.Linear(2, 2)) == Sink()
    trainer = Trainer(model, data, config)
    events = list(trainer.run())
    assert trainer.sink == Sink("fc", "Linear") and events[-1]["kind"] == "done"
    assert events[-1]["val_accuracy"] > 0.8
