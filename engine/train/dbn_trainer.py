"""Deep belief network (Hinton, Osindero and Teh, 2006): greedy layer-wise pretraining of the RBM stack by
contrastive divergence, then supervised fine-tuning of the whole network by backprop, as one run.

Phases: `pretrain` once per RBM, bottom first, each for `pretrain_epochs` (default: epochs) at `pretrain_lr`
(default: lr); RBM i learns from the hidden probabilities of RBM i - 1, computed once at the start of its phase
through the compiled graph's prefix (the layers below do not move during it). Then `finetune` for `epochs`:
the backprop trainer on the whole graph with a fresh optimizer, on `label_fraction` of the labelled training
rows (stratified, seeded), so pretraining on every row can be compared with training on few labels.

Events: a `phase` event at each phase start, the CD metrics (engine.train.rbm_trainer) during pretraining and
loss / val_loss / val_accuracy during fine-tuning; epochs and steps count over the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import fx

from builder.analysis.validate import Analysis
from engine.data.datasets import Dataset
from engine.train.backprop import Trainer, make_optimizer
from engine.train.choose import Graph
from engine.train.config import TrainConfig
from engine.train.losses import Sink
from engine.train.rbm_trainer import RBM_METRICS, RBM_PANELS, CDLayer, cd_epoch, inputs_through
from engine.train.trainer_base import Phase


class DBNTrainer(Trainer):
    name = "dbn"
    step_probes = False  # the pretraining steps make no forward through the graph
    panels = RBM_PANELS
    metric_names = ("loss", "val_loss", "val_accuracy", *RBM_METRICS)

    def __init__(self, model: fx.GraphModule, dataset: Dataset, config: TrainConfig, sink: Sink, analysis: Analysis):
        super().__init__(model, dataset, config, sink)  # the fine-tuning objective and data
        g = Graph.of(analysis)
        self.rbms = g.of_op("RBM")  # bottom first (engine.train.choose checked the stack)
        self.below = {rbm: analysis.inputs[rbm][0] for rbm in self.rbms}
        self.input_id = g.input_id
        self.all_x = dataset.x_train.to(self.device)  # [N, *features]: pretraining sees every row
        self.labelled = (self.x_train, self.y_train)  # [n, *features], [n, *target]: label_fraction of them
        self.layer: CDLayer | None = None  # the RBM in pretraining, None while fine-tuning
        self.pretrained: dict[str, CDLayer] = {}  # every RBM pretrained so far, for the live views

    def plan(self) -> list[Phase]:
        n, batch = len(self.rbms), self.config.batch_size
        pretrain = self.config.pretrain_epochs or self.config.epochs
        all_batches = max(1, -(-len(self.all_x) // batch))
        finetune_batches = max(1, -(-len(self.labelled[0]) // batch))
        phases = [Phase("pretrain", pretrain, all_batches, rbm, i + 1, n + 1) for i, rbm in enumerate(self.rbms)]
        return [*phases, Phase("finetune", self.config.epochs, finetune_batches, None, n + 1, n + 1)]

    def _enter(self, phase: Phase) -> None:
        if phase.name == "pretrain":
            self.x_train = self.all_x
            below = self.below[phase.layer]
            v_train = inputs_through(self.model, below, self.input_id, self.all_x)  # [N, V]
            v_val = inputs_through(self.model, below, self.input_id, self.x_val)  # [M, V]
            lr = self.config.pretrain_lr or self.config.lr
            self.layer = CDLayer(getattr(self.model, phase.layer), v_train, v_val, self.config, lr)
            self.pretrained[phase.layer] = self.layer
            return
        self.layer = None
        self.x_train, self.y_train = self.labelled
        self.optimizer = make_optimizer(self.config, self.model.parameters())

    def _epoch(self, epoch: int) -> Iterator[dict]:
        if self.layer is None:
            yield from super()._epoch(epoch)
            return
        yield from cd_epoch(self, self.layer, epoch)

    def panel_data(self) -> dict:
        """The live views of the RBM in pretraining; while fine-tuning, of the bottom RBM (its weights are images
        of the input)."""
        if not self.pretrained:
            return {}
        name = self.phase.layer if self.layer is not None else self.rbms[0]
        return {"rbm": self.pretrained[name].panel_data(name)}
