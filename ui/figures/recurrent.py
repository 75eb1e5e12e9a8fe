"""The inside of a recurrent node over the time steps of one sample sequence: its gates and cell state as heatmaps,
and the node unfolded in time, each step's box coloured by the gradient reaching it. From the plain numbers of
engine.probes.recurrent_probes (one node's entry of a step snapshot's "recurrent"); no streamlit here."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.colors import sequential
from plotly.subplots import make_subplots

from ui.figures.style import MID_GREY, layout

GATE_SCALE = "Viridis"  # the sigmoid gates, one scale for all: 0 (shut) .. 1 (open)
STATE_SCALE = "RdBu"  # the cell state, around 0
# the network's gradient scale (style.GRADIENT_SCALE, Turbo) without its near-black ends: the box of a vanishing
# gradient, the one that matters most here, stays visible on the dark background
STEP_SCALE = sequential.Turbo[1:-1]
MOST_STEP_LABELS = 32  # x_t is written under each box up to this many boxes (the axis names the steps beyond)


def gates_figure(entry: dict, node_id: str) -> go.Figure:
    """One heatmap per gate (x: time step, y: unit; a shared 0..1 colour scale) and one of the state (its own scale,
    centred on 0), side by side with a shared unit axis."""
    gates, state = entry.get("gates", {}), entry.get("state")
    panels = [(f"{gate}", rows, "coloraxis") for gate, rows in gates.items()]
    if state is not None:
        panels.append((f"{state['name']} (state)", state["values"], "coloraxis2"))
    fig = make_subplots(
        rows=1,
        cols=max(1, len(panels)),
        shared_yaxes=True,
        horizontal_spacing=0.02,
        subplot_titles=[p[0] for p in panels],
    )
    steps, units = entry["steps"], list(range(entry["units"]))
    for col, (name, rows, axis) in enumerate(panels, start=1):
        fig.add_heatmap(
            x=steps,
            y=units,
            z=_transposed(rows),  # [units][steps]
            coloraxis=axis,
            name=name,
            hovertemplate=f"{name}<br>step %{{x}}, unit %{{y}}: %{{z:.3f}}<extra></extra>",
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="time step", row=1, col=col)
    reach = max((abs(v) for row in (state or {}).get("values", []) for v in row if v is not None), default=1.0)
    fig.update_layout(
        coloraxis={"colorscale": GATE_SCALE, "cmin": 0, "cmax": 1, "colorbar": _colorbar("gate", 0.78)},
        coloraxis2={
            "colorscale": STATE_SCALE,
            "cmin": -reach,
            "cmax": reach,
            "colorbar": _colorbar(state["name"] if state else "state", 0.22),
        },
    )
    fig.update_yaxes(title_text=_unit_title(entry), row=1, col=1)
    title = f"Gates and state of {node_id} over a sample sequence, after step {entry['step']:,}"
    return layout(fig, title, height=340)


def _colorbar(title: str, y: float) -> dict:
    return {"title": {"text": title}, "thickness": 12, "len": 0.45, "y": y, "yanchor": "middle"}


def _unit_title(entry: dict) -> str:
    shown, hidden = entry["units"], entry["hidden"]
    return "unit" if shown == hidden else f"unit (first {shown} of {hidden})"


def _transposed(rows: list[list]) -> list[list]:
    return [list(column) for column in zip(*rows)] if rows else []


def step_logs(norms: list[float | None]) -> list[float | None]:
    """log10 of each step's gradient norm; None where there is none (zero or not finite)."""
    return [math.log10(v) if v is not None and v > 0 else None for v in norms]


def log_bounds(logs: list[float | None]) -> tuple[float, float]:
    """The colour scale's ends: the lowest and highest log, at least one decade apart."""
    known = [v for v in logs if v is not None]
    low, high = (min(known), max(known)) if known else (-1.0, 0.0)
    if high - low < 1:
        middle = (low + high) / 2
        low, high = middle - 0.5, middle + 0.5
    return low, high


def unfolded_figure(entry: dict, node_id: str) -> go.Figure:
    """The node unfolded in time: one box per step in a row, h_{t-1} -> h_t arrows between them, x_t under each,
    each box coloured by log10 ‖∂L/∂x_t‖ on one scale (hover: the value)."""
    steps, labelled = entry["steps"], len(entry["steps"]) <= MOST_STEP_LABELS  # labelled: x_t under each box
    fig = go.Figure()
    _step_boxes(fig, steps, entry["grad_norm"], entry["op"], gap=6 if labelled else 2)
    _arrows_and_inputs(fig, steps, labelled)
    ticks = list(range(len(steps)))[:: math.ceil(len(steps) / 16)]
    fig.update_xaxes(
        tickvals=ticks,
        ticktext=[str(steps[k]) for k in ticks],
        showticklabels=not labelled,  # the x_t labels name the steps; without them the axis does
        title_text="time step t",
        showgrid=False,
    )
    fig.update_yaxes(visible=False, range=[-1.05, 0.6])
    title = f"{node_id} unfolded in time: the gradient reaching each step, after step {entry['step']:,}"
    return layout(fig, title, height=250)


def _step_boxes(fig: go.Figure, steps: list[int], norms: list[float | None], op: str, gap: int) -> None:
    """One box per shown step at x = 0, 1, ..., coloured by log10 of its gradient norm (none: left blank)."""
    logs = step_logs(norms)
    low, high = log_bounds(logs)
    fig.add_heatmap(
        x=list(range(len(steps))),
        y=[0],
        z=[logs],  # [1, steps]
        zmin=low,
        zmax=high,
        colorscale=STEP_SCALE,
        xgap=gap,
        customdata=[[[t, v if v is not None else 0.0] for t, v in zip(steps, norms)]],
        hovertemplate="step %{customdata[0]}: ‖∂L/∂x_t‖ = %{customdata[1]:.3g}<extra></extra>",
        colorbar={"title": {"text": "log10 ‖∂L/∂x_t‖"}, "thickness": 12},
        name=op,
    )


def _arrows_and_inputs(fig: go.Figure, steps: list[int], labelled: bool) -> None:
    """h_{t-1} -> h_t between the boxes, x_t going up into each (named under it when `labelled`)."""
    boxes = list(range(len(steps)))
    arrow = {"color": MID_GREY, "size": 9}
    fig.add_scatter(
        x=[k - 0.5 for k in boxes[1:]],
        y=[0.0] * (len(boxes) - 1),
        mode="markers",
        marker={**arrow, "symbol": "triangle-right"},
        name="h(t-1) → h(t)",
        hoverinfo="skip",
    )
    up = {**arrow, "symbol": "triangle-up"}
    fig.add_scatter(x=boxes, y=[-0.62] * len(boxes), mode="markers", marker=up, name="x(t) in", hoverinfo="skip")
    if labelled:
        names = [f"x{t}" for t in steps]
        fig.add_scatter(x=boxes, y=[-0.88] * len(boxes), mode="text", text=names, showlegend=False, hoverinfo="skip")


def vanishing_ratio(entry: dict) -> float | None:
    """‖∂L/∂x_first‖ / ‖∂L/∂x_last‖ of the sample: well below 1, the gradient vanishes on its way back in time."""
    norms = entry["grad_norm"]
    first, last = (norms[0], norms[-1]) if norms else (None, None)
    return first / last if first and last else None
