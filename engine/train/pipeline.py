"""From a spec and a training config to a ready Trainer: validate, load data, fit it, seed, compile.

Shared by the CLI, the training worker and the benchmarks so they all train exactly the same way.
Raises engine.errors.NetCanvasError subclasses (SpecInvalid, DataError, ConfigError) for user mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import fx

from builder.spec import GraphSpec
from builder.validate import Analysis, analyze
from engine.compile.fx_module import compile_analysis
from engine.data.datasets import Dataset, fit_to_analysis, load_dataset_for
from engine.errors import ConfigError, SpecInvalid
from engine.train.backprop import Trainer, seed_everything
from engine.train.config import TrainConfig
from engine.train.losses import Sink


@dataclass
class PreparedRun:
    spec: GraphSpec
    analysis: Analysis
    config: TrainConfig
    dataset: Dataset  # fitted to the network's Input
    model: fx.GraphModule
    trainer: Trainer


def check_config(config: TrainConfig) -> None:
    problems = config.problems()
    if problems:
        raise ConfigError("; ".join(problems))


def prepare_run(spec: GraphSpec, config: TrainConfig) -> PreparedRun:
    """Everything up to the first training step; the same seed gives the same weights and batches."""
    check_config(config)
    analysis = analyze(spec)
    if not analysis.ok:
        raise SpecInvalid(analysis.issues)
    dataset = fit_to_analysis(load_dataset_for(config), analysis)
    seed_everything(config.seed)
    model = compile_analysis(analysis)
    trainer = Trainer(model, dataset, config, Sink.from_analysis(analysis))
    return PreparedRun(spec, analysis, config, dataset, model, trainer)
