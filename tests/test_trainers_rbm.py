"""CD-k on a graph's RBM (engine.train.rbm_trainer) and the deep belief network (engine.train.dbn_trainer):
through the trainer, the worker and the CLI."""

import dataclasses
import json

import pytest
import torch

from builder.library.templates import TEMPLATES, graph
from builder.spec.spec import parse_spec
from engine.cli.main import main
from engine.runs.bundle import read_bundle
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

pytestmark = pytest.mark.usefixtures("single_thread_torch")
RBM_DIGITS = TrainConfig(**{**TEMPLATES["rbm_digits"].train, "device": "cpu", "trainer": "auto"})


def test_cd1_lowers_the_reconstruction_error_and_raises_the_pseudo_likelihood_on_digits():
    run = prepare_run(TEMPLATES["rbm_digits"].spec(), dataclasses.replace(RBM_DIGITS, epochs=3))
    epochs = [e for e in run.trainer.run() if e["kind"] == "epoch"]
    first, last = epochs[0], epochs[-1]
    assert last["reconstruction_error"] < 0.8 * first["reconstruction_error"]
    assert last["pseudo_log_likelihood"] > first["pseudo_log_likelihood"]
    assert all("free_energy_gap" in e for e in epochs) and run.trainer.metrics()["trainer"] == "rbm"
    assert run.trainer.optimizer is None and run.trainer.task == "unsupervised"
    assert run.model.rbm.v_bias.abs().sum() > 0  # both biases are learned (backprop never touches v_bias)
    panels = run.trainer.panel_data()["rbm"]
    assert panels["image_shape"] == [8, 8] and len(panels["weights"]) == 64 and len(panels["weights"][0]) == 8
    assert len(panels["inputs"]) == len(panels["reconstructions"]) == len(panels["gibbs_samples"]) == 8


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _changed(before: dict, after: dict) -> set[str]:
    return {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}


def test_dbn_pretrains_each_rbm_in_turn_then_fine_tunes_everything():
    template = TEMPLATES["dbn_digits"]
    config = TrainConfig(**{**template.train, "device": "cpu", "epochs": 2, "pretrain_epochs": 1})
    run = prepare_run(template.spec(), config)
    marks, phases = [_weights(run.model)], []
    for event in run.trainer.run():
        if event["kind"] in ("phase", "done"):
            marks.append(_weights(run.model))
            phases.append((event["kind"], event.get("phase"), event.get("layer")))
    assert phases == [("phase", "pretrain", "rbm1"), ("phase", "pretrain", "rbm2"), ("phase", "finetune", None)] + [
        ("done", 3, None)
    ]
    # marks: start, at phase 1, 2, 3, done -> what each phase changed
    assert _changed(marks[1], marks[2]) == {"rbm1"}
    assert _changed(marks[2], marks[3]) == {"rbm2"}
    assert _changed(marks[3], marks[4]) == {"rbm1", "rbm2", "fc"}
    assert run.trainer.epoch == 4 and run.trainer.history[-1]["val_accuracy"] > 0.5


def test_label_fraction_fine_tunes_on_a_stratified_share_and_pretrains_on_every_row():
    template = TEMPLATES["dbn_digits"]
    config = TrainConfig(
        **{**template.train, "device": "cpu", "epochs": 1, "pretrain_epochs": 1, "label_fraction": 0.1}
    )
    run = prepare_run(template.spec(), config)
    trainer = run.trainer
    labels = trainer.labelled[1]
    assert len(trainer.all_x) == run.dataset.n_train and abs(len(labels) - 0.1 * run.dataset.n_train) <= 10
    assert set(labels.tolist()) == set(range(10))  # every class keeps its share
    assert [p.steps_per_epoch for p in trainer.plan()] == [45, 45, 5]


def test_cli_json_prints_the_rules_events_and_the_bundle_holds_the_biases(tmp_path, capsys):
    out = tmp_path / "bundle"
    code = main(["train", "--template", "rbm_digits", "--epochs", "2", "--json", "--device", "cpu", "--out", str(out)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and lines[0]["kind"] == "start" and lines[0]["trainer"] == "rbm"
    epochs = [e for e in lines if e["kind"] == "epoch"]
    assert len(epochs) == 2 and lines[-1]["kind"] == "done" and "pseudo_log_likelihood" in epochs[-1]
    assert any(e["kind"] == "step" and "reconstruction_error" in e for e in lines)
    bundle = read_bundle(out)
    assert bundle.meta["metrics"]["trainer"] == "rbm" and bundle.state_dict["rbm.v_bias"].abs().sum() > 0


def test_cli_prints_phase_lines_for_a_dbn(capsys):
    argv = ["train", "--template", "dbn_digits", "--epochs", "1", "--pretrain-epochs", "1", "--device", "cpu"]
    code = main(argv)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and "DBN, as chosen" in lines[0]
    assert lines[1] == "phase 1 of 3: pretrain rbm1" and lines[2].startswith("epoch 1/3  reconstruction_error")
    assert "phase 3 of 3: finetune" in lines and lines[-2].startswith("epoch 3/3  loss")


def test_an_rbm_behind_a_flatten_learns_from_the_flattened_images():
    layers = [("x", "Input", {"shape": [1, 8, 8]}), ("flat", "Flatten"), ("rbm", "RBM", {"n_hidden": 16})]
    run = prepare_run(parse_spec(graph("rbm_images", layers))[0], dataclasses.replace(RBM_DIGITS, epochs=2))
    assert run.choice.trainer == "rbm" and run.trainer.layer.v_train.shape == (run.dataset.n_train, 64)
    epochs = [e for e in run.trainer.run() if e["kind"] == "epoch"]
    assert epochs[-1]["reconstruction_error"] < epochs[0]["reconstruction_error"]


def test_ddp_refuses_a_rule_other_than_backprop_before_any_process_group(capsys, monkeypatch):
    env = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["train", "--template", "dbn_digits", "--ddp", "--device", "cpu"]) == 2
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("error: train --ddp trains by backprop; trainer 'dbn' runs in one process: drop --ddp")


def test_a_stopped_rbm_run_resumes_counting_on_and_the_views_do_not_change_what_it_learns():
    spec = TEMPLATES["rbm_digits"].spec()
    config = dataclasses.replace(RBM_DIGITS, epochs=2, batch_size=100, log_every=5)
    first = prepare_run(spec, config)
    for event in first.trainer.run():
        first.trainer.panel_data()  # the page's views at every event: no effect on the learning
        if event["kind"] == "epoch":
            break  # stop after epoch 1, as the page's Stop does
    plain = prepare_run(spec, config)
    next(e for e in plain.trainer.run() if e["kind"] == "epoch")  # the same epoch without the views
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), plain.model.state_dict().values()))
    resumed = prepare_run(spec, config)
    resumed.model.load_state_dict(first.model.state_dict())
    resumed.trainer.resume_at(first.trainer.step, 1)
    events = list(resumed.trainer.run())
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [2] and resumed.trainer.step == 2 * 15
    assert first.trainer.status == "stopped" and events[-1]["kind"] == "done"
