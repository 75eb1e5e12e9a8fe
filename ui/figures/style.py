"""What every figure of the app shares: sizes, colours and the layout of a figure."""

from __future__ import annotations

import plotly.graph_objects as go

HEIGHT = 320
COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#ad1457", "#6a1b9a", "#00838f", "#4e342e", "#c62828")
GRADIENT_SCALE = "Turbo"  # dark blue: vanishing ... dark red: exploding
NO_VALUE_GREY = "#bdbdbd"
EDIT_MARK = "#7b1fa2"


def layout(fig: go.Figure, title: str, height: int = HEIGHT, **axes) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 45},
        template="none",  # the app's theme styles the charts; a plotly template would travel with every redraw
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        **axes,
    )
    return fig


def log_scale(values: list) -> bool:
    positive = [v for v in values if v is not None and v > 0]
    return (
        len(positive) == len([v for v in values if v is not None])
        and bool(positive)
        and max(positive) / min(positive) > 50
    )
