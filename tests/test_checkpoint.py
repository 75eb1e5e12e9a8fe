"""Checkpoints and edit-and-continue: which nodes keep their weights, and continuing equals not stopping."""

from __future__ import annotations

import pytest
import torch

from engine.runs.checkpoint import (
    OPTIMIZER_FILE,
    carry_optimizer_state,
    carry_weights,
    plan_carry,
    save_checkpoint,
    spec_ops,
)
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from tests.helpers import chain

pytestmark = pytest.mark.usefixtures("single_thread_torch")

CONFIG = TrainConfig(dataset="iris", optimizer="adam", lr=0.01, batch_size=16, epochs=4, device="cpu", seed=3)


def mlp(hidden: int = 16, act: str = "ReLU", extra: bool = False):
    layers = [("x", "Input", {"shape": [4]}), ("fc1", "Linear", {"out_features": hidden}), ("act1", act)]
    if extra:
        layers += [("fc_mid", "Linear", {"out_features": hidden}), ("act_mid", "Tanh")]
    return chain(*layers, ("fc2", "Linear", {"out_features": 3}))


def train(run, until_epoch: int | None = None) -> None:
    for event in run.trainer.run():
        if event["kind"] == "epoch" and event["epoch"] == until_epoch:
            break


def test_plan_names_kept_fresh_and_removed_nodes():
    old_ops = {"x": "Input", "fc1": "Linear", "act": "ReLU", "fc2": "Linear", "gone": "Linear"}
    old = {"fc1.weight": (16, 4), "fc1.bias": (16,), "fc2.weight": (3, 16), "fc2.bias": (3,), "gone.weight": (2, 2)}
    new_ops = {"x": "Input", "fc1": "Linear", "act": "Tanh", "fc2": "Maxout", "fc3": "Linear"}
    new = {"fc1.weight": (16, 4), "fc1.bias": (16,), "fc2.weight": (6, 16), "fc3.weight": (3, 3)}
    plan = plan_carry(old_ops, old, new_ops, new)
    assert plan.kept == ("fc1",)
    assert dict(plan.fresh) == {"fc2": "op changed from Linear to Maxout", "fc3": "new node"}
    assert plan.removed == ("gone",)
    wider = plan_carry(old_ops, old, old_ops, {**old, "fc1.weight": (32, 4), "fc1.bias": (32,)})
    assert dict(wider.fresh) == {"fc1": "weight [16, 4] -> [32, 4]"}
    assert "kept the trained weights of fc1" in plan.summary() and "fc3 (new node)" in plan.summary()


def test_continuing_from_a_checkpoint_equals_training_straight_through(tmp_path):
    straight = prepare_run(mlp(), CONFIG)
    train(straight)

    first = prepare_run(mlp(), CONFIG)
    train(first, until_epoch=2)
    trainer = first.trainer
    save_checkpoint(tmp_path / "bundle", first.spec, CONFIG, trainer.model, first.dataset, {}, trainer.optimizer)
    assert (tmp_path / "bundle" / OPTIMIZER_FILE).is_file()

    second = prepare_run(mlp(), CONFIG)
    plan = carry_weights(second.trainer.model, tmp_path / "bundle", spec_ops(first.spec), spec_ops(second.spec))
    assert plan.kept == ("fc1", "fc2") and plan.fresh == ()
    assert (
        carry_optimizer_state(second.trainer.optimizer, second.trainer.model, tmp_path / "bundle", {"fc1", "fc2"}) == 4
    )
    second.trainer.resume_at(trainer.step, trainer.epoch)
    events = list(second.trainer.run())
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [3, 4]
    assert events[0]["step"] > trainer.step  # steps count on
    assert second.trainer.step == straight.trainer.step
    for name, value in straight.trainer.model.state_dict().items():
        torch.testing.assert_close(second.trainer.model.state_dict()[name], value)


def test_an_edit_keeps_unchanged_nodes_and_initialises_the_rest(tmp_path):
    first = prepare_run(mlp(), CONFIG)
    train(first, until_epoch=1)
    t = first.trainer
    save_checkpoint(tmp_path / "b", first.spec, CONFIG, t.model, first.dataset, {}, t.optimizer)
    trained = {k: v.clone() for k, v in t.model.state_dict().items()}

    edited = prepare_run(mlp(act="Tanh", extra=True), CONFIG)
    model = edited.trainer.model
    init_mid = model.fc_mid.weight.detach().clone()
    plan = carry_weights(model, tmp_path / "b", spec_ops(first.spec), spec_ops(edited.spec))
    assert plan.kept == ("fc1", "fc2") and dict(plan.fresh) == {"fc_mid": "new node"}
    for key in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
        torch.testing.assert_close(model.state_dict()[key], trained[key])
    torch.testing.assert_close(model.fc_mid.weight, init_mid)  # the seeded initialisation, untouched
    carried = carry_optimizer_state(edited.trainer.optimizer, model, tmp_path / "b", set(plan.kept))
    assert carried == 4 and model.fc_mid.weight not in edited.trainer.optimizer.state

    wider = prepare_run(mlp(hidden=32), CONFIG)
    plan = carry_weights(wider.trainer.model, tmp_path / "b", spec_ops(first.spec), spec_ops(wider.spec))
    assert plan.kept == () and {n for n, _ in plan.fresh} == {"fc1", "fc2"}


def test_checkpoint_replaces_the_old_bundle_whole(tmp_path):
    run = prepare_run(mlp(), CONFIG)
    t = run.trainer
    bundle = tmp_path / "bundle"
    save_checkpoint(bundle, run.spec, CONFIG, t.model, run.dataset, {"loss": 1.0}, t.optimizer)
    save_checkpoint(bundle, run.spec, CONFIG, t.model, run.dataset, {"loss": 0.5}, t.optimizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no .new or .old left behind
    assert '"loss": 0.5' in (bundle / "meta.json").read_text()
