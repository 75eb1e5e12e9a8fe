"""From a spec and a training config to a ready Trainer: validate, load data, fit it, seed, compile.

Shared by the CLI, the training worker and the benchmarks so they all train exactly the same way.
Raises engine.errors.NetCanvasError subclasses (SpecInvalid, DataError, ConfigError) for user mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import fx

from builder.analysis.summary import memory_estimate
from builder.analysis.validate import Analysis, analyze
from builder.library.datasets import DATASETS
from builder.ops.opdef import numel
from builder.spec.limits import MB, cap_name, limits
from builder.spec.spec import GraphSpec
from engine.compile.fx_module import compile_analysis
from engine.data.datasets import Dataset, fit_to_analysis, load_dataset_for
from engine.errors import ConfigError, SpecInvalid
from engine.train.backprop import seed_everything
from engine.train.choose import Choice, planned_epochs, resolve_trainer
from engine.train.config import TrainConfig
from engine.train.loss_choice import apply_loss_choice
from engine.train.losses import Sink, choose_objective
from engine.train.trainer_base import TrainerBase
from engine.train.trainers import build_trainer


@dataclass
class PreparedRun:
    spec: GraphSpec
    analysis: Analysis
    config: TrainConfig
    dataset: Dataset  # fitted to the network's Input
    model: fx.GraphModule
    trainer: TrainerBase  # engine.train.trainer_base: every rule follows its protocol
    choice: Choice | None = None  # which rule trains it and why (engine.train.choose)


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
    """ConfigError naming the batch size and what holds most (the largest output, or the recurrent cells' steps)
    when the forward activations pass the cap."""
    estimate = memory_estimate(analysis, batch_size)
    need_mb, steps_mb = estimate["activations"] / MB, estimate["recurrent_steps"] / MB
    cap_mb = limits().max_activation_mb
    if need_mb <= cap_mb:
        return
    if steps_mb >= need_mb / 2:  # the cells' steps are most of it: the sequence length is what to change
        culprit = f"{steps_mb:,.0f} MB of it is kept by recurrent cells, step by step: shorten the sequence"
    else:
        largest = max(analysis.shapes, key=lambda node: numel(analysis.shapes[node]))
        culprit = f"the largest output is '{largest}', {list(analysis.shapes[largest])} per sample"
    raise ConfigError(
        f"batch_size {batch_size} needs {need_mb:,.0f} MB of activations; at most {cap_mb:,} MB "
        f"({cap_name('max_activation_mb')}); lower batch_size ({culprit})"
    )


def prepare_run(spec: GraphSpec, config: TrainConfig) -> PreparedRun:
    """Everything up to the first training step; the same seed gives the same weights and batches."""
    analysis = analysis_for_training(spec, config)
    dataset = fitted_dataset(analysis, config)
    choice = checked_choice(analysis, config, dataset)
    seed_everything(config.seed, config.deterministic)
    model = compile_analysis(analysis)
    trainer = build_trainer(choice.trainer, model, dataset, config, analysis)
    return PreparedRun(spec, analysis, config, dataset, model, trainer, choice)


RULE_OBJECTIVES = {  # the rules that minimise no loss: (task, what they learn by)
    "perceptron": ("classification", "perceptron rule (mistakes)"),
    "rbm": ("unsupervised", "contrastive divergence"),
    "som": ("unsupervised", "Kohonen's rule"),
}


def objective_of(analysis: Analysis, config: TrainConfig, dataset: Dataset) -> tuple[str, str, Choice]:
    """(task, loss or rule, choice) of a run, before it starts: the rule refuses a graph it cannot train
    (ConfigError naming the node); a loss that cannot fit the output is a DataError naming the output node."""
    choice = checked_choice(analysis, config, dataset)
    if choice.trainer in RULE_OBJECTIVES:
        return (*RULE_OBJECTIVES[choice.trainer], choice)
    out_shape, sink = analysis.shapes[analysis.output_id], Sink.from_analysis(analysis)
    objective = apply_loss_choice(
        choose_objective(config.task or dataset.task, out_shape, dataset, sink), config.loss, sink
    )
    return objective.task, objective.name, choice


def planned_epochs_of(spec: GraphSpec, config: TrainConfig) -> int:
    """The epochs a run of `spec` with `config` counts over all its phases (config.epochs but for DBN and DSN)."""
    analysis = analyze(spec)
    if not analysis.ok:
        return config.epochs
    n_classes = DATASETS[config.dataset].n_classes if config.dataset in DATASETS else None
    return planned_epochs(config.trainer, analysis, n_classes, config.epochs, config.pretrain_epochs)


def checked_choice(analysis: Analysis, config: TrainConfig, dataset: Dataset) -> Choice:
    """The rule that trains the graph (config.trainer, or auto's pick); ConfigError naming the node when the
    chosen rule cannot train it."""
    choice, issues = resolve_trainer(config.trainer, analysis, dataset.n_classes)
    if issues:
        raise ConfigError("; ".join(str(issue) for issue in issues))
    if config.loss is not None and choice.trainer in RULE_OBJECTIVES:  # a setting the rule would ignore
        raise ConfigError(
            f"loss '{config.loss}' has no effect with the {RULE_OBJECTIVES[choice.trainer][1]} ({choice.reason}), "
            "which minimises no loss; leave loss on auto, or choose the learning rule backprop"
        )
    return choice
