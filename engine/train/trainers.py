"""The trainer for a resolved rule name (engine.train.choose): one constructor per rule, all on the protocol of
engine.train.trainer_base."""

from __future__ import annotations

from torch import fx

from builder.analysis.validate import Analysis
from engine.data.datasets import Dataset
from engine.train.backprop import Trainer
from engine.train.config import TrainConfig
from engine.train.dbn_trainer import DBNTrainer
from engine.train.dsn_trainer import DSNTrainer
from engine.train.losses import Sink
from engine.train.perceptron import PerceptronTrainer
from engine.train.rbm_trainer import RBMTrainer
from engine.train.som_trainer import SOMTrainer
from engine.train.trainer_base import TrainerBase


def build_trainer(name: str, model: fx.GraphModule, dataset: Dataset, config: TrainConfig, analysis: Analysis):
    """The trainer of rule `name` for a compiled graph whose checks passed (engine.train.choose)."""
    sink = Sink.from_analysis(analysis)
    if name == "perceptron":
        return PerceptronTrainer(model, dataset, config, sink, analysis.inputs[analysis.output_id][0])
    if name == "dsn":
        return DSNTrainer(model, dataset, config, sink, analysis)
    if name == "dbn":
        return DBNTrainer(model, dataset, config, sink, analysis)
    if name in ("rbm", "som"):
        below = (analysis.inputs[analysis.output_id][0], analysis.input_id)  # the node under it, the Input
        rule = RBMTrainer if name == "rbm" else SOMTrainer
        return rule(model, dataset, config, sink, analysis.output_id, below)
    assert name == "backprop", f"unknown trainer {name!r} (engine.train.choose resolves the names)"
    return Trainer(model, dataset, config, sink)


__all__ = ["TrainerBase", "build_trainer"]
