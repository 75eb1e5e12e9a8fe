"""The live views of the classic learning rules, from numpy arrays (engine.train.rules.rbm and .som make them):
an RBM's hidden units as images, inputs beside their reconstructions, Gibbs samples; a SOM's U-matrix, hit map,
component planes and lattice over 2-D data; an autoencoder's 2-D codes.

Images are drawn as one mosaic heatmap (tiles separated by empty cells) rather than one subplot per image:
one trace redraws fast, 100 subplots do not. Grid maps put row 0 at the top, as the map's units are numbered.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.style import COLOURS, MID_GREY, NO_VALUE_GREY, layout

CLASS_COLOURS = (*COLOURS, "#b8860b", "#78909c")  # ten classes (digits) before a colour repeats
GREYS = [[0.0, "#000000"], [1.0, "#ffffff"]]
DISTANCE_GREYS = [[0.0, "#f2f2f2"], [1.0, "#000000"]]  # near units light (never the page's white), far dark
DIVERGING = "RdBu"  # weights: red negative, blue positive, white 0
TILE_GAP = 1  # empty cells between tiles
PAIR_GAP = 3  # empty cells between (input, reconstruction) pairs, so a pair reads as one
IMAGE_COLUMNS = 8  # tiles per row of a mosaic
PAIR_COLUMNS = 4
MAX_IMAGES = 64


def class_colour(k: int) -> str:
    return CLASS_COLOURS[k % len(CLASS_COLOURS)]


def _mosaic(tiles: np.ndarray, columns: int, gap: int = TILE_GAP) -> np.ndarray:
    """(n, h, w) tiles -> one 2-D array, `columns` tiles a row, `gap` NaN cells (drawn empty) between them."""
    n, h, w = tiles.shape
    rows, columns = math.ceil(n / columns), min(columns, n)
    canvas = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for k in range(n):
        top, left = (k // columns) * (h + gap), (k % columns) * (w + gap)
        canvas[top : top + h, left : left + w] = tiles[k]
    return canvas


def _image_layout(fig: go.Figure, title: str, canvas_shape: tuple[int, int], width_px: int = 560) -> go.Figure:
    """Square pixels, no axes, row 0 at the top; the height follows the mosaic's aspect."""
    height = 60 + int(width_px * canvas_shape[0] / max(canvas_shape[1], 1))
    layout(fig, title, height=max(height, 160))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 45, "b": 10}, plot_bgcolor="rgba(0,0,0,0)")
    return fig


def _as_images(flat: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(flat, dtype=float).reshape(-1, *image_shape)  # (n, h, w)


def weight_images_figure(images: np.ndarray, max_units: int = MAX_IMAGES) -> go.Figure:
    """(H, h, w) each hidden unit's incoming weights as a small image, each scaled to its own largest |weight|
    (red negative, blue positive): the shape of a unit's receptive field, not its strength."""
    shown = np.asarray(images, dtype=float)[:max_units]  # (n, h, w)
    scale = np.abs(shown).reshape(len(shown), -1).max(axis=1).clip(min=1e-12)  # (n,)
    canvas = _mosaic(shown / scale[:, None, None], IMAGE_COLUMNS)
    heatmap = go.Heatmap(z=canvas, colorscale=DIVERGING, zmin=-1, zmax=1, showscale=False, hoverinfo="skip")
    title = (
        f"Hidden units' weights ({len(shown)} of {len(images)})"
        if len(images) > len(shown)
        else "Hidden units' weights"
    )
    return _image_layout(go.Figure(heatmap), title, canvas.shape)


def reconstruction_grid_figure(
    inputs: np.ndarray, reconstructions: np.ndarray, image_shape: tuple[int, int]
) -> go.Figure:
    """Each input (B, V) with its reconstruction to its right, four pairs a row, one grey scale for all."""
    inputs, recons = _as_images(inputs, image_shape), _as_images(reconstructions, image_shape)  # (B, h, w) each
    between = np.full((len(inputs), image_shape[0], TILE_GAP), np.nan)
    pairs = np.concatenate([inputs, between, recons], axis=2)  # (B, h, 2w + gap): one tile per pair
    canvas = _mosaic(pairs, PAIR_COLUMNS, gap=PAIR_GAP)
    low, high = float(np.nanmin(pairs)), float(np.nanmax(pairs))
    fig = go.Figure(go.Heatmap(z=canvas, colorscale=GREYS, zmin=low, zmax=max(high, low + 1e-9), showscale=False))
    fig.update_traces(hoverinfo="skip")
    width = image_shape[1]
    for column in range(min(PAIR_COLUMNS, len(pairs))):  # labels over the first row of pairs
        left = column * (pairs.shape[2] + PAIR_GAP)
        for offset, label in ((0, "input"), (width + TILE_GAP, "reconstruction")):
            x = left + offset + (width - 1) / 2
            fig.add_annotation(x=x, y=-0.6, text=label, showarrow=False, yanchor="bottom", font={"size": 10})
    return _image_layout(fig, "Inputs and their reconstructions", canvas.shape)


def samples_figure(samples: np.ndarray, image_shape: tuple[int, int]) -> go.Figure:
    """(B, V) samples of the model (a Gibbs chain's visible probabilities) as images."""
    tiles = _as_images(samples, image_shape)[:MAX_IMAGES]
    canvas = _mosaic(tiles, IMAGE_COLUMNS)
    low, high = float(np.nanmin(tiles)), float(np.nanmax(tiles))
    heatmap = go.Heatmap(z=canvas, colorscale=GREYS, zmin=low, zmax=max(high, low + 1e-9), showscale=False)
    fig = go.Figure(heatmap)
    fig.update_traces(hoverinfo="skip")
    return _image_layout(fig, "Samples from a Gibbs chain", canvas.shape)


def _grid_axes(fig: go.Figure, rows: int, cols: int) -> None:
    plain = {"constrain": "domain", "showgrid": False, "zeroline": False}
    fig.update_xaxes(title_text="column", range=[-0.5, cols - 0.5], **plain)
    fig.update_yaxes(title_text="row", range=[rows - 0.5, -0.5], scaleanchor="x", **plain)


def u_matrix_figure(u: np.ndarray) -> go.Figure:
    """(rows, cols) mean weight distance of each unit to its neighbours: dark ridges part the clusters."""
    u = np.asarray(u, dtype=float)
    hover = "row %{y}, column %{x}<br>mean distance %{z:.3g}<extra></extra>"
    heatmap = go.Heatmap(z=u, colorscale=DISTANCE_GREYS, colorbar={"title": {"text": "distance"}}, hovertemplate=hover)
    fig = go.Figure(heatmap)
    _grid_axes(fig, *u.shape)
    return layout(fig, "U-matrix (mean distance to neighbouring units)", height=380)


def hit_map_figure(hits: np.ndarray, class_names: list[str]) -> go.Figure:
    """(rows, cols, classes) counts: each cell a dot in the colour of its most frequent class, its area
    proportional to the cell's count and its opacity to that class's share; empty cells a small grey cross."""
    hits = np.asarray(hits)
    rows, cols, _ = hits.shape
    total = hits.sum(axis=2)  # (R, C)
    majority = hits.argmax(axis=2)  # (R, C)
    r, c = np.indices((rows, cols))
    biggest = max(int(total.max()), 1)
    fig = go.Figure()
    for k, name in enumerate(class_names):
        cells = (majority == k) & (total > 0)
        size = 8 + 30 * np.sqrt(total[cells] / biggest)
        share = hits[cells, k] / total[cells]
        marker = {"color": class_colour(k), "size": size, "opacity": 0.35 + 0.65 * share, "line": {"width": 0}}
        custom = np.stack([total[cells], hits[cells, k]], axis=1) if cells.any() else None
        hover = f"row %{{y}}, column %{{x}}<br>{name}: %{{customdata[1]}} of %{{customdata[0]}}<extra></extra>"
        fig.add_scatter(
            x=c[cells], y=r[cells], mode="markers", name=name, marker=marker, customdata=custom, hovertemplate=hover
        )
    empty = total == 0
    fig.add_scatter(
        x=c[empty],
        y=r[empty],
        mode="markers",
        name="no hits",
        hoverinfo="skip",
        marker={"symbol": "x-thin", "size": 6, "line": {"width": 1, "color": NO_VALUE_GREY}},
    )
    _grid_axes(fig, rows, cols)
    return layout(fig, "Hit map by class", height=420)


def component_planes_figure(planes: np.ndarray, feature_names: list[str], max_planes: int = 16) -> go.Figure:
    """(F, rows, cols) one small heatmap per input feature: where on the map that feature's weight is high."""
    planes = np.asarray(planes, dtype=float)[:max_planes]
    columns = min(4, len(planes))
    grid_rows = math.ceil(len(planes) / columns)
    names = [str(n) for n in feature_names[: len(planes)]]
    fig = make_subplots(
        rows=grid_rows, cols=columns, subplot_titles=names, horizontal_spacing=0.04, vertical_spacing=0.12 / grid_rows
    )
    for k, plane in enumerate(planes):
        hover = f"{names[k]}<br>row %{{y}}, column %{{x}}: %{{z:.3g}}<extra></extra>"
        heatmap = go.Heatmap(z=plane, colorscale="Viridis", showscale=False, hovertemplate=hover)
        fig.add_trace(heatmap, row=k // columns + 1, col=k % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_annotations(font={"size": 11})
    total = len(feature_names)
    title = "Component planes" + (f" (first {len(planes)} of {total} features)" if total > len(planes) else "")
    return layout(fig, title, height=90 + 170 * grid_rows)


def _lattice_lines(weights: np.ndarray, rows: int, cols: int) -> tuple[list, list]:
    """x and y of every line between grid neighbours (along rows and along columns), None-separated."""
    grid = weights.reshape(rows, cols, 2)
    xs, ys = [], []
    for line in [grid[r] for r in range(rows)] + [grid[:, c] for c in range(cols)]:
        xs += [*line[:, 0], None]
        ys += [*line[:, 1], None]
    return xs, ys


def som_grid_over_points_figure(
    weights_2d: np.ndarray,
    rows: int,
    cols: int,
    points: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None = None,
) -> go.Figure:
    """2-D data (N, 2) coloured by class, with the map's units (U, 2) and the lattice joining grid neighbours."""
    points, weights = np.asarray(points, dtype=float), np.asarray(weights_2d, dtype=float)
    labels = np.zeros(len(points), dtype=int) if labels is None else np.asarray(labels, dtype=int)
    names = class_names or [f"class {k}" for k in range(int(labels.max()) + 1 if len(labels) else 1)]
    fig = go.Figure()
    for k, name in enumerate(names):
        mine = labels == k
        marker = {"color": class_colour(k), "size": 6, "opacity": 0.6}
        fig.add_scatter(x=points[mine, 0], y=points[mine, 1], mode="markers", name=name, marker=marker)
    xs, ys = _lattice_lines(weights, rows, cols)
    fig.add_scatter(
        x=xs, y=ys, mode="lines", name="map lattice", line={"color": MID_GREY, "width": 1}, hoverinfo="skip"
    )
    fig.add_scatter(
        x=weights[:, 0],
        y=weights[:, 1],
        mode="markers",
        name="units",
        marker={"color": MID_GREY, "size": 7, "symbol": "diamond", "line": {"color": MID_GREY, "width": 1}},
        text=[f"unit ({u // cols}, {u % cols})" for u in range(len(weights))],
        hovertemplate="%{text}<extra></extra>",
    )
    fig.update_yaxes(scaleanchor="x")
    return layout(fig, "The map over the data", height=420, xaxis_title="x₁", yaxis_title="x₂")


def code_scatter_figure(codes_2d: np.ndarray, labels: np.ndarray | None, class_names: list[str]) -> go.Figure:
    """An autoencoder's 2-D codes (N, 2), one colour per class (labels None: one colour)."""
    codes = np.asarray(codes_2d, dtype=float)
    labels = np.zeros(len(codes), dtype=int) if labels is None else np.asarray(labels, dtype=int)
    names = class_names if len(class_names) else ["codes"]
    fig = go.Figure()
    for k, name in enumerate(names):
        mine = labels == k
        marker = {"color": class_colour(k), "size": 6, "opacity": 0.7}
        fig.add_scatter(x=codes[mine, 0], y=codes[mine, 1], mode="markers", name=name, marker=marker)
    return layout(fig, "Codes (the 2-D bottleneck)", height=420, xaxis_title="code 1", yaxis_title="code 2")
