"""This session's runs: a table with their settings and final metrics, one to show, several to compare."""

from __future__ import annotations

import datetime

import streamlit as st

from builder.library.datasets import dataset_label
from engine.runs.store import RunRecord
from engine.train.counters import epochs_text
from engine.train.rule_card import CARDS, RBM_METRICS
from ui.figures import training as figures
from ui.train.page_state import manager, owner, run_view, show_run
from ui.train.run_view import cluster_label, cluster_wait, curves, place_label

COMPARE_WIDTH = 960
RULE_MEASURES = tuple(m.name for m in (*RBM_METRICS, *CARDS["som"].metrics, CARDS["perceptron"].metrics[0]))
METRICS = {
    "val_loss": "validation loss",
    "train_loss": "training loss (epoch)",
    "val_accuracy": "validation accuracy",
    "step_loss": "training loss (steps)",
}


def _number(value, percent: bool = False) -> str:
    if not isinstance(value, int | float):
        return ""
    return f"{100 * value:.1f}%" if percent else f"{value:.4g}"


def _row(r: RunRecord, places: dict) -> dict:
    """`places`: the queue's {run_id: Place}; a waiting run's status says where it stands (its place in the
    queue, or what it waits for on the cluster)."""
    final, config, progress = r.final or {}, r.config, r.progress
    place = places.get(r.id) if r.waiting else None
    status = place_label(place) if place is not None else r.shown_status
    return {
        "run": r.id,
        "started": datetime.datetime.fromtimestamp(r.created).strftime("%H:%M:%S"),
        "status": cluster_label(cluster_wait(r)) if cluster_wait(r) else status,
        "network": r.spec.get("name", ""),
        "dataset": dataset_label(str(config.get("dataset", ""))),
        "rule": _rule(config, final),
        "optimizer": config.get("optimizer", ""),  # a rule without one records none (engine.train.rule_card)
        "lr": config.get("lr"),
        "batch": config.get("batch_size"),
        # the one counter (engine.train.counters): whole epochs over the whole run, by phase for a DBN or DSN
        "epochs": epochs_text({"epochs": config.get("epochs"), **progress}).removesuffix(" epochs"),
        "loss": _number(final.get("loss")),
        "val_loss": _number(final.get("val_loss")),
        "val_accuracy": _number(final.get("val_accuracy"), percent=True),
        "result": _result(final),
    }


def _rule(config: dict, final: dict) -> str:
    """The learning rule: "som", or "auto → dbn" once the run has said which rule auto picked."""
    chosen, trained = str(config.get("trainer", "auto")), final.get("trainer")
    return f"auto → {trained}" if chosen == "auto" and trained else chosen


def _result(final: dict) -> str:
    """The rule's own measures at the end (a SOM's quantization error, a perceptron's mistakes...)."""
    shown = [(name, final[name]) for name in RULE_MEASURES if isinstance(final.get(name), int | float)]
    return ", ".join(f"{name.replace('_', ' ')} {value:.4g}" for name, value in shown)


def label(r: RunRecord) -> str:
    return f"{r.id} · {r.spec.get('name', '')} · {dataset_label(str(r.config.get('dataset', '')))} · {r.shown_status}"


def draw_runs(current: str | None) -> None:
    records = manager().list_runs(owner())
    st.subheader("Your runs", divider="gray")
    if not records:
        st.caption("Runs you train in this browser session are listed here, with their settings and results.")
        return
    places = manager().places() if any(r.waiting for r in records) else {}
    st.dataframe([_row(r, places) for r in records], hide_index=True, width="stretch")
    by_id = {r.id: r for r in records}
    ids = list(by_id)
    chosen = st.selectbox(
        "Show run",
        ids,
        index=ids.index(current) if current in by_id else 0,
        format_func=lambda i: label(by_id[i]),
        key=f"train_show_{current}_{hash(tuple((r.id, r.status) for r in records))}",  # new labels, new widget
    )
    if chosen != current:
        show_run(chosen)
        st.rerun()
    _compare(records, current)


def _compare(records: list[RunRecord], current: str | None) -> None:
    by_id = {r.id: r for r in records}
    picked = st.multiselect("Compare runs", list(by_id), format_func=lambda i: label(by_id[i]), key="train_compare")
    metric = st.segmented_control(
        "Curve", list(METRICS), format_func=METRICS.get, default="val_loss", key="train_compare_metric"
    )
    if not picked:
        return
    mgr = manager()
    runs = {}
    for run_id in picked:
        view = run_view(run_id)
        view.refresh(mgr)
        runs[f"{run_id} ({by_id[run_id].config.get('optimizer')}, lr {by_id[run_id].config.get('lr')})"] = curves(
            view.metrics
        )
    # a fixed width: a stretching chart outside the live fragment is laid out again and again by the browser
    # while the fragment polls (measured: a core of Chromium's time), this one is not
    fig = figures.compare_figure(runs, metric or "val_loss")
    st.plotly_chart(fig, key="train_compare_chart", width=COMPARE_WIDTH, config={"displaylogo": False})
