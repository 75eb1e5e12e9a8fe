"""From a spec and a training config to a ready Trainer: validate, load data, fit it, seed, compile.

Shared by the CLI, the training worker and the benchmarks so they all train exactly the same way.
Raises engine.errors.NetCanvasError subclasses (SpecInvalid, DataError, ConfigError) for user mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import fx

from builder.limits import MB, cap_name, limits
from builder.opdef import numel
from builder.spec import GraphSpec
from builder.summary import memory_estimate
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


def analysis_for_training(spec: GraphSpec, config: TrainConfig) -> Analysis:
    """The spec's analysis, once the settings and the spec are fit for a run (ConfigError or SpecInvalid)."""
    check_config(config)
    analysis = analyze(spec)
    if not analysis.ok:
        raise SpecInvalid(analysis.issues)
    return analysis


def fitted_dataset(analysis: Analysis, config: TrainConfig) -> Dataset:
    """The run's data fitted to the Input, once the activations of a training batch fit under the cap."""
    dataset = fit_to_analysis(load_dataset_for(config), analysis)
    check_activation_memory(analysis, min(config.batch_size, dataset.n_train))  # batches never pass n_train
    return dataset


def check_activation_memory(analysis: Analysis, batch_size: int) -> None:
    """ConfigError naming the batch size and the largest output when the forward activations pass the cap."""
    need_mb = memory_estimate(analysis, batch_size)["activations"] / MB
    cap_mb = limits().max_activation_mb
    if need_mb > cap_mb:
        largest = max(analysis.shapes, key=lambda node: numel(analysis.shapes[node]))
        raise ConfigError(
            f"batch_size {batch_size} needs {need_mb:,.0f} MB of activations; at most {cap_mb:,} MB "
            f"({cap_name('max_activation_mb')}); lower batch_size (the largest output is '{largest}', "
            f"{list(analysis.shapes[largest])} per sample)"
        )


def prepare_run(spec: GraphSpec, config: TrainConfig) -> PreparedRun:
    """Everything up to the first training step; the same seed gives the same weights and batches."""
    analysis = analysis_for_training(spec, config)
    dataset = fitted_dataset(analysis, config)
    seed_everything(config.seed, config.deterministic)
    model = compile_analysis(analysis)
    trainer = Trainer(model, dataset, config, Sink.from_analysis(analysis))
    return PreparedRun(spec, analysis, config, dataset, model, trainer)
