"""The rule cards (engine.train.rule_card) against the trainers they describe, and the phase counters
(engine.train.counters) against a real DBN run: one card per rule, the settings each rule reads and no other,
the phases its trainer plans, the rule line, the stored config, Continue's terms."""

from __future__ import annotations

import ast
import pathlib

import torch

from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES
from engine.train.config import TRAINERS, TrainConfig
from engine.train.counters import counter_text, phase_counts
from engine.train.pipeline import prepare_run
from engine.train.rule_card import CARDS, COMMON, card_for, continue_terms, layers_of, plan_of, rule_line, stored_config

TRAIN = pathlib.Path(__file__).resolve().parents[1] / "engine" / "train"
FILES = {  # the files whose `config.<field>` reads make up each rule (its own, its parent's, the shared loop's)
    "backprop": ["backprop.py"],
    "perceptron": ["perceptron.py"],
    "rbm": ["rbm_trainer.py"],
    "som": ["som_trainer.py"],
    "dbn": ["dbn_trainer.py", "backprop.py", "rbm_trainer.py"],
    "dsn": ["dsn_trainer.py", "backprop.py"],
}
PLUMBING = {"problems", "log_every", "device", "seed"}  # read by every trainer to run, not settings of a rule


def config_reads(name: str) -> set[str]:
    found = set()
    for file in FILES[name]:
        for node in ast.walk(ast.parse((TRAIN / file).read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                if node.value.attr == "config":
                    found.add(node.attr)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "config":
                found.add(node.attr)
    return found - PLUMBING


def test_every_rule_has_a_card_listing_only_fields_of_the_config():
    fields = set(TrainConfig().to_dict())
    assert set(TRAINERS) - {"auto"} <= set(CARDS)
    for card in CARDS.values():
        assert set(card.setting_names()) <= fields, card.name
        assert set(COMMON) <= fields


def test_each_card_lists_every_setting_its_trainer_reads():
    for name in FILES:
        missing = config_reads(name) - set(card_for(name).setting_names()) - set(COMMON)
        assert not missing, f"{name} reads {sorted(missing)} but its card does not list them"


def test_the_rules_without_a_gradient_step_list_no_optimizer_loss_or_batch_they_ignore():
    assert not {"optimizer", "loss", "weight_decay", "batch_size", "amp"} & set(CARDS["perceptron"].setting_names())
    assert not {"optimizer", "loss", "amp"} & set(CARDS["som"].setting_names())
    assert not {"optimizer", "loss", "amp"} & set(CARDS["rbm"].setting_names())


def test_the_dbn_rule_line_says_the_phases_with_the_runs_settings():
    config = {**TrainConfig().to_dict(), **TEMPLATES["dbn_digits"].train}
    line = rule_line(card_for("dbn"), config, layers_of(analyze(TEMPLATES["dbn_digits"].spec()), 10))
    assert line.startswith(
        "DBN: pretrains rbm1 then rbm2 by CD-1, 10 epochs each, then fine-tunes the whole stack by backprop (adam) "
        "for 15 epochs."
    )
    assert "no gradient step" not in line


def test_a_som_run_stores_no_optimizer_loss_or_weight_decay():
    template = TEMPLATES["som_iris"]
    config = {**TrainConfig().to_dict(), **template.train}
    stored = stored_config(template.spec().to_dict(), config)
    assert not {"optimizer", "loss", "weight_decay", "cd_k", "pretrain_epochs"} & set(stored)
    assert stored["som_sigma"] == 2.0 and stored["lr"] == 0.5 and TrainConfig.from_dict(stored)[1] == []


def test_the_card_plans_the_phases_the_dbn_trainer_runs_and_counts_them_the_same():
    torch.set_num_threads(1)
    spec = TEMPLATES["dbn_digits"].spec()
    raw = {**TEMPLATES["dbn_digits"].train, "epochs": 1, "pretrain_epochs": 2, "batch_size": 512, "device": "cpu"}
    trainer = prepare_run(spec, TrainConfig(**raw)).trainer
    planned = plan_of(card_for("dbn"), raw, layers_of(analyze(spec), 10))
    assert [(p.name, p.epochs, p.layer) for p in planned] == [(p.name, p.epochs, p.layer) for p in trainer.plan()]
    seen = []
    for event in trainer.run():
        if event["kind"] == "epoch":
            seen.append(counter_text(trainer.counts()))
    assert seen == [
        "pretraining (rbm1) 1 / 4 · fine-tuning 0 / 1",
        "pretraining (rbm2) 2 / 4 · fine-tuning 0 / 1",
        "pretraining (rbm2) 3 / 4 · fine-tuning 0 / 1",
        "fine-tuning 0 / 1 · pretraining done 4 / 4",
        "pretraining done 4 / 4 · fine-tuning done 1 / 1",
    ]
    assert trainer.metrics()["counter"] == seen[-1] and trainer.metrics()["epochs"] == 5


def test_counters_of_one_phase_and_of_dsn_modules():
    planned = plan_of(card_for("backprop"), {"epochs": 40_000}, {})
    assert counter_text(phase_counts(planned, 8827)) == "8,827 / 40,000 epochs"
    modules = plan_of(card_for("dsn"), {"epochs": 8}, {"module": ["m1", "m2", "out"]})
    assert counter_text(phase_counts(modules, 11)) == "module 2 (m2) 3 / 8 · module 1 done 8 / 8 · module 3 0 / 8"
    done = "module 1 done 8 / 8 · module 2 done 8 / 8 · module 3 done 8 / 8"
    assert counter_text(phase_counts(modules, 24)) == done  # all done: in training order, none put first
    modules4 = plan_of(card_for("dsn"), {"epochs": 2}, {"module": ["m1", "m2", "m3", "out"]})
    in_order = "module 3 (m3) 1 / 2 · module 1 done 2 / 2 · module 2 done 2 / 2 · module 4 0 / 2"
    assert counter_text(phase_counts(modules4, 5)) == in_order


def test_continue_is_said_in_the_rules_terms():
    card, layers = card_for("dbn"), {"pretrain": ["rbm1", "rbm2"]}
    assert continue_terms(card, {"epochs": 15, "pretrain_epochs": 10}, layers, 35) == (
        "",
        "fine-tuning epochs must be more than the 15 already trained to continue; got 15",
    )
    assert continue_terms(card, {"epochs": 20, "pretrain_epochs": 10}, layers, 35) == (
        "fine-tuning for 5 more epochs (to 20)",
        "",
    )
    assert continue_terms(card_for("backprop"), {"epochs": 4}, {}, 2) == ("2 more epochs (to 4)", "")
