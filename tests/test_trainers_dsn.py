"""Deep stacking, module by module (engine.train.dsn_trainer): each module trains on its own target, the
modules below stay frozen."""

import dataclasses

import pytest
import torch

from builder.library.templates import TEMPLATES
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

MODULES = {1: ("m1_hidden", "m1_out"), 2: ("m2_hidden", "m2_out"), 3: ("m3_hidden", "m3_out")}


def _weights(model, module: int) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.split(".")[0] in MODULES[module]}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_each_module_trains_in_turn_and_stops_changing_once_the_next_trains(single_thread_torch):
    template = TEMPLATES["dsn_digits"]
    config = dataclasses.replace(TrainConfig(**template.train), epochs=2, device="cpu", label_fraction=0.3)
    run = prepare_run(template.spec(), config)
    model, at_phase, accuracy = run.model, {}, {}
    for event in run.trainer.run():
        if event["kind"] == "phase":
            at_phase[event["index"]] = {m: _weights(model, m) for m in MODULES}
        if event["kind"] == "epoch":
            accuracy[event["phase"]] = event["val_accuracy"]
    assert event["kind"] == "done" and run.trainer.epoch == 6 and sorted(at_phase) == [1, 2, 3]
    end = {m: _weights(model, m) for m in MODULES}
    # module 1 changed during phase 1 only, module 2 during phase 2 only; module 3 waited for phase 3
    assert not _same(at_phase[1][1], at_phase[2][1]) and _same(at_phase[2][1], end[1])
    assert _same(at_phase[1][2], at_phase[2][2]) and not _same(at_phase[2][2], at_phase[3][2])
    assert _same(at_phase[3][2], end[2]) and _same(at_phase[1][3], at_phase[3][3]) and not _same(at_phase[3][3], end[3])
    assert all(accuracy[m] > 0.5 for m in MODULES), accuracy  # each module's own prediction of the digits


def test_phase_events_name_the_module_and_what_it_trains(single_thread_torch):
    template = TEMPLATES["dsn_digits"]
    config = dataclasses.replace(TrainConfig(**template.train), epochs=1, device="cpu", label_fraction=0.1)
    events = [e for e in prepare_run(template.spec(), config).trainer.run() if e["kind"] == "phase"]
    assert [(e["layer"], e["index"], e["of"]) for e in events] == [("m1_out", 1, 3), ("m2_out", 2, 3), ("m3_out", 3, 3)]
    assert events[1]["message"] == "module 2 of 3 (m2_out): trains m2_hidden, m2_out; the modules below are frozen"
    assert 0 < events[1]["below_accuracy"] <= 1


def test_a_graph_without_modules_is_refused_naming_the_output():
    config = TrainConfig(**{**TEMPLATES["mlp_digits"].train, "trainer": "dsn", "device": "cpu"})
    with pytest.raises(ConfigError, match="node 'fc2': trainer 'dsn': needs modules that each end in a Linear of 10"):
        prepare_run(TEMPLATES["mlp_digits"].spec(), config)
