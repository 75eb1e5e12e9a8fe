"""The Train page's views of a learning rule's run: its own measures as curves (phase starts marked) and the live
panels a trainer declares (engine.train.*: `panels`, stored per epoch under "panels" by the worker), mapped to
the figures of ui.figures.rules and ui.figures.trainers. Glue only."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.figures import rules as figures
from ui.figures.trainers import decision_line_figure, rule_curves_figure
from ui.train.run_view import RunView, thin

RULE_METRICS = (  # the measures the rules report, in the order their charts stack
    "mistakes",
    "val_accuracy",
    "reconstruction_error",
    "pseudo_log_likelihood",
    "free_energy_gap",
    "quantization_error",
    "topographic_error",
    "loss",
    "val_loss",
)
RULE_ONLY = set(RULE_METRICS) - {"val_accuracy", "loss", "val_loss"}  # what backprop never reports
MAX_POINTS = 500
CHART_CONFIG = {"displaylogo": False}


def _chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config=CHART_CONFIG, width="stretch")


def is_rule_run(view: RunView) -> bool:
    """Whether the run reports a rule's measures or phases (not only a loss), so the rule curves draw it."""
    if any(r.kind == "phase" for r in view.metrics):
        return True
    return any(k in r.data for r in view.metrics[-20:] for k in RULE_ONLY)


def series(view: RunView) -> tuple[dict, dict, list[tuple[int, str]]]:
    """({metric: (steps, values)} per epoch, the same per step event, [(step, phase label)])."""
    epochs, steps, phases = {}, {}, []
    epoch_rows = thin([r for r in view.metrics if r.kind == "epoch"], MAX_POINTS)
    step_rows = thin([r for r in view.metrics if r.kind == "step"], MAX_POINTS)
    for name in RULE_METRICS:
        points = [(r.step, r.data[name]) for r in epoch_rows if name in r.data]
        if points:
            epochs[name] = ([s for s, _ in points], [v for _, v in points])
        points = [(r.step, r.data[name]) for r in step_rows if name in r.data]
        if points and name != "mistakes":  # a running count within the epoch: not a curve
            steps[name] = ([s for s, _ in points], [v for _, v in points])
    for row in view.metrics:
        if row.kind == "phase":
            where = row.data.get("layer") or ""
            phases.append((row.step, f"{row.data.get('phase', '')} {where}".strip()))
    return epochs, steps, phases


def draw_rule_curves(view: RunView, edits: list[tuple[int, str]]) -> None:
    epochs, steps, phases = series(view)
    if not epochs:
        st.info("Waiting for the end of the first epoch…")
        return
    _chart(rule_curves_figure(epochs, steps, phases, edits), "train_rule_curves_chart")


def draw_rule_panels(view: RunView) -> bool:
    """The rule's live views; False when the run has none (then the probe panels draw)."""
    panels = view.latest_epoch.get("panels")
    if not panels:
        return False
    st.caption(f"At the end of epoch {view.latest_epoch.get('epoch')}.")
    if "decision_line" in panels:
        _decision_line(view, panels["decision_line"])
    if "rbm" in panels:
        _rbm(panels["rbm"])
    if "som" in panels:
        _som(panels["som"])
    if "autoencoder" in panels:
        _autoencoder(panels["autoencoder"])
    return True


def _autoencoder(data: dict) -> None:
    if "inputs" in data:
        shape = tuple(data["image_shape"])
        fig = figures.reconstruction_grid_figure(np.array(data["inputs"]), np.array(data["reconstructions"]), shape)
        _chart(fig, "train_autoencoder_recon_chart")
    if "codes" in data:
        labels = np.array(data["labels"]) if "labels" in data else None
        fig = figures.code_scatter_figure(np.array(data["codes"]), labels, data.get("class_names", []))
        _chart(fig, "train_autoencoder_codes_chart")


def _decision_line(view: RunView, data: dict) -> None:
    """The line of the newest step event (it moves during an epoch), over the training points."""
    newest = next((r.data for r in reversed(view.metrics) if r.kind == "step" and "weight_0" in r.data), data)
    names = view.confusions[-1][3] if view.confusions else []
    _chart(decision_line_figure(data["points"], newest, names), "train_decision_line_chart")


def _rbm(data: dict) -> None:
    shape = tuple(data["image_shape"]) if data.get("image_shape") else None
    if shape is None:
        st.caption(f"RBM '{data['layer']}': its inputs are not square images, so they are not drawn as pictures.")
        return
    choice = st.segmented_control(
        "RBM view", ["Weights", "Reconstructions", "Gibbs samples"], default="Weights", key="train_rbm_view"
    )
    if choice == "Reconstructions":
        fig = figures.reconstruction_grid_figure(np.array(data["inputs"]), np.array(data["reconstructions"]), shape)
    elif choice == "Gibbs samples":
        fig = figures.samples_figure(np.array(data["gibbs_samples"]), shape)
    else:
        fig = figures.weight_images_figure(np.array(data["weights"]))
    _chart(fig, "train_rbm_chart")


def _som(data: dict) -> None:
    views = ["U-matrix", "Hit map", "Component planes", *(["Map over the data"] if "grid" in data else [])]
    choice = st.segmented_control("Map view", views, default=views[0], key="train_som_view") or views[0]
    if choice == "Hit map":
        fig = figures.hit_map_figure(np.array(data["hit_map"]), data["class_names"])
    elif choice == "Component planes":
        planes = np.array(data["component_planes"])
        names = data.get("feature_names") or [f"feature {k}" for k in range(len(planes))]  # older runs: no names
        fig = figures.component_planes_figure(planes, names)
    elif choice == "Map over the data":
        labels = np.array(data["point_labels"]) if "point_labels" in data else None
        fig = figures.som_grid_over_points_figure(
            np.array(data["grid"]), data["rows"], data["cols"], np.array(data["points"]), labels, data["class_names"]
        )
    else:
        fig = figures.u_matrix_figure(np.array(data["u_matrix"]))
    _chart(fig, "train_som_chart")
