"""One description per learning rule (RuleCard): the settings it reads, its phases, its measures and the views
of the network that apply to its runs. The Train page's sidebar, the rule line, the tabs, the runs table, the
stored config and `train --help` read it, so a rule never shows or records a setting it ignores.

    card = card_for("dbn")                                 # the frozen card of a resolved rule
    card.setting_names()                   # ("loss", "optimizer", "lr", ...): what it reads
    rule_line(card, config, layers={"pretrain": ["rbm1", "rbm2"]})
        # "DBN: pretrains rbm1 then rbm2 by CD-1, 10 epochs each, then fine-tunes the whole stack by backprop ..."
    offered_views(card, {"classes", "2d_input", "step_probes"})   # the tabs a run of it shows
    stored_config(spec_dict, config_dict)                  # the config without the settings its rule ignores

Plain Python (no torch): the cards are data; engine.train.trainers builds the trainers they describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.analysis.validate import Analysis, analyze
from builder.library.datasets import DATASETS
from builder.spec.spec import parse_spec
from engine.train.choose import Graph, choose_trainer, dsn_modules
from engine.train.counters import phase_counts

COMMON = (  # what every rule reads: the data, the order of the examples, the machine
    *("dataset", "target", "task", "trainer", "seed", "device", "val_split", "deterministic", "log_every"),
    *("shuffle", "threads"),
)
RECONSTRUCTING = ("reconstruction", "unsupervised")


@dataclass(frozen=True)
class SettingSpec:
    name: str  # the TrainConfig field
    label: str  # the sidebar's label
    kind: str  # "int", "float", "choice", "bool", "int?", "float?" (empty: the help says what it falls back to)
    low: float | None = None
    high: float | None = None
    help: str = ""


@dataclass(frozen=True)
class PhaseSpec:
    name: str  # the trainer's Phase.name: "train", "pretrain", "finetune", "module"
    label: str  # "pretraining", "fine-tuning", "module"
    epochs_setting: str  # the TrainConfig field that gives each of its epochs ("epochs", "pretrain_epochs")


@dataclass(frozen=True)
class MetricSpec:
    name: str  # the epoch events' key
    label: str
    better: str  # "lower" or "higher"
    log_scale: bool = False


@dataclass(frozen=True)
class ViewSpec:
    name: str  # "gradients", "activations", "weights", "surface", "confusion", "rule_views"
    label: str  # the tab's name
    needs: tuple[str, ...] = ()  # what the run must have: "classes", "2d_input", "step_probes", "rule_views"


@dataclass(frozen=True)
class RuleCard:
    name: str  # the TrainConfig.trainer value ("autoencoder": backprop on a reconstruction task)
    title: str  # "DBN"
    what_it_updates: str  # the rule line's template (see rule_line)
    settings: tuple[SettingSpec, ...]
    phases: tuple[PhaseSpec, ...]
    metrics: tuple[MetricSpec, ...]
    views: tuple[ViewSpec, ...]
    not_shown: str = ""  # why views a reader might look for are absent (the rule line says it)

    def setting_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.settings)

    def setting(self, name: str) -> SettingSpec | None:
        return next((s for s in self.settings if s.name == name), None)

    def reads(self, name: str) -> bool:
        return name in COMMON or self.setting(name) is not None


# --- the settings --------------------------------------------------------------------------------------

LR = SettingSpec("lr", "Learning rate", "float", 1e-7, 10.0, "the step size of the optimizer")
EPOCHS = SettingSpec("epochs", "Epochs", "int", 1, 100_000)
BATCH = SettingSpec("batch_size", "Batch size", "int", 1, 65_536, "examples per gradient step")
DECAY = SettingSpec("weight_decay", "Weight decay", "float", 0.0, 1.0)
LOSS = SettingSpec(
    "loss",
    "Loss",
    "choice",
    help="auto: chosen from the task and the output node; cross_entropy or mse for "
    "classification; mse, l1 or huber else",
)
OPTIMIZER = SettingSpec("optimizer", "Optimizer", "choice")
AMP = SettingSpec("amp", "Mixed precision", "choice", help="bf16 or fp16 forward passes; the weights stay 32-bit")
LABELLED = SettingSpec("label_fraction", "Labelled share", "float", 0.0, 1.0, "of the training rows (stratified)")
SHUFFLE = SettingSpec("shuffle", "Shuffle the rows each epoch", "bool")
CD_K = SettingSpec("cd_k", "CD steps (k)", "int", 1, 100, "Gibbs steps per contrastive-divergence update")
PERSISTENT = SettingSpec("persistent", "Persistent CD", "bool", help="the negative chain carries on between updates")
GRADIENT_STEP = (LOSS, OPTIMIZER, LR, BATCH, DECAY, AMP, LABELLED)

BACKPROP_SETTINGS = (*GRADIENT_STEP, EPOCHS)
AUTOENCODER_SETTINGS = (
    *[s for s in GRADIENT_STEP if s.name != "label_fraction"],  # no labels: the target is the input
    EPOCHS,
    SettingSpec("input_noise", "Input noise", "float", 0.0, 1.0, "share of inputs set to 0 (denoising)"),
    SettingSpec("sparsity", "Code sparsity (L1)", "float", 0.0, 1e6, "weight of an L1 penalty on the code"),
)
PERCEPTRON_SETTINGS = (
    SettingSpec("lr", "Learning rate", "float", 1e-7, 10.0, "the step per mistake: w += lr * (target - output) * x"),
    EPOCHS,
    SHUFFLE,
)
RBM_SETTINGS = (
    SettingSpec("lr", "CD learning rate", "float", 1e-7, 10.0, "the rate per example of each CD update"),
    SettingSpec("batch_size", "Batch size", "int", 1, 65_536, "examples per CD update"),
    EPOCHS,
    SettingSpec("weight_decay", "Weight decay", "float", 0.0, 1.0, "CD's decay of the weights (not of the biases)"),
    CD_K,
    PERSISTENT,
    SHUFFLE,
)
SOM_SETTINGS = (
    SettingSpec("lr", "Learning rate", "float", 1e-7, 10.0, "the first rate; it shrinks with the radius"),
    EPOCHS,
    SettingSpec("batch_size", "Examples per step", "int", 1, 65_536, "online: examples (one update each) per step"),
    SettingSpec("som_sigma", "First radius (grid units)", "float?", 1e-3, 1e6, "empty: half the longer side"),
    SettingSpec("som_decay", "Radius and rate decay", "choice"),
    SettingSpec("som_mode", "Updates", "choice", help="online: one example per update; batch: one update per epoch"),
    SHUFFLE,
)
DBN_SETTINGS = (
    SettingSpec("pretrain_epochs", "Pretraining epochs per RBM", "int?", 1, 100_000, "empty: the fine-tuning epochs"),
    SettingSpec("pretrain_lr", "CD learning rate", "float?", 1e-7, 10.0, "empty: the learning rate"),
    CD_K,
    PERSISTENT,
    *GRADIENT_STEP,
    SettingSpec("epochs", "Fine-tuning epochs", "int", 1, 100_000, "epochs of backprop on the whole stack"),
)
DSN_SETTINGS = (
    *GRADIENT_STEP,
    SettingSpec("epochs", "Epochs per module", "int", 1, 100_000, "each module trains this long"),
)

# --- the measures and views ------------------------------------------------------------------------------

LOSS_METRICS = (
    MetricSpec("loss", "training loss", "lower", True),
    MetricSpec("val_loss", "validation loss", "lower", True),
    MetricSpec("val_accuracy", "validation accuracy", "higher"),
)
RBM_METRICS = (
    MetricSpec("reconstruction_error", "reconstruction error", "lower"),
    MetricSpec("pseudo_log_likelihood", "pseudo log-likelihood", "higher"),
    MetricSpec("free_energy_gap", "free-energy gap", "lower"),
)
GRADIENTS = ViewSpec("gradients", "Gradients", ("step_probes",))
ACTIVATIONS = ViewSpec("activations", "Activations", ("step_probes",))
WEIGHTS = ViewSpec("weights", "Weights")
SURFACE = ViewSpec("surface", "Decision surface", ("classes", "2d_input"))
CONFUSION = ViewSpec("confusion", "Confusion matrix", ("classes",))
RULE_VIEWS = ViewSpec("rule_views", "Live views", ("rule_views",))
PROBED = (GRADIENTS, ACTIVATIONS, WEIGHTS, SURFACE, CONFUSION)
NOT_SAMPLED = "Gradients and activations are not sampled: {why}."
NO_GRADIENT = "No gradient views: {why}."


def _card(name, title, updates, settings, phases, metrics, views, not_shown="") -> RuleCard:
    return RuleCard(name, title, updates, tuple(settings), tuple(phases), tuple(metrics), tuple(views), not_shown)


TRAIN = PhaseSpec("train", "training", "epochs")
CARDS = {
    "backprop": _card(
        "backprop", "backprop", "updates every weight by {optimizer} on the gradient of {loss}, {epochs}",
        BACKPROP_SETTINGS, [TRAIN], LOSS_METRICS, PROBED,
    ),
    "autoencoder": _card(
        "autoencoder", "autoencoder", "updates every weight by {optimizer} on the reconstruction loss, {epochs}",
        AUTOENCODER_SETTINGS, [TRAIN], LOSS_METRICS[:2], (*PROBED[:3], RULE_VIEWS),
    ),
    "perceptron": _card(
        "perceptron", "perceptron rule",
        "moves the weights by lr × (target − output) × input after each misclassified example, one at a time, "
        "{epochs}",
        PERCEPTRON_SETTINGS, [TRAIN],
        [MetricSpec("mistakes", "mistakes", "lower"), MetricSpec("val_accuracy", "validation accuracy", "higher")],
        (RULE_VIEWS, WEIGHTS, SURFACE, CONFUSION),
        NO_GRADIENT.format(why="the rule learns from its mistakes, not from a gradient"),
    ),
    "rbm": _card(
        "rbm", "CD-k", "updates the RBM's weights and biases by CD-{cd_k} on batches of {batch_size}, {epochs}",
        RBM_SETTINGS, [TRAIN], RBM_METRICS, (RULE_VIEWS, WEIGHTS),
        NO_GRADIENT.format(why="contrastive divergence takes no gradient of a loss through the graph"),
    ),
    "som": _card(
        "som", "SOM rule",
        "pulls each example's best-matching unit and its grid neighbours towards it ({som_mode} updates, "
        "radius and rate decay {som_decay}), {epochs}",
        SOM_SETTINGS, [TRAIN],
        [MetricSpec("quantization_error", "quantization error", "lower"),
         MetricSpec("topographic_error", "topographic error", "lower")],
        (RULE_VIEWS, WEIGHTS),
        NO_GRADIENT.format(why="Kohonen's rule takes no gradient of a loss"),
    ),
    "dbn": _card(
        "dbn", "DBN",
        "pretrains {pretrain_layers} by CD-{cd_k}, {pretrain_epochs} each, then fine-tunes the whole stack "
        "by backprop ({optimizer}) for {epochs}",
        DBN_SETTINGS,
        [PhaseSpec("pretrain", "pretraining", "pretrain_epochs"), PhaseSpec("finetune", "fine-tuning", "epochs")],
        (*LOSS_METRICS, *RBM_METRICS), (RULE_VIEWS, WEIGHTS, SURFACE, CONFUSION),
        NOT_SAMPLED.format(why="pretraining steps run CD, not a backward pass, and the probes are "
                           "not attached during fine-tuning"),
    ),
    "dsn": _card(
        "dsn", "DSN",
        "trains its modules ({module_layers}) one at a time, bottom first, by backprop ({optimizer}) on each "
        "module's own cross entropy, "
        "{epochs} per module, the modules below frozen",
        DSN_SETTINGS, [PhaseSpec("module", "module", "epochs")], LOSS_METRICS, (WEIGHTS, SURFACE, CONFUSION),
        NOT_SAMPLED.format(why="each module's steps run through a prefix of the graph, which the step "
                           "probes do not hook"),
    ),
}  # fmt: skip


def card_for(rule: str, task: str | None = None) -> RuleCard:
    """The card of a resolved rule (never "auto"); backprop on a reconstruction task is the autoencoder's."""
    if rule == "backprop" and task in RECONSTRUCTING:
        return CARDS["autoencoder"]
    return CARDS[rule]


def offered_views(card: RuleCard, has: set[str]) -> list[ViewSpec]:
    """The views a run of `card` shows: those whose needs the run has ("classes", "2d_input", "step_probes",
    "rule_views")."""
    return [v for v in card.views if all(n in has for n in v.needs)]


def _epochs(n: int) -> str:
    return f"{n:,} epoch{'s' if n != 1 else ''}"


def _then(names: list[str]) -> str:
    return " then ".join(names) if names else "its RBMs"


def rule_line(card: RuleCard, config: dict, layers: dict[str, list[str]] | None = None) -> str:
    """One line on what the rule updates and how, from the card and the run's settings; `layers`: the nodes of
    each repeated phase ({"pretrain": [rbm ids], "module": [module output ids]})."""
    layers = layers or {}
    pretrain = config.get("pretrain_epochs") or config.get("epochs", 1)
    values = {
        **config,
        "loss": f"the {config['loss']} loss" if config.get("loss") else "the loss chosen for the task",
        "epochs": _epochs(int(config.get("epochs", 1))),
        "pretrain_epochs": _epochs(int(pretrain)),
        "pretrain_layers": _then(layers.get("pretrain", [])),
        "module_layers": _then(layers.get("module", [])) if layers.get("module") else "the modules",
    }
    line = f"{card.title}: " + card.what_it_updates.format(**values) + "."
    return f"{line} {card.not_shown}" if card.not_shown else line


def help_text() -> str:
    """The settings each rule reads, for `train --help`."""
    lines = [f"  {card.name}: {', '.join(card.setting_names())}" for card in CARDS.values()]
    common = "  every rule: dataset, target, task, seed, device, val_split, deterministic, shuffle, threads"
    head = "settings each learning rule reads (it ignores the others; the Train page neither shows nor records them):"
    return "\n".join([head, common, *lines])


# --- the card of a run ------------------------------------------------------------------------------------


def run_task(config: dict) -> str | None:
    """The run's task: the config's, else the built-in dataset's; None for a CSV file left to its target."""
    dataset = DATASETS.get(str(config.get("dataset")))
    return config.get("task") or (dataset.task if dataset is not None else None)


def run_cards(analysis: Analysis, config: dict) -> list[RuleCard]:
    """The card(s) of the rule a run of `config` gets: one, but for `auto` on a CSV file whose classes are not
    known yet (the perceptron needs 2) or backprop on a CSV file whose task is its target's (an autoencoder?)."""
    dataset = DATASETS.get(str(config.get("dataset")))
    trainer = config.get("trainer") or "auto"
    if trainer != "auto":
        rules = {trainer}
    elif not analysis.ok:
        rules = {"backprop"}
    else:
        counts = [dataset.n_classes] if dataset is not None else [None, 2]
        rules = {choose_trainer(analysis, n).trainer for n in counts}
    task = run_task(config)
    cards = [card_for(rule, task) for rule in sorted(rules)]
    if "backprop" in rules and task is None:
        cards.append(CARDS["autoencoder"])
    return cards


def layers_of(analysis: Analysis, n_classes: int | None) -> dict[str, list[str]]:
    """The nodes of each repeated phase: {"pretrain": the RBMs bottom first, "module": each module's output}."""
    if not analysis.ok:
        return {}
    g = Graph.of(analysis)
    return {"pretrain": g.of_op("RBM"), "module": dsn_modules(g, analysis, n_classes)}


def stored_config(spec: dict, config: dict) -> dict:
    """What the run store records of `config`: the settings the run's rule reads (recorded_config)."""
    parsed, _ = parse_spec(spec)
    if parsed is None:
        return config
    cards = run_cards(analyze(parsed), config)
    return {key: value for key, value in config.items() if any(card.reads(key) for card in cards)}


@dataclass(frozen=True)
class PlannedPhase:
    """A phase as engine.train.counters counts it, planned from the card (no trainer needed)."""

    name: str
    epochs: int
    layer: str | None = None
    index: int = 1


def plan_of(card: RuleCard, config: dict, layers: dict[str, list[str]]) -> list[PlannedPhase]:
    """The phases a run of `card` with `config` trains, as the trainer plans them (engine.train.*: plan())."""
    epochs = int(config.get("epochs") or 1)
    if card.name == "dbn":
        pretrain = int(config.get("pretrain_epochs") or epochs)
        rbms = [PlannedPhase("pretrain", pretrain, rbm, i + 1) for i, rbm in enumerate(layers.get("pretrain", []))]
        return [*rbms, PlannedPhase("finetune", epochs, None, len(rbms) + 1)]
    if card.name == "dsn":
        return [PlannedPhase("module", epochs, out, k + 1) for k, out in enumerate(layers.get("module", []))]
    return [PlannedPhase("train", epochs)]


def continue_terms(card: RuleCard, config: dict, layers: dict[str, list[str]], done: int) -> tuple[str, str]:
    """(what continuing `done` whole epochs into a run with `config` would train, ""), or ("", why not), in the
    counters' terms: "fine-tuning for 5 more epochs (to 20)", one phase: "2 more epochs (to 4)"; "fine-tuning
    epochs must be more than the 15 already trained to continue; got 15"."""
    counts = phase_counts(plan_of(card, config, layers), done)
    more = [c for c in counts if c["done"] < c["epochs"]]
    if not more:
        setting = card.setting("epochs")
        label = setting.label if setting is not None else "Epochs"
        last = next((c for c in reversed(counts)), {"done": done})
        got = config["epochs"]
        return "", f"{label.lower()} must be more than the {last['done']:,} already trained to continue; got {got}"
    parts = []
    for c in more:
        where = f" ({c['layer']})" if c["layer"] else ""
        left = c["epochs"] - c["done"]
        what = "" if len(counts) == 1 else f"{c['label']}{where} for "
        parts.append(f"{what}{left:,} more epoch{'s' if left != 1 else ''} (to {c['epochs']:,})")
    return " then ".join(parts), ""
