"""The inspector's small figure of an activation op: its function and derivative on a grid of x.

The numbers come from engine.compile.activation_curves (the op's own torch module, autograd for the derivative);
this module only draws them. Kept small (HEIGHT px) for the inspector column."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ui.figures.style import COLOURS, layout

if TYPE_CHECKING:  # the figure needs only the numbers; importing the engine here would load torch
    from engine.compile.activation_curves import ActivationCurve

HEIGHT = 220
LEGEND_ROW = 24  # px added for each legend row past the first
Y_LIMIT = 4.5  # a steep slope (a narrow PiecewiseLinear) or a long Maxout piece is cut off, not squashing the rest
PIECE_GREY = "#9e9e9e"


def _y_range(values: list[float | None]) -> list[float]:
    shown = [v for v in values if v is not None]
    pad = 0.1 * max(1.0, max(shown) - min(shown))
    return [max(min(shown) - pad, -Y_LIMIT), min(max(shown) + pad, Y_LIMIT)]


def _add_pieces(fig: go.Figure, curve: ActivationCurve) -> None:
    style = {"mode": "lines", "name": "pieces", "legendgroup": "pieces", "line": {"color": PIECE_GREY, "dash": "dot"}}
    for k, piece in enumerate(curve.pieces):
        fig.add_scatter(x=curve.x, y=piece, showlegend=k == 0, **style)  # one legend entry for all pieces


def activation_figure(curve: ActivationCurve) -> go.Figure:
    """f(x) and the gradient training uses; for a straight-through op also its true derivative (dotted). No x-axis
    title: the caption under it says what x is."""
    fig = go.Figure()
    _add_pieces(fig, curve)
    fig.add_scatter(x=curve.x, y=curve.y, mode="lines", name="f(x)", line={"color": COLOURS[0], "width": 2.5})
    straight_through = curve.true_slope is not None
    slope_name = "f′ in training" if straight_through else "f′(x)"
    fig.add_scatter(x=curve.x, y=curve.slope, mode="lines", name=slope_name, line={"color": COLOURS[1], "width": 2})
    if straight_through:
        true_line = {"color": COLOURS[2], "width": 2, "dash": "dot"}
        fig.add_scatter(x=curve.x, y=curve.true_slope, mode="lines", name="true f′", line=true_line)
    legend_rows = 1 if len(fig.data) == 2 else 2  # a third entry wraps in the inspector's narrow column
    layout(fig, "", height=HEIGHT + LEGEND_ROW * (legend_rows - 1), xaxis={"zeroline": True})
    legend = {"font": {"size": 11}, "x": 0, "xanchor": "left", "itemwidth": 30}
    fig.update_layout(margin={"l": 35, "r": 10, "t": 10, "b": 25}, legend=legend)
    pieces = [v for piece in curve.pieces for v in piece]
    fig.update_yaxes(range=_y_range(curve.y + curve.slope + pieces), zeroline=True)
    return fig
