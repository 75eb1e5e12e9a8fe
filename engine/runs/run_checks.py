"""The checks before a run starts or continues (engine.runs.manager re-exports them): what a run would be
(Readiness, from `preflight`), what it learns from, and why a run may not continue with a new network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.analysis.validate import analyze
from builder.library.datasets import CSV_PREFIX, DATASETS
from builder.spec.spec import GraphSpec
from engine.runs.checkpoint import CarryPlan
from engine.runs.store_schema import RunRecord
from engine.train.config import TrainConfig
from engine.train.device import pick_device
from engine.train.pipeline import analysis_for_training, fitted_dataset, objective_of
from engine.train.rule_card import continue_terms, layers_of, run_cards


@dataclass(frozen=True)
class Readiness:
    """What a run of this spec and config would be: the task, the loss chosen for it, the data, the device."""

    task: str
    loss: str
    output: str  # the output node's id
    n_train: int
    n_val: int
    n_classes: int | None
    device: str


def preflight(spec: GraphSpec, config: TrainConfig) -> Readiness:
    """Everything that can be checked before a run starts; raises the user-facing error that names the
    field, node, file or column (ConfigError, SpecInvalid, DataError)."""
    analysis = analysis_for_training(spec, config)
    device, _ = pick_device(config.device, named=False)  # the server checks; the worker uses the GPU
    dataset = fitted_dataset(analysis, config)
    task, loss, _ = objective_of(analysis, config, dataset)  # the learning rule's checks name the node
    return Readiness(task, loss, analysis.output_id, dataset.n_train, dataset.n_val, dataset.n_classes, str(device))


def data_of(config: TrainConfig) -> tuple[str, str | None]:
    """What a run learns from: the dataset (a CSV file's path) and the target column."""
    return config.dataset, config.target


def data_name(config: TrainConfig) -> str:
    """The data in words: "dataset 'digits'", "CSV file 'wine.csv' (target 'quality')"."""
    if config.dataset.startswith(CSV_PREFIX):
        name = Path(config.dataset[len(CSV_PREFIX) :]).name
        return f"CSV file '{name}'" + (f" (target '{config.target}')" if config.target else "")
    return f"dataset '{config.dataset}'"


def refusal(record: RunRecord, spec: GraphSpec, config: TrainConfig, plan: CarryPlan) -> str:
    """Why `record` may not continue with `spec`, `config` and the carry `plan`; "" when it may."""
    trained, _ = TrainConfig.from_dict(record.config)
    if trained is not None and data_of(trained) != data_of(config):
        return f"it was trained on {data_name(trained)}, and the settings say {data_name(config)}"
    _, why_not = continue_terms_of(spec, config, int(record.progress.get("epoch", 0)))
    if why_not:  # in the rule's terms: a DBN's fine-tuning epochs, a DSN's epochs per module
        return why_not
    if not plan.kept:
        return f"no node of this network would keep its trained weights ({plan.summary()})"
    return ""


def continue_terms_of(spec: GraphSpec, config: TrainConfig, done: int) -> tuple[str, str]:
    """(what continuing `done` whole epochs in would train, "") or ("", why not): engine.train.rule_card."""
    analysis = analyze(spec)
    raw = config.to_dict()
    n_classes = DATASETS[config.dataset].n_classes if config.dataset in DATASETS else None
    return continue_terms(run_cards(analysis, raw)[0], raw, layers_of(analysis, n_classes), done)
