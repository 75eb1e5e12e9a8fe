"""Deep stacking network, module by module (Deng and Yu, 2011): each module learns its own supervised target
while the modules below it are frozen.

A module is found from the graph (engine.train.choose.dsn_modules): a chain ending in a Linear as wide as the
classes whose output feeds the next module's Concat; the network's output ends the last module. Module k owns
the weighted nodes its output depends on that no lower module's output does (engine.train.graph_parts). Its
phase trains those nodes by backprop on the cross entropy of its own output (the forward runs through the
graph's prefix up to that output, on the model's own layers) with a fresh optimizer; every other parameter
has requires_grad off, so the modules below keep their weights exactly.

Events: a `phase` event when a module starts (its output node, and the validation accuracy the module below
ended with), then the backprop events, whose `val_accuracy` is the training module's own.
"""

from __future__ import annotations

from torch import fx

from builder.analysis.validate import Analysis
from engine.data.datasets import Dataset
from engine.train.backprop import Trainer, make_optimizer
from engine.train.choose import Graph, dsn_modules
from engine.train.config import TrainConfig
from engine.train.graph_parts import module_nodes, prefix_module, set_trainable
from engine.train.losses import Sink
from engine.train.trainer_base import Phase


class DSNTrainer(Trainer):
    name = "dsn"
    step_probes = False  # the steps run through a prefix of the model, which the step probes do not hook

    def __init__(self, model: fx.GraphModule, dataset: Dataset, config: TrainConfig, sink: Sink, analysis: Analysis):
        super().__init__(model, dataset, config, sink)
        self.outputs = dsn_modules(Graph.of(analysis), analysis, dataset.n_classes)  # bottom first
        self.owned = module_nodes(analysis, self.outputs)
        self.prefixes = {out: prefix_module(self.model, out) for out in self.outputs[:-1]}
        self.prefixes[self.outputs[-1]] = self.model

    def plan(self) -> list[Phase]:
        n = len(self.outputs)
        per_epoch = self.batches_per_epoch()
        return [Phase("module", self.config.epochs, per_epoch, out, k + 1, n) for k, out in enumerate(self.outputs)]

    def _enter(self, phase: Phase) -> None:
        self.net = self.prefixes[phase.layer]
        params = set_trainable(self.model, self.owned[phase.layer])
        self.optimizer = make_optimizer(self.config, params)

    def _phase_event(self, phase: Phase) -> dict:
        event = super()._phase_event(phase)
        trained = ", ".join(sorted(self.owned[phase.layer]))
        event["message"] = f"module {phase.index} of {phase.of} ({phase.layer}): trains {trained}"
        if phase.index > 1:
            event["message"] += "; the modules below are frozen"
        if self.history and "val_accuracy" in self.history[-1]:
            event["below_accuracy"] = self.history[-1]["val_accuracy"]
        return event

    def _finish(self, started: float) -> dict:
        set_trainable(self.model, None)  # the finished network trains as a whole if continued by backprop
        self.net = self.model
        return super()._finish(started)
