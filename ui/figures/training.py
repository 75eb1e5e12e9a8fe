"""The Train page's figures: curves, the network coloured by gradient norm, probe panels, the decision surface
and the confusion matrix, from plain numbers (ui.train.run_view shapes them); no streamlit here."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.style import COLOURS, EDIT_MARK, HEIGHT, MID_GREY, layout, log_axis, log_scale
from ui.train.run_view import Curves, Distribution

# --- curves ------------------------------------------------------------------------------------------


def _mark_edits(fig: go.Figure, edits: list[tuple[int, str]]) -> None:
    for step, label in edits:  # a line across every subplot, at the step where the run was edited
        line = {"color": EDIT_MARK, "dash": "dash", "width": 1.5}
        fig.add_shape(type="line", xref="x", yref="paper", x0=step, x1=step, y0=0, y1=1, line=line)
        fig.add_annotation(
            x=step, y=1, yref="paper", text=label, showarrow=False, font={"color": EDIT_MARK}, xanchor="left"
        )


def curves_figure(c: Curves, edits: list[tuple[int, str]]) -> go.Figure:
    """Loss (train per step and per epoch, validation) and, for classification, accuracy below it, sharing the
    step axis: one chart, so one redraw per poll."""
    rows = 2 if c.has_accuracy else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4][:rows])
    thin_line, thick = {"color": COLOURS[0], "width": 1}, {"color": COLOURS[0], "width": 2.5}
    fig.add_scatter(x=c.step, y=c.step_loss, mode="lines", name="train loss (steps)", line=thin_line, row=1, col=1)
    fig.add_scatter(
        x=c.epoch_step, y=c.train_loss, mode="lines+markers", name="train loss (epoch)", line=thick, row=1, col=1
    )
    val = {"color": COLOURS[1], "width": 2.5}
    fig.add_scatter(x=c.epoch_step, y=c.val_loss, mode="lines+markers", name="validation loss", line=val, row=1, col=1)
    losses = c.step_loss + c.train_loss + c.val_loss
    scale = log_axis(losses) if log_scale(c.step_loss + c.val_loss) else {"type": "linear"}
    fig.update_yaxes(title_text="loss", **scale, row=1, col=1)
    if rows == 2:
        percent = [None if v is None else 100 * v for v in c.val_accuracy]
        acc = {"color": COLOURS[2], "width": 2.5}
        fig.add_scatter(
            x=c.epoch_step, y=percent, mode="lines+markers", name="validation accuracy", line=acc, row=2, col=1
        )
        fig.update_yaxes(title_text="accuracy (%)", range=[0, 101], row=2, col=1)
    fig.update_xaxes(title_text="step", row=rows, col=1)
    _mark_edits(fig, edits)
    return layout(fig, "Loss and accuracy" if rows == 2 else "Loss", height=460 if rows == 2 else HEIGHT)


def compare_figure(runs: dict[str, Curves], metric: str) -> go.Figure:
    """One line per run: `metric` is "val_loss", "train_loss" or "val_accuracy" (per epoch) or "step_loss"."""
    fig = go.Figure()
    for k, (label, c) in enumerate(runs.items()):
        x = c.step if metric == "step_loss" else c.epoch_step
        y = getattr(c, metric)
        if metric == "val_accuracy":
            y = [None if v is None else 100 * v for v in y]
        fig.add_scatter(
            x=x,
            y=y,
            mode="lines" if metric == "step_loss" else "lines+markers",
            name=label,
            line={"color": COLOURS[k % len(COLOURS)]},
        )
    return layout(fig, f"{metric.replace('_', ' ')} by run", height=380, xaxis_title="step", yaxis_title=metric)


def gradient_history_figure(series: dict[str, tuple[list[int], list[float]]], what: str) -> go.Figure:
    fig = go.Figure()
    for k, (node, (xs, ys)) in enumerate(series.items()):
        fig.add_scatter(x=xs, y=ys, mode="lines", name=node, line={"color": COLOURS[k % len(COLOURS)]})
    values = [y for _, ys in series.values() for y in ys]
    fig.update_yaxes(**log_axis(values))
    return layout(fig, f"{what.capitalize()} per node", xaxis_title="step", yaxis_title=what)


# --- activations -------------------------------------------------------------------------------------


def activation_figure(d: Distribution, node: str) -> go.Figure:
    centres = [(a + b) / 2 for a, b in zip(d.edges, d.edges[1:])]
    fig = go.Figure()
    fig.add_heatmap(
        x=d.steps,
        y=centres,
        z=d.density,
        colorscale="Blues",
        colorbar={"title": "share", "thickness": 14},
        hovertemplate="step %{x}<br>value %{y:.3g}<br>share %{z:.2f}<extra></extra>",
    )
    fig.add_scatter(x=d.steps, y=d.mean, mode="lines", name="mean", line={"color": COLOURS[1], "width": 2})
    return layout(fig, f"Activations of {node} over time", xaxis_title="step", yaxis_title="value")


def dead_units_figure(series: dict[str, tuple[list[int], list[float]]]) -> go.Figure:
    fig = go.Figure()
    for k, (node, (xs, ys)) in enumerate(series.items()):
        fig.add_scatter(
            x=xs, y=[100 * v for v in ys], mode="lines", name=node, line={"color": COLOURS[k % len(COLOURS)]}
        )
    return layout(
        fig,
        "Dead units (never positive in the sampled batch)",
        xaxis_title="step",
        yaxis_title="dead (%)",
        yaxis_range=[0, 101],
    )


# --- weights, surface, confusion ---------------------------------------------------------------------


def weights_figure(weights: list[dict]) -> go.Figure:
    cols = min(2, len(weights))
    rows = math.ceil(len(weights) / cols)
    titles = [f"{w['name']} {w['shape']}" for w in weights]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.12, vertical_spacing=0.12)
    for k, w in enumerate(weights):
        _add_signed_heatmap(
            fig,
            w["image"],
            _largest_magnitude([w["image"]]),
            k // cols + 1,
            k % cols + 1,
            hovertemplate="row %{y}, column %{x}: %{z:.3g}<extra></extra>",
        )
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "Weight matrices (rows: outputs, columns: inputs; blue < 0 < red)", height=260 * rows + 40)


def _largest_magnitude(images: list) -> float:
    """The largest |value| over images (lists of rows; None for a missing value), 1.0 when there is none."""
    return max((abs(v) for img in images for row in img for v in row if v is not None), default=1.0) or 1.0


def _add_signed_heatmap(fig: go.Figure, image: list, limit: float, row: int, col: int, **extra) -> None:
    """A heatmap of signed values in a subplot: blue below 0, red above, white at 0, symmetric in ±limit."""
    fig.add_heatmap(
        z=image, colorscale="RdBu", zmid=0, zmin=-limit, zmax=limit, showscale=False, row=row, col=col, **extra
    )


def filters_figure(filters: dict) -> go.Figure:
    images = filters["images"]
    cols = min(8, len(images))
    rows = math.ceil(len(images) / cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.02, vertical_spacing=0.04)
    limit = _largest_magnitude(images)  # one scale for all filters, so they compare
    for k, image in enumerate(images):
        _add_signed_heatmap(fig, image, limit, k // cols + 1, k % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    return layout(
        fig,
        f"First-layer filters of {filters['name']} {filters['shape']} (mean over input channels)",
        height=110 * rows + 70,
    )


def _discrete_scale(n: int) -> list:
    """A colourscale that gives class k (of n, as z = k) the colour COLOURS[k]."""
    scale = []
    for k in range(n):
        colour = COLOURS[k % len(COLOURS)]
        scale += [[k / n, colour], [(k + 1) / n, colour]]
    return scale


def surface_figure(surface: dict, class_names: list[str]) -> go.Figure:
    """The network's answer over the plane, with validation points coloured by their true class."""
    n, ((x0, x1), (y0, y1)) = surface["n"], surface["extent"]
    xs = [x0 + (x1 - x0) * i / (n - 1) for i in range(n)]
    ys = [y0 + (y1 - y0) * i / (n - 1) for i in range(n)]
    fig = go.Figure()
    if "p" in surface:  # two classes: the probability of the second, from the first's colour to the second's
        scale = [[0, COLOURS[0]], [0.5, "#ffffff"], [1, COLOURS[1]]]
        title = f"P({class_names[1] if len(class_names) > 1 else 'class 1'})"
        fig.add_heatmap(
            x=xs,
            y=ys,
            z=_grid(surface["p"], n),
            colorscale=scale,
            zmin=0,
            zmax=1,
            opacity=0.6,
            colorbar={"title": title, "thickness": 14},
        )
    elif "class" in surface:
        c = max(len(class_names), int(max(surface["class"])) + 1)
        fig.add_heatmap(
            x=xs,
            y=ys,
            z=_grid(surface["class"], n),
            colorscale=_discrete_scale(c),
            zmin=-0.5,
            zmax=c - 0.5,
            opacity=0.45,
            showscale=False,
            hovertemplate="predicted class %{z}<extra></extra>",
        )
    else:
        fig.add_heatmap(
            x=xs,
            y=ys,
            z=_grid(surface["value"], n),
            colorscale="Viridis",
            opacity=0.75,
            colorbar={"title": "output", "thickness": 14},
        )
    _surface_points(fig, surface.get("points") or {}, class_names, "value" not in surface)
    return layout(fig, "Decision surface with validation points", height=440, xaxis_title="x0", yaxis_title="x1")


def _surface_points(fig: go.Figure, points: dict, class_names: list[str], by_class: bool) -> None:
    if not points:
        return
    outline = {"color": MID_GREY, "width": 1}
    if not by_class:
        marker = {"color": points["label"], "colorscale": "Viridis", "size": 7, "line": outline}
        fig.add_scatter(x=points["x"], y=points["y"], mode="markers", marker=marker, name="validation")
        return
    for k in sorted({int(v) for v in points["label"] if v is not None}):
        chosen = [i for i, v in enumerate(points["label"]) if v is not None and int(v) == k]
        name = class_names[k] if k < len(class_names) else str(k)
        marker = {"color": COLOURS[k % len(COLOURS)], "size": 7, "line": outline}
        fig.add_scatter(
            x=[points["x"][i] for i in chosen],
            y=[points["y"][i] for i in chosen],
            mode="markers",
            marker=marker,
            name=f"class {name}",
        )


def _grid(values: list, n: int) -> list[list]:
    return [values[r * n : (r + 1) * n] for r in range(n)]


def confusion_figure(matrix: list[list[int]], class_names: list[str], epoch: int) -> go.Figure:
    names = class_names or [str(i) for i in range(len(matrix))]
    fig = go.Figure()
    fig.add_heatmap(
        x=names,
        y=names,
        z=matrix,
        colorscale="Blues",
        text=matrix,
        texttemplate="%{text}",
        showscale=False,
        hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return layout(
        fig,
        f"Confusion matrix, epoch {epoch} (validation)",
        height=max(320, 28 * len(names) + 120),
        xaxis_title="predicted",
        yaxis_title="true",
    )
