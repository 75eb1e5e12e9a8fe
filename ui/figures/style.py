"""What every figure of the app shares: sizes, colours, the layout of a figure (the title in its own band at the
top, the legend in a band below it, so that a legend never covers the title) and the ticks of a log axis."""

from __future__ import annotations

import math

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


TITLE_BAND = 34  # px at the top of a figure that holds its title
LEGEND_ROW = 22  # px per row of a horizontal legend
LEGEND_WIDTH = 520  # px a legend row is assumed to have: a chart narrower than this wraps its legend sooner
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def layout(fig: go.Figure, title: str, height: int = HEIGHT, **axes) -> go.Figure:
    """The title at the top left, the legend (if any) in rows below it and above the plot, the top margin
    sized for both: a legend that wraps to more rows makes the margin taller instead of covering the title."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 45},
        template="none",  # the app's theme styles the charts; a plotly template would travel with every redraw
        **axes,
    )
    fit_legend(fig)
    return fig


def legend_rows(fig: go.Figure, row_width: int = LEGEND_WIDTH) -> int:
    """Rows a horizontal legend of fig's named traces takes (an entry: its symbol, about 7 px per character)."""
    entries = [t.name for t in fig.data if t.name and t.showlegend is not False]
    if not entries or fig.layout.showlegend is False:
        return 0
    rows, used = 1, 0
    for name in entries:
        width = 50 + 7 * len(str(name))
        if used and used + width > row_width:
            rows, used = rows + 1, 0
        used += width
    return rows


def fit_legend(fig: go.Figure) -> go.Figure:
    """Title and legend in separate bands above the plot (call again after adding traces to a laid-out figure)."""
    rows = legend_rows(fig)
    height = fig.layout.height or HEIGHT
    top = TITLE_BAND + LEGEND_ROW * rows + 16  # 16: room for marks labelled just above the plot
    fig.update_layout(
        title={"y": 1 - 8 / height, "yanchor": "top", "yref": "container"},
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1 - TITLE_BAND / height,
            "yanchor": "top",
            "yref": "container",
        },
        margin={"t": top},
    )
    return fig


def log_axis(values: list) -> dict:
    """A log axis's settings with ticks at powers of ten, and at 2 and 5 times them where the data spans at
    most three decades (room for them), labelled 0.01, 0.1, 1, 10, 100 or 10⁻⁵ beyond that."""
    positive = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not positive:
        return {"type": "log"}
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    high = max(high, low + 1)
    steps = (1, 2, 5) if high - low <= 3 else (1,)
    every = max(1, math.ceil((high - low) / 8))  # at most about 8 powers of ten labelled
    ticks = [m * 10.0**e for e in range(low, high + 1) if (e - low) % every == 0 for m in steps]
    ticks = [t for t in ticks if t <= 10.0**high]
    powers = not -3 <= low <= high <= 4  # 10⁻⁶ ... 10² throughout, or 0.001 ... 10000 throughout
    return {"type": "log", "tickvals": ticks, "ticktext": [tick_text(t, powers) for t in ticks]}


def tick_text(value: float, powers: bool = False) -> str:
    """0.02, 1, 500; or 10⁻⁵, 2×10⁻⁵ with powers."""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10.0**exponent)
    if not powers:
        return f"{value:.{max(0, -exponent)}f}"
    power = "10" + str(exponent).translate(SUPERSCRIPT)
    return power if mantissa == 1 else f"{mantissa}×{power}"


def log_scale(values: list) -> bool:
    positive = [v for v in values if v is not None and v > 0]
    return (
        len(positive) == len([v for v in values if v is not None])
        and bool(positive)
        and max(positive) / min(positive) > 50
    )
