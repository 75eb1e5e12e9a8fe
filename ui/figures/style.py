"""What every figure of the app shares: sizes, colours and the layout of a figure."""

from __future__ import annotations

import plotly.graph_objects as go

HEIGHT = 320
# The app follows the browser's light or dark preference and st.plotly_chart's "streamlit" theme colours the
# axes, texts and backgrounds; the colours set here are middle tones with a contrast of 3:1 or more on the light
# (#ffffff) and the dark (#0e1117) background alike (tests/test_figure_colours.py). No text is given a dark or
# light colour of its own and nothing a white background.
COLOURS = ("#2f7ed8", "#e8710a", "#3a9a45", "#d0397a", "#8e5cc9", "#00a3b4", "#8d6e63", "#e53935")
GRADIENT_SCALE = "Turbo"  # dark blue: vanishing ... dark red: exploding
NO_VALUE_GREY = "#9e9e9e"
EDIT_MARK = "#ab47bc"
MID_GREY = "#808080"  # outlines, lattices, marks: 3.9:1 on white, 4.8:1 on the dark background


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
