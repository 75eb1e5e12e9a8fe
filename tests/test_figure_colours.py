"""The figures read on the app's light and dark theme alike: every solid colour a figure sets itself (a line, a
text, a marker, a label's background) contrasts with both backgrounds; colour scales of images are their own."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from builder.editor.graph_svg import contrast
from builder.explorer.expression import parse_expression
from builder.explorer.expression_trace import snapshot, trace
from ui.figures import explorer, rules, style, trainers
from ui.figures.explorer import explorer_figure
from ui.figures.rules import som_grid_over_points_figure
from ui.figures.trainers import decision_line_figure, rule_curves_figure

LIGHT, DARK = "#ffffff", "#0e1117"  # Streamlit's light and dark backgrounds
MARKS = 3.0  # WCAG's contrast for lines and marks
FILLS = 2.5  # a filled box with an outline, a faint secondary line
NAMED_COLOURS = {
    "style.COLOURS": style.COLOURS,
    "rules.CLASS_COLOURS": rules.CLASS_COLOURS,
    "style.EDIT_MARK": [style.EDIT_MARK],
    "style.MID_GREY": [style.MID_GREY],
    "trainers.PHASE_MARK": [trainers.PHASE_MARK],
    "explorer text": [explorer.VALUE_BLUE, explorer.GRAD_RED, explorer.CURRENT_ORANGE],
}


def _solid_colours(value, path: str = "") -> list[tuple[str, str]]:
    """(path, colour) of every #rrggbb string in a figure's JSON, colour scales left out."""
    if isinstance(value, dict):
        return [f for k, v in value.items() if k != "colorscale" for f in _solid_colours(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [f for i, v in enumerate(value) for f in _solid_colours(v, f"{path}[{i}]")]
    if isinstance(value, str) and len(value) == 7 and value.startswith("#"):
        return [(path, value)]
    return []


def _unreadable(fig: go.Figure, least: float) -> list[tuple[str, str]]:
    found = _solid_colours(fig.to_plotly_json())
    return [(p, c) for p, c in found if min(contrast(c, LIGHT), contrast(c, DARK)) < least]


@pytest.mark.parametrize("name", list(NAMED_COLOURS))
def test_the_palettes_read_on_both_backgrounds(name):
    for colour in NAMED_COLOURS[name]:
        assert contrast(colour, LIGHT) >= MARKS and contrast(colour, DARK) >= MARKS, (name, colour)


def test_no_white_or_black_in_the_explorer_at_any_step():
    tr = trace(parse_expression("(a + b) * max(c, 0)"), {"a": -2.0, "b": 5.0, "c": 4.0})
    for step in range(tr.total + 1):
        fig = explorer_figure(tr, snapshot(tr, step))
        assert _unreadable(fig, FILLS) == []
        backgrounds = [a.bgcolor for a in fig.layout.annotations if a.bgcolor]
        assert all(b.startswith("rgba(") for b in backgrounds), backgrounds  # translucent, never a white box


def test_decision_line_and_rule_curves_read_on_both_backgrounds():
    points = {"x": [0, 0, 1, 1], "y": [0, 1, 0, 1], "label": [0, 1, 1, 1]}
    line = {"weight_0": 1.0, "weight_1": 1.0, "bias": -0.5}
    assert _unreadable(decision_line_figure(points, line, ["no", "yes"]), MARKS) == []
    curves = {"mistakes": ([1, 2, 3], [3.0, 1.0, 0.0])}
    assert _unreadable(rule_curves_figure(curves, {}, [(2, "phase 2")], [(3, "edited")]), MARKS) == []


def test_som_map_over_points_reads_on_both_backgrounds():
    rng = np.random.default_rng(0)
    fig = som_grid_over_points_figure(rng.random((6, 2)), 2, 3, rng.random((40, 2)), rng.integers(0, 10, 40))
    assert _unreadable(fig, MARKS) == []
