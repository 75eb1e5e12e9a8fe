"""Figures of the learning rules' runs beside ui.figures.rules: the curves of a rule's own metrics with its phase
boundaries marked, and the perceptron's decision line over the points; no streamlit here."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.rules import class_colour
from ui.figures.style import COLOURS, EDIT_MARK, HEIGHT, MID_GREY, layout, log_axis, log_scale

PHASE_MARK = "#546e7a"
Series = tuple[list[int], list[float | None]]  # (steps, values)


def mark_phases(fig: go.Figure, phases: list[tuple[int, str]]) -> None:
    """A dotted line across every subplot at the step where each phase starts, labelled."""
    for step, label in phases:
        line = {"color": PHASE_MARK, "dash": "dot", "width": 1.5}
        fig.add_shape(type="line", xref="x", yref="paper", x0=step, x1=step, y0=0, y1=1, line=line)
        fig.add_annotation(
            x=step, y=1.02, yref="paper", text=label, showarrow=False, font={"color": PHASE_MARK}, xanchor="left"
        )


def rule_curves_figure(
    epochs: dict[str, Series], steps: dict[str, Series], phases: list[tuple[int, str]], edits: list[tuple[int, str]]
) -> go.Figure:
    """One subplot per metric (its epoch values, and its step values where the rule reports them), sharing the
    step axis; the phases (pretraining each RBM, fine-tuning; DSN modules) marked where they start."""
    names = list(epochs)
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06)
    for row, name in enumerate(names, start=1):
        colour = COLOURS[(row - 1) % len(COLOURS)]
        if name in steps:
            x, y = steps[name]
            thin = {"color": colour, "width": 1}
            fig.add_scatter(x=x, y=y, mode="lines", name=f"{name} (steps)", line=thin, opacity=0.5, row=row, col=1)
        x, y = epochs[name]
        fig.add_scatter(x=x, y=y, mode="lines+markers", name=name, line={"color": colour, "width": 2.5}, row=row, col=1)
        values = [v for v in y + (steps[name][1] if name in steps else []) if v is not None]
        positive = name.endswith("error") or name == "loss"
        fig.update_yaxes(title_text=name.replace("_", " "), row=row, col=1)
        if positive and log_scale(values):
            fig.update_yaxes(**log_axis(values), row=row, col=1)
    fig.update_xaxes(title_text="step", row=len(names), col=1)
    mark_phases(fig, phases)
    for step, label in edits:
        fig.add_shape(type="line", xref="x", yref="paper", x0=step, x1=step, y0=0, y1=1, line={"color": EDIT_MARK})
        fig.add_annotation(x=step, y=1, yref="paper", text=label, showarrow=False, font={"color": EDIT_MARK})
    return layout(fig, "The rule's measures", height=max(HEIGHT, 170 * len(names) + 80))


def decision_line_figure(points: dict, line: dict | None, class_names: list[str]) -> go.Figure:
    """2-D points coloured by class and the perceptron's line w0 x + w1 y + b = 0, the side where the unit fires
    (score >= 0) labelled; the view widens to hold the line where it passes beside the points. With zero
    weights there is no line (every point scores b): the figure says so, and where the unit fires."""
    xs, ys, labels = points["x"], points["y"], points["label"]
    fig = go.Figure()
    for k, name in enumerate(class_names or ["0", "1"]):
        mine = [i for i, label in enumerate(labels) if int(label) == k]
        marker = {"color": class_colour(k), "size": 11, "line": {"color": MID_GREY, "width": 1}}
        fig.add_scatter(x=[xs[i] for i in mine], y=[ys[i] for i in mine], mode="markers", name=name, marker=marker)
    x_range, y_range = _view(xs, ys, line)
    if line is not None and (line["weight_0"] != 0 or line["weight_1"] != 0):
        _line(fig, line, x_range, y_range)
    elif line is not None:
        fires = "everywhere" if line["bias"] >= 0 else "nowhere"
        text = f"w = (0, 0): no line yet; every point scores b = {line['bias']:g}, so the unit fires {fires}"
        fig.add_annotation(x=0.5, y=1.0, xref="paper", yref="paper", yanchor="bottom", text=text, showarrow=False)
    fig.update_xaxes(range=list(x_range))
    fig.update_yaxes(range=list(y_range), scaleanchor="x")
    return layout(fig, "Decision line", height=400, xaxis_title="x₁", yaxis_title="x₂")


def _view(xs: list[float], ys: list[float], line: dict | None) -> tuple[tuple[float, float], tuple[float, float]]:
    """The points' box with a margin, widened to hold the line's point nearest the box's centre."""
    x0, x1, y0, y1 = min(xs) - 0.5, max(xs) + 0.5, min(ys) - 0.5, max(ys) + 0.5
    if line is None or (line["weight_0"] == 0 and line["weight_1"] == 0):
        return (x0, x1), (y0, y1)
    w0, w1, b = line["weight_0"], line["weight_1"], line["bias"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = (w0 * cx + w1 * cy + b) / (w0**2 + w1**2)  # the centre's score over |w|²
    near_x, near_y = cx - side * w0, cy - side * w1  # the foot of the perpendicular from the centre
    return (min(x0, near_x - 0.5), max(x1, near_x + 0.5)), (min(y0, near_y - 0.5), max(y1, near_y + 0.5))


def _line(fig: go.Figure, line: dict, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
    w0, w1, b = line["weight_0"], line["weight_1"], line["bias"]
    if w0 == 0 and w1 == 0:
        return  # no line yet (zero weights): every point scores b
    if abs(w1) >= abs(w0):  # y = -(w0 x + b) / w1
        xs = list(x_range)
        ys = [-(w0 * x + b) / w1 for x in xs]
    else:  # x = -(w1 y + b) / w0
        ys = list(y_range)
        xs = [-(w1 * y + b) / w0 for y in ys]
    fig.add_scatter(x=xs, y=ys, mode="lines", name="w·x + b = 0", line={"color": MID_GREY, "width": 3})
    mid_x, mid_y = sum(x_range) / 2, sum(y_range) / 2
    norm = (w0**2 + w1**2) ** 0.5
    side = (w0 * mid_x + w1 * mid_y + b) / norm  # signed distance of the centre from the line
    tip = (mid_x - side * w0 / norm + 0.4 * w0 / norm, mid_y - side * w1 / norm + 0.4 * w1 / norm)
    fig.add_annotation(x=tip[0], y=tip[1], text="fires (≥ 0)", showarrow=False)  # in the theme's text colour
