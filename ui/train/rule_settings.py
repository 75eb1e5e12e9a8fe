"""The learning rule on the Train page: a selectbox whose `auto` option says which rule the graph gets and why
(engine.train.choose, before any run), and the settings that rule reads, drawn from its card
(engine.train.rule_card): a rule's sidebar never shows a setting it ignores. Glue only."""

from __future__ import annotations

import streamlit as st

from builder.analysis.validate import analyze
from builder.library.datasets import DATASETS
from builder.spec.spec import GraphSpec
from engine.train.choose import NAMES, Choice, choose_trainer
from engine.train.config import LOSSES, OPTIMIZERS, SOM_DECAYS, SOM_MODES, TRAINERS
from engine.train.rule_card import RuleCard, SettingSpec, card_for

KEY = "ts_"  # the settings' widget keys (ui.train.settings)
LABELS = {  # short: a sidebar select's closed field shows one line of about 28 characters; DESCRIPTIONS go under it
    "backprop": "backprop",
    "perceptron": "perceptron rule",
    "rbm": "CD-k (RBM)",
    "dbn": "DBN",
    "dsn": "DSN",
    "som": "SOM (Kohonen)",
}
DESCRIPTIONS = {
    "backprop": "Gradient descent on the loss through the whole graph.",
    "perceptron": "Rosenblatt's rule: one example at a time, the weights move on each mistake.",
    "rbm": "Contrastive divergence on the graph's RBM.",
    "dbn": "Pretrains the RBMs one by one by CD, then fine-tunes the whole stack by backprop.",
    "dsn": "Trains the stacking network module by module, the modules below frozen.",
    "som": "Kohonen's self-organising map.",
}
CHOICES = {"loss": ["auto", *LOSSES], "optimizer": list(OPTIMIZERS), "som_decay": SOM_DECAYS, "som_mode": SOM_MODES}
UNDER_MORE = ("amp",)  # drawn with the other rarely changed settings (ui.train.settings)


def auto_choice(spec: GraphSpec, dataset: str) -> Choice | None:
    """What `auto` picks for this graph and dataset; None while the graph has errors."""
    analysis = analyze(spec)
    if not analysis.ok:
        return None
    n_classes = DATASETS[dataset].n_classes if dataset in DATASETS else None
    return choose_trainer(analysis, n_classes)


def draw_rule(spec: GraphSpec, dataset: str, task: str | None) -> tuple[dict, RuleCard]:
    """The rule selectbox and the settings its rule reads; (the TrainConfig fields they set, the rule's card)."""
    choice = auto_choice(spec, dataset)

    def label(name: str) -> str:
        if name == "auto":
            return f"auto → {NAMES[choice.trainer]}" if choice else "auto (picked from the graph)"
        return LABELS[name]

    trainer = st.selectbox(
        "Learning rule",
        TRAINERS,
        key=KEY + "trainer",
        format_func=label,
        help="auto: CD-k for a graph ending in an RBM, the SOM rule for one ending in a SOM, DBN for RBMs under a "
        "classifier head, the perceptron rule for Input → Linear(1) → Step on 2 classes, else backprop",
    )
    if trainer == "auto" and choice is not None:
        st.caption(choice.reason)
    elif trainer in DESCRIPTIONS:
        st.caption(DESCRIPTIONS[trainer])
    rule = (choice.trainer if choice else "backprop") if trainer == "auto" else trainer
    card = card_for(rule, task or (DATASETS[dataset].task if dataset in DATASETS else None))
    return {"trainer": trainer, **draw_card_settings(card)}, card


def draw_card_settings(card: RuleCard) -> dict:
    """A widget per setting of the card (numbers two to a row), in the card's order; the fields they set."""
    raw, numbers = {}, []
    for setting in card.settings:
        if setting.name in UNDER_MORE:
            continue
        if setting.kind in ("int", "float", "int?", "float?"):
            numbers.append(setting)
            continue
        _flush_numbers(numbers, raw)
        raw[setting.name] = _widget(setting, st)
    _flush_numbers(numbers, raw)
    return raw


def _flush_numbers(numbers: list[SettingSpec], raw: dict) -> None:
    while numbers:
        row, numbers[:] = numbers[:2], numbers[2:]
        for setting, column in zip(row, st.columns(2)):
            raw[setting.name] = _widget(setting, column)


def _widget(setting: SettingSpec, where):
    key, name = KEY + setting.name, setting.name
    help_text = setting.help or None
    if setting.kind == "bool":
        return where.checkbox(setting.label, key=key, help=help_text)
    if setting.kind == "choice":
        fmt = (lambda x: "auto (for the task)" if x == "auto" else x) if name == "loss" else str
        value = where.selectbox(setting.label, CHOICES[name], key=key, format_func=fmt, help=help_text)
        return None if name == "loss" and value == "auto" else value
    if setting.kind.startswith("int"):
        return where.number_input(setting.label, step=1, key=key, help=help_text)
    return where.number_input(setting.label, format="%g", step=_step(setting), key=key, help=help_text)


def _step(setting: SettingSpec) -> float:
    return {"lr": 1e-4, "pretrain_lr": 1e-3, "weight_decay": 1e-4, "sparsity": 1e-3}.get(setting.name, 0.05)
