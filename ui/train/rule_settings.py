"""The learning rule on the Train page: a selectbox whose `auto` option says which rule the graph gets and why
(engine.train.choose, before any run), and the settings of the rule that will train. Glue only."""

from __future__ import annotations

import streamlit as st

from builder.datasets import DATASETS
from builder.spec import GraphSpec
from builder.validate import analyze
from engine.train.choose import NAMES, Choice, choose_trainer
from engine.train.config import SOM_DECAYS, SOM_MODES, TRAINERS

KEY = "ts_"  # the settings' widget keys (ui.train.settings)
LABELS = {
    "backprop": "backprop (gradient descent on the loss)",
    "perceptron": "perceptron rule (Rosenblatt)",
    "rbm": "CD-k (RBM)",
    "dbn": "DBN (pretrain RBMs, then fine-tune)",
    "dsn": "DSN (module by module)",
    "som": "SOM (Kohonen)",
}


def auto_choice(spec: GraphSpec, dataset: str) -> Choice | None:
    """What `auto` picks for this graph and dataset; None while the graph has errors."""
    analysis = analyze(spec)
    if not analysis.ok:
        return None
    n_classes = DATASETS[dataset].n_classes if dataset in DATASETS else None
    return choose_trainer(analysis, n_classes)


def draw_rule(spec: GraphSpec, dataset: str, task: str | None) -> dict:
    """The rule selectbox and its settings; the TrainConfig fields they set."""
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
    rule = (choice.trainer if choice else "backprop") if trainer == "auto" else trainer
    return {"trainer": trainer, **_rule_inputs(rule, task)}


def _rule_inputs(rule: str, task: str | None) -> dict:
    raw = {}
    if rule == "perceptron":
        raw["shuffle"] = st.checkbox("Shuffle the rows each epoch", key=KEY + "shuffle")
    if rule in ("rbm", "dbn"):
        left, right = st.columns(2)
        raw["cd_k"] = left.number_input("CD steps (k)", step=1, min_value=1, key=KEY + "cd_k")
        raw["persistent"] = right.checkbox("Persistent CD", key=KEY + "persistent")
    if rule == "dbn":
        left, right = st.columns(2)
        raw["pretrain_epochs"] = left.number_input(
            "Pretraining epochs", step=1, min_value=1, key=KEY + "pretrain_epochs", help="per RBM; empty: Epochs"
        )
        raw["pretrain_lr"] = right.number_input(
            "CD learning rate", format="%g", key=KEY + "pretrain_lr", help="empty: the learning rate"
        )
    if rule == "som":
        raw["som_sigma"] = st.number_input(
            "First radius (grid units)", format="%g", key=KEY + "som_sigma", help="empty: half the longer side"
        )
        left, right = st.columns(2)
        raw["som_decay"] = left.selectbox("Radius and rate decay", SOM_DECAYS, key=KEY + "som_decay")
        raw["som_mode"] = right.selectbox("Updates", SOM_MODES, key=KEY + "som_mode")
    if rule in ("backprop", "dbn", "dsn"):
        raw["label_fraction"] = st.number_input(
            "Labelled share", format="%g", step=0.05, key=KEY + "label_fraction", help="of the training rows"
        )
    if rule == "backprop" and task in ("reconstruction", "unsupervised"):
        left, right = st.columns(2)
        raw["input_noise"] = left.number_input("Input noise", format="%g", step=0.05, key=KEY + "input_noise")
        raw["sparsity"] = right.number_input("Code sparsity (L1)", format="%g", step=1e-3, key=KEY + "sparsity")
    return raw
