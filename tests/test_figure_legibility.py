"""Legibility of the figures (issue 22): a log axis is ticked at powers of ten (and 2, 5 between where the data
spans three decades or less), never "1, 5, 2, 0.1"; a legend lies in its own band under the title, above the
plot, however many entries it has."""

from __future__ import annotations

import pytest

from ui.figures.style import HEIGHT, LEGEND_ROW, legend_rows, log_axis
from ui.figures.trainers import decision_line_figure, rule_curves_figure
from ui.figures.training import curves_figure, gradient_history_figure
from ui.train.run_view import Curves

TITLE_FONT = 15


def curves(losses: list[float]) -> Curves:
    steps = list(range(1, len(losses) + 1))
    return Curves(
        step=steps,
        step_loss=losses,
        epoch_step=steps[::2],
        epoch=list(range(1, len(steps[::2]) + 1)),
        train_loss=losses[::2],
        val_loss=losses[::2],
        val_accuracy=[0.5] * len(steps[::2]),
    )


def test_a_loss_over_two_decades_is_ticked_at_1_2_5_times_powers_of_ten():
    axis = curves_figure(curves([2.5, 1.0, 0.4, 0.1, 0.05, 0.02]), []).layout.yaxis
    assert axis.type == "log"
    assert list(axis.tickvals) == pytest.approx([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10])
    assert list(axis.ticktext) == ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"]


def test_many_decades_are_ticked_at_powers_of_ten_only_at_most_eight_written_as_powers():
    fig = gradient_history_figure({"fc1": ([1, 2, 3], [1e-7, 1e-3, 20.0])}, "gradient norm")
    axis = fig.layout.yaxis
    assert list(axis.ticktext) == ["10⁻⁷", "10⁻⁵", "10⁻³", "10⁻¹", "10¹"]  # nine decades: every second power
    assert list(axis.tickvals) == pytest.approx([10.0**e for e in range(-7, 3, 2)])


def test_a_rules_error_on_a_log_axis_has_the_same_ticks():
    epochs = {"reconstruction_error": ([10, 20, 30], [0.9, 0.1, 0.01])}
    fig = rule_curves_figure(epochs, {}, [(0, "pretraining rbm1")], [])
    assert fig.layout.yaxis.type == "log" and list(fig.layout.yaxis.ticktext)[:4] == ["0.01", "0.02", "0.05", "0.1"]
    assert log_axis([None, 0.0]) == {"type": "log"}  # nothing positive: plotly's own ticks


def bands(fig) -> dict[str, tuple[float, float]]:
    """(top, bottom) in px from the figure's top of the title, the legend (estimated rows) and the plot."""
    height, top = fig.layout.height or HEIGHT, fig.layout.margin.t
    plot_height = height - top - fig.layout.margin.b
    title = fig.layout.title
    if title.yref == "container" and title.y is not None:
        title_top = (1 - title.y) * height if title.yanchor == "top" else (1 - title.y) * height - TITLE_FONT / 2
    else:  # plotly's 'auto': the middle of the top margin
        title_top = top / 2 - TITLE_FONT / 2
    legend, rows = fig.layout.legend, legend_rows(fig)
    y = legend.y if legend.y is not None else 1.02
    anchor_px = (1 - y) * height if legend.yref == "container" else top + (1 - y) * plot_height
    grows_down = legend.yanchor == "top"
    legend_top = anchor_px if grows_down else anchor_px - rows * LEGEND_ROW
    return {
        "title": (title_top, title_top + TITLE_FONT + 4),
        "legend": (legend_top, legend_top + rows * LEGEND_ROW),
        "plot": (top, top + plot_height),
    }


@pytest.mark.parametrize("metrics", [2, 4, 6])
def test_the_legend_never_covers_the_title_or_the_plot(metrics):
    names = ["loss", "val_loss", "val_accuracy", "reconstruction_error", "pseudo_log_likelihood", "free_energy_gap"]
    epochs = {name: ([10, 20], [0.5, 0.4]) for name in names[:metrics]}
    steps = {name: ([5, 10, 15, 20], [0.6, 0.5, 0.45, 0.4]) for name in names[:metrics]}
    fig = rule_curves_figure(epochs, steps, [(0, "module 1"), (10, "module 2")], [])
    where = bands(fig)
    assert legend_rows(fig) >= (1 if metrics == 2 else 2)
    assert where["title"][1] <= where["legend"][0], where
    assert where["legend"][1] <= where["plot"][0], where


XOR_POINTS = {"x": [0.0, 0.0, 1.0, 1.0], "y": [0.0, 1.0, 0.0, 1.0], "label": [0, 1, 1, 0]}


def _visible(fig, x: float, y: float) -> bool:
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    return x0 <= x <= x1 and y0 <= y <= y1


@pytest.mark.parametrize(
    "line", [{"weight_0": 0.0, "weight_1": -1.0, "bias": -1.0}, {"weight_0": 1.0, "weight_1": 0.0, "bias": -3.0}]
)
def test_the_perceptrons_line_is_in_view_where_it_passes_beside_the_points(line):
    fig = decision_line_figure(XOR_POINTS, line, ["0", "1"])
    drawn = [t for t in fig.data if t.mode == "lines"]
    assert len(drawn) == 1
    w0, w1, b = line["weight_0"], line["weight_1"], line["bias"]
    on_line = [(x, y) for x, y in zip(drawn[0].x, drawn[0].y) if abs(w0 * x + w1 * y + b) < 1e-9]
    assert len(on_line) == 2
    middle = ((on_line[0][0] + on_line[1][0]) / 2, (on_line[0][1] + on_line[1][1]) / 2)
    assert _visible(fig, *middle), (fig.layout.xaxis.range, fig.layout.yaxis.range, middle)
    assert all(_visible(fig, x, y) for x, y in zip(XOR_POINTS["x"], XOR_POINTS["y"]))


def test_zero_weights_say_there_is_no_line_and_where_the_unit_fires():
    fig = decision_line_figure(XOR_POINTS, {"weight_0": 0.0, "weight_1": 0.0, "bias": -1.0}, ["0", "1"])
    texts = [a.text for a in fig.layout.annotations]
    assert "w = (0, 0): no line yet; every point scores b = -1, so the unit fires nowhere" in texts
