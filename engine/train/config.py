"""The training configuration of a run (docs/ARCHITECTURE.md §3): a frozen dataclass that round-trips through JSON.

User mistakes are data: `config.problems()` and `TrainConfig.from_dict(raw)` return one line per problem,
naming the field, what was expected and what was received ("lr must be > 0, got -1").
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from builder.library.datasets import CSV_PREFIX, DATASETS

TASKS = ("classification", "regression", "reconstruction", "unsupervised")  # unsupervised: the target is the input
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "mse", "l1", "huber")  # which fits which task: engine.train.loss_choice
DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_MODES = ("off", "bf16", "fp16")  # mixed precision, engine.train.amp
TRAINERS = ("auto", "backprop", "perceptron", "rbm", "dbn", "dsn", "som")  # engine.train.choose picks for auto
SOM_MODES = ("online", "batch")
SOM_DECAYS = ("asymptotic", "linear", "exponential")  # how the SOM's radius and rate shrink (engine.train.rules.som)
MAX_CD_K = 100  # Gibbs steps per CD update; far more only costs time
RULE_SETTINGS = (  # the learning rules' own settings (engine.train.choose and the rules); the CLI and the page
    "shuffle",
    "cd_k",
    "persistent",
    "pretrain_epochs",
    "pretrain_lr",
    "som_sigma",
    "som_decay",
    "som_mode",
    "label_fraction",
    "input_noise",
    "sparsity",
)
CUDA_INDEXED = re.compile(r"^cuda:\d+$")
MAX_LR = 1e6  # far past any rate that learns (it diverges, which is reported); far above, float32 overflows
MAX_WEIGHT_DECAY = 1.0  # no use above 1 (common values are 1e-5 to 0.1); far above, float32 overflows in the optimizer
MAX_EPOCHS = 100_000  # the Train page's cap too; far more is a run that never ends (10**12 epochs)
MAX_BATCH_SIZE = 65_536  # the Train page's cap too; a larger batch than the training set is the whole set anyway
MAX_LOG_EVERY = 1_000_000  # steps between step events
SOM_SIGMA_RANGE = (1e-3, 1e6)  # grid units: below 1e-3 only the BMU moves (as at 1e-3); no grid is wider than 1e6
MAX_THREADS = 1024  # torch's intra-op threads; far more than any machine's cores only oversubscribes


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "xor"
    task: str | None = None  # None: the dataset's own task
    optimizer: str = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 10
    val_split: float = 0.2
    seed: int = 0
    device: str = "auto"
    trainer: str = "auto"  # the learning rule (engine.train.choose: auto picks one from the graph)
    target: str | None = None  # CSV target column; None: the last column
    loss: str | None = None  # None: chosen from the task and output node (engine.train.losses, .loss_choice)
    log_every: int = 10  # optimizer steps between "step" events
    deterministic: bool = False  # torch's deterministic algorithms only: the same seed gives the same run on a GPU
    amp: str = "off"  # mixed precision of the backprop step: off, bf16, fp16 (engine.train.amp)
    shuffle: bool = True  # a new seeded order of the examples every epoch; False: the stored order
    cd_k: int = 1  # Gibbs steps of contrastive divergence (rbm, dbn pretraining)
    persistent: bool = False  # persistent CD: the negative chain carries on between updates
    pretrain_epochs: int | None = None  # dbn: epochs of CD per RBM; None: epochs
    pretrain_lr: float | None = None  # dbn: the CD learning rate; None: lr
    som_sigma: float | None = None  # the SOM's first neighbourhood radius in grid units; None: half the longer side
    som_decay: str = "asymptotic"  # how the radius and the learning rate (lr) shrink over the run
    som_mode: str = "online"  # online: one example per update; batch: one update per epoch
    label_fraction: float = 1.0  # the share of labelled training rows the supervised phase uses (stratified)
    input_noise: float = 0.0  # autoencoders: the share of input values set to 0 before encoding (denoising)
    sparsity: float = 0.0  # autoencoders: the weight of the L1 penalty on the code (the narrowest node)
    threads: int | None = None  # torch's intra-op threads; None: chosen from work size and free cores (engine.threads)

    def problems(self) -> list[str]:
        """Everything wrong with this config, one line each; [] when it can be trained."""
        found = _type_problems(self)
        if found:
            return found
        return _value_problems(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw) -> tuple[TrainConfig | None, list[str]]:
        """Parse a JSON object. Returns (config, []) or (None, problems); never raises on user input."""
        if not isinstance(raw, dict):
            return None, [f"training config must be a JSON object, got {_type_name(raw)}"]
        known = [f.name for f in dataclasses.fields(cls)]
        found = [
            f"unknown training config key '{key}' (allowed: {', '.join(known)})"
            for key in sorted(set(raw) - set(known), key=str)
        ]
        config = cls(**{k: v for k, v in raw.items() if k in known})
        found += config.problems()
        return (None, found) if found else (config, [])


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


FIELD_KINDS = {
    "dataset": "str",
    "task": "str?",
    "optimizer": "str",
    "lr": "number",
    "weight_decay": "number",
    "batch_size": "int",
    "epochs": "int",
    "val_split": "number",
    "seed": "int",
    "device": "str",
    "trainer": "str",
    "target": "str?",
    "loss": "str?",
    "log_every": "int",
    "deterministic": "bool",
    "amp": "str",
    "shuffle": "bool",
    "cd_k": "int",
    "persistent": "bool",
    "pretrain_epochs": "int?",
    "pretrain_lr": "number?",
    "som_sigma": "number?",
    "som_decay": "str",
    "som_mode": "str",
    "label_fraction": "number",
    "input_noise": "number",
    "sparsity": "number",
    "threads": "int?",
}
KIND_CHECKS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "str?": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "number": (_is_number, "a finite number"),
    "int": (_is_int, "an integer"),
    "int?": (lambda v: v is None or _is_int(v), "an integer or null"),
    "number?": (lambda v: v is None or _is_number(v), "a finite number or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
}


def _type_problems(config: TrainConfig) -> list[str]:
    found = []
    for name, kind in FIELD_KINDS.items():
        check, expected = KIND_CHECKS[kind]
        value = getattr(config, name)
        if not check(value):
            found.append(f"{name} must be {expected}, got {value!r} ({_type_name(value)})")
    return found


def _choice_problem(name: str, value: str, allowed: tuple[str, ...]) -> list[str]:
    if value in allowed:
        return []
    return [f"{name} must be one of {', '.join(allowed)}; got {value!r}"]


def _dataset_problems(c: TrainConfig) -> list[str]:
    if c.dataset.startswith(CSV_PREFIX):
        return (
            []
            if c.dataset[len(CSV_PREFIX) :].strip()
            else [f"dataset '{c.dataset}' needs a file path, e.g. csv:data/flowers.csv"]
        )
    if c.dataset in DATASETS:
        return (
            []
            if c.target is None
            else [f"target names a CSV column; dataset '{c.dataset}' is not a CSV file (got target {c.target!r})"]
        )
    known = ", ".join([*DATASETS, CSV_PREFIX + "PATH"])
    return [f"dataset must be one of {known}; got {c.dataset!r}"]


def _choice_problems(c: TrainConfig) -> list[str]:
    found = []
    if c.task is not None:
        found += _choice_problem("task", c.task, TASKS)
    found += _choice_problem("optimizer", c.optimizer, OPTIMIZERS)
    found += _choice_problem("amp", c.amp, AMP_MODES)
    if c.loss is not None:
        found += _choice_problem("loss", c.loss, LOSSES)
    if not (c.device in DEVICES or CUDA_INDEXED.match(c.device)):
        found.append(f"device must be one of {', '.join(DEVICES)} (or cuda:N); got {c.device!r}")
    if c.trainer == "rbm_pretrain":
        found.append("trainer 'rbm_pretrain' is now 'rbm' (CD-k on the graph's RBM); 'dbn' pretrains a stack")
    else:
        found += _choice_problem("trainer", c.trainer, TRAINERS)
    found += _choice_problem("som_decay", c.som_decay, SOM_DECAYS)
    found += _choice_problem("som_mode", c.som_mode, SOM_MODES)
    return found


def _rule_limits(c: TrainConfig) -> list[tuple[str, bool, str]]:
    """(field, within its range, the range) of the learning rules' settings."""
    return [
        ("cd_k", 1 <= c.cd_k <= MAX_CD_K, f"in [1, {MAX_CD_K}]"),
        (
            "pretrain_epochs",
            c.pretrain_epochs is None or 1 <= c.pretrain_epochs <= MAX_EPOCHS,
            f"in [1, {MAX_EPOCHS:,}] (or null)",
        ),
        ("pretrain_lr", c.pretrain_lr is None or 0 < c.pretrain_lr <= MAX_LR, f"in (0, {MAX_LR:g}] (or null)"),
        (
            "som_sigma",
            c.som_sigma is None or SOM_SIGMA_RANGE[0] <= c.som_sigma <= SOM_SIGMA_RANGE[1],
            "in [{:g}, {:g}] grid units (or null)".format(*SOM_SIGMA_RANGE),
        ),
        ("label_fraction", 0 < c.label_fraction <= 1, "in (0, 1]"),
        ("input_noise", 0 <= c.input_noise < 1, "in [0, 1)"),
        ("sparsity", 0 <= c.sparsity <= MAX_LR, f"in [0, {MAX_LR:g}]"),
        ("threads", c.threads is None or 1 <= c.threads <= MAX_THREADS, f"in [1, {MAX_THREADS}] (or null: chosen)"),
    ]


def _value_problems(c: TrainConfig) -> list[str]:
    found = _dataset_problems(c) + _choice_problems(c)
    limits = [
        ("lr", c.lr > 0, "> 0"),
        ("lr", c.lr <= MAX_LR, f"at most {MAX_LR:g}"),
        ("weight_decay", c.weight_decay >= 0, ">= 0"),
        ("weight_decay", c.weight_decay <= MAX_WEIGHT_DECAY, f"at most {MAX_WEIGHT_DECAY:g}"),
        ("batch_size", c.batch_size >= 1, ">= 1"),
        ("batch_size", c.batch_size <= MAX_BATCH_SIZE, f"at most {MAX_BATCH_SIZE:,}"),
        ("epochs", c.epochs >= 1, ">= 1"),
        ("epochs", c.epochs <= MAX_EPOCHS, f"at most {MAX_EPOCHS:,}"),
        ("val_split", 0 <= c.val_split < 1, "in [0, 1)"),
        ("seed", 0 <= c.seed < 2**63, "in [0, 2**63)"),
        ("log_every", 1 <= c.log_every <= MAX_LOG_EVERY, f"in [1, {MAX_LOG_EVERY:,}]"),
        *_rule_limits(c),
    ]
    found += [f"{name} must be {expected}, got {getattr(c, name)!r}" for name, ok, expected in limits if not ok]
    return found
