"""A bundle's train.json records only the settings its learning rule reads (issue 22), and reads back whole."""

from __future__ import annotations

import json

import torch

from builder.library.templates import TEMPLATES
from engine.runs.bundle import CONFIG_FILE, read_bundle
from engine.train.config import TrainConfig
from tests.bundles import trained_bundle

IGNORED_BY_SOM = ("optimizer", "loss", "weight_decay")


def test_a_som_bundle_stores_no_setting_the_som_ignores_and_reads_back_with_the_defaults(tmp_path):
    torch.set_num_threads(1)
    bundle = trained_bundle(tmp_path / "som", "som_iris", steps=2)
    stored = json.loads((bundle / CONFIG_FILE).read_text())
    assert [key for key in IGNORED_BY_SOM if key in stored] == []
    assert stored["trainer"] == "som" and stored["dataset"] == TEMPLATES["som_iris"].train["dataset"]
    assert "som_decay" in stored and "epochs" in stored and "lr" in stored
    config = read_bundle(bundle).config
    defaults = TrainConfig()
    assert (config.optimizer, config.loss, config.weight_decay) == (defaults.optimizer, None, 0.0)
    assert config.epochs == stored["epochs"] and config.som_decay == stored["som_decay"]


def test_a_backprop_bundle_keeps_its_optimizer_and_loss(tmp_path):
    torch.set_num_threads(1)
    bundle = trained_bundle(tmp_path / "mlp", "mlp_xor", steps=2)
    stored = json.loads((bundle / CONFIG_FILE).read_text())
    assert {"optimizer", "lr", "weight_decay", "batch_size", "epochs"} <= set(stored)
    assert "som_decay" not in stored and "cd_k" not in stored
