"""The probe panels under the live curves: activations, weights, decision surface, confusion matrix."""

from __future__ import annotations

import streamlit as st

from ui.figures import training as figures
from ui.train.recurrent_panels import RECURRENT_PANEL, draw_recurrent, has_recurrent
from ui.train.rule_of_run import RunRule
from ui.train.rule_panels import draw_rule_panels
from ui.train.run_view import RunView, distribution, node_series, probed_nodes

PANELS = ("Gradients", "Activations", "Weights", "Decision surface", "Confusion matrix")
RULE_PANEL = "Live views"  # a rule's (or an autoencoder's) own views, from the epoch snapshots' "panels"
GRADIENT_KINDS = {"grad": "parameter gradient norm", "out_grad": "output gradient norm"}


def _chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False}, width="stretch")


def offered_panels(rule: RunRule | None, view: RunView) -> tuple[str, ...]:
    """The tabs of the run: its rule card's views whose needs the run has (engine.train.rule_card), a rule's own
    live views first; without a card (a spec that no longer parses), what the run's data hold."""
    if rule is not None:
        labels = [v.label for v in rule.views]
        return tuple(sorted(labels, key=lambda label: label != RULE_PANEL))
    rule_views = view.latest_epoch.get("panels")
    return ((RULE_PANEL, *PANELS[2:]) if not view.steps else (RULE_PANEL, *PANELS)) if rule_views else PANELS


def draw_details(view: RunView, gradient_kind: str, rule: RunRule | None = None) -> None:
    """The tabs the run's rule offers (offered_panels); a learning rule's live views first."""
    panels = offered_panels(rule, view)
    key = "train_panel"
    if has_recurrent(view):  # recurrent nodes: their gates and gradients through time first (ui.train.recurrent_panels)
        panels, key = (RECURRENT_PANEL, *panels), "train_panel_recurrent"  # a new control: it opens on them
    if not panels:
        return
    panel = st.segmented_control("Inside the network", panels, default=panels[0], key=key) or panels[0]
    if panel == RULE_PANEL:
        if not draw_rule_panels(view):
            st.caption("The rule's live views come at the end of the first epoch.")
        return
    if panel == RECURRENT_PANEL:
        draw_recurrent(view)
        return
    if panel == "Gradients":
        _gradients(view, gradient_kind)
        return
    draw = {
        "Activations": _activations,
        "Weights": _weights,
        "Decision surface": _surface,
        "Confusion matrix": _confusion,
    }[panel]
    draw(view)


def _gradients(view: RunView, kind: str) -> None:
    series = {n: node_series(view.steps, n, kind) for n in probed_nodes(view.steps, kind)}
    if not series:
        st.caption("Gradient norms per node appear with the first probe snapshot.")
        return
    _chart(figures.gradient_history_figure(series, GRADIENT_KINDS[kind]), "train_grad_history")


def _activations(view: RunView) -> None:
    nodes = probed_nodes(view.steps, "hist")
    if not nodes:
        st.caption("Activation distributions appear with the first probe snapshot.")
        return
    left, right = st.columns(2, gap="medium")
    with left:
        node = st.selectbox("Node", nodes, key="train_act_node") or nodes[0]
        d = distribution(view.steps, node)
        if d is not None:
            _chart(figures.activation_figure(d, node), "train_act_chart")
            dead = f", dead units {100 * d.dead[-1]:.0f}%" if d.dead[-1] is not None else ""
            st.caption(f"Latest sample of {node}: mean {d.mean[-1]:.3g}, std {d.std[-1]:.3g}{dead}.")
    with right:
        dead = {n: node_series(view.steps, n, "dead") for n in probed_nodes(view.steps, "dead")}
        if dead:
            _chart(figures.dead_units_figure(dead), "train_dead_chart")
        else:
            st.caption("Dead units are counted for ReLU-like nodes (ReLU, LeakyReLU, ELU, GELU, Step).")


def _weights(view: RunView) -> None:
    latest = view.latest_epoch
    if "weights" not in latest and "filters" not in latest:
        st.caption("Weight images come at the end of an epoch.")
        return
    st.caption(f"At the end of epoch {latest.get('epoch')}.")
    if "filters" in latest:
        _chart(figures.filters_figure(latest["filters"]), "train_filters_chart")
    if "weights" in latest:
        _chart(figures.weights_figure(latest["weights"]), "train_weights_chart")


def _surface(view: RunView) -> None:
    surface = view.latest_epoch.get("surface")
    if surface is None:
        st.caption("The decision surface comes at the end of an epoch.")
        return
    names = view.confusions[-1][3] if view.confusions else []
    st.caption(f"At the end of epoch {view.latest_epoch.get('epoch')}.")
    _chart(figures.surface_figure(surface, names), "train_surface_chart")


def _confusion(view: RunView) -> None:
    if not view.confusions:
        st.caption("The confusion matrix comes at the end of each epoch.")
        return
    epochs = [c[0] for c in view.confusions]
    index = len(epochs) - 1
    if len(epochs) > 1:
        chosen = st.select_slider("Epoch", options=epochs, value=epochs[-1], key=f"train_conf_epoch_{len(epochs)}")
        index = epochs.index(chosen)
    epoch, _, matrix, names = view.confusions[index]
    _chart(figures.confusion_figure(matrix, names, epoch), "train_confusion_chart")
