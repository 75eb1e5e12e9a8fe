"""The Train page's "Through time" panel for a network with recurrent nodes: the gates and the cell state of a
gate-level cell over the time steps of a sample sequence, and every recurrent node unfolded in time with the
gradient reaching each step, from the step snapshots' "recurrent" numbers (engine.probes.recurrent_probes)."""

from __future__ import annotations

import streamlit as st

from ui.figures import recurrent as figures
from ui.train.run_view import RunView, recurrent_snapshots

RECURRENT_PANEL = "Through time"


def has_recurrent(view: RunView) -> bool:
    """Whether the run's step snapshots carry recurrent numbers (the network has a recurrent node)."""
    return bool(recurrent_snapshots(view.steps))


def _chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False}, width="stretch")


def draw_recurrent(view: RunView) -> None:
    """The panel: a snapshot to look at (the newest by default), a node, its gates and state, its unfolding."""
    snapshots = recurrent_snapshots(view.steps)
    if not snapshots:
        st.caption("The inside of the recurrent nodes appears with the first probe snapshot.")
        return
    row = _chosen_snapshot(snapshots)
    nodes = row.data["recurrent"]
    node = st.selectbox("Recurrent node", list(nodes), key="train_recurrent_node") if len(nodes) > 1 else None
    node = node if node in nodes else next(iter(nodes))
    entry = nodes[node]
    st.caption(_sample_line(entry))
    if entry.get("gates") or entry.get("state"):
        _chart(figures.gates_figure(entry, node), "train_recurrent_gates")
    else:
        st.caption(
            f"{node} is a fused {entry['op']}: its gates stay inside torch's kernel. Build it from the lstm_cell or "
            "gru_cell block (a Recurrent node) to see them."
        )
    if entry.get("trained_by"):
        st.caption(f"{node}: {entry['trained_by']}, with the cell's weights; these probe steps run it gate by gate.")
    _chart(figures.unfolded_figure(entry, node), "train_recurrent_unfolded")
    st.caption(_vanishing_line(entry))


def _chosen_snapshot(snapshots: list):
    if len(snapshots) == 1:
        return snapshots[0]
    steps = [row.step for row in snapshots]
    key = f"train_recurrent_step_{len(steps)}"  # a new snapshot: a new slider, at the newest
    chosen = st.select_slider("Snapshot at step", options=steps, value=steps[-1], key=key)
    return snapshots[steps.index(chosen)]


def _sample_line(entry: dict) -> str:
    total, shown = entry["total_steps"], len(entry["steps"])
    steps = f"all {total} time steps" if shown == total else f"{shown} of its {total} time steps, evenly spread"
    units = "" if entry["units"] == entry["hidden"] else f", the first {entry['units']} of {entry['hidden']} units"
    direction = " (the forward direction's gates and state)" if entry.get("bidirectional") else ""
    return (
        f"One sample sequence (the first validation row) with the weights of step {entry['step']:,}: "
        f"{steps}{units}{direction}."
    )


def _vanishing_line(entry: dict) -> str:
    steps = entry["steps"]
    ratio = figures.vanishing_ratio(entry)
    if ratio is None:
        return f"No gradient reaches step {steps[0]} or step {steps[-1]} of this sample."
    return f"The gradient reaching step {steps[0]} is {ratio:.3g} times the one reaching step {steps[-1]}" + (
        ": it vanishes on its way back through time." if ratio < 1e-2 else "."
    )
