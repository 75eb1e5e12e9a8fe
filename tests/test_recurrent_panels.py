"""The Train page's "Through time" panel (ui/train/recurrent_panels.py, ui/figures/recurrent.py): the gate and state
heatmaps (their traces and scales), the unfolded-in-time view (one box per step coloured by log10 of the gradient
reaching it, arrows, x_t labels, the values on hover), both legible on the light and the dark theme; and through
AppTest, a short run of lstm_cells_sine shows them while a network without recurrence does not offer the panel."""

from __future__ import annotations

import math

import pytest

from tests.test_figure_colours import MARKS, _unreadable
from tests.test_train_page import open_train_page, run_status, runs_dir, set_number, texts, wait_for
from ui.figures.recurrent import gates_figure, log_bounds, unfolded_figure, vanishing_ratio
from ui.train.recurrent_panels import RECURRENT_PANEL

__all__ = ["runs_dir"]  # the Train page tests' fixture: runs go to a temporary store


def lstm_entry(steps=(0, 1, 2), units=2) -> dict:
    """One node's entry as engine.probes.recurrent_probes writes it: gates [steps][units], state, grad norms."""
    n = len(steps)
    grid = [[round(0.1 * (t + 1) + 0.01 * u, 3) for u in range(units)] for t in range(n)]
    return {
        "op": "Recurrent",
        "step": 1234,
        "total_steps": n,
        "steps": list(steps),
        "hidden": units,
        "units": units,
        "bidirectional": False,
        "grad_norm": [10.0 ** (k - n) for k in range(n)],
        "gates": {"input_gate": grid, "forget_gate": grid, "output_gate": grid},
        "state": {"name": "c_next", "values": [[-2.0, 0.5], [1.0, 0.0], [0.25, 1.5]][:n]},
    }


def test_each_gate_and_the_state_is_a_heatmap_of_unit_over_time_with_one_scale_for_the_gates():
    entry = lstm_entry()
    fig = gates_figure(entry, "rnn")
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert [h.name for h in heatmaps] == ["input_gate", "forget_gate", "output_gate", "c_next (state)"]
    assert [h.coloraxis for h in heatmaps] == ["coloraxis"] * 3 + ["coloraxis2"]
    assert list(heatmaps[0].x) == [0, 1, 2] and list(heatmaps[0].y) == [0, 1]  # x: time step, y: unit
    assert heatmaps[0].z[1][2] == entry["gates"]["input_gate"][2][1]  # z[unit][step]
    gates, state = fig.layout.coloraxis, fig.layout.coloraxis2
    assert (gates.cmin, gates.cmax) == (0, 1)  # one scale, 0..1, for every gate
    assert (state.cmin, state.cmax) == (-2.0, 2.0)  # centred on 0, as far as the largest |c|
    assert "after step 1,234" in fig.layout.title.text
    assert _unreadable(fig, MARKS) == []


def test_a_gru_shows_its_two_gates_and_h_and_wide_states_say_which_units_are_shown():
    entry = lstm_entry()
    entry["gates"] = {"reset_gate": entry["gates"]["input_gate"], "update_gate": entry["gates"]["forget_gate"]}
    entry["state"]["name"], entry["hidden"] = "h_next", 40
    fig = gates_figure(entry, "rnn")
    assert [t.name for t in fig.data] == ["reset_gate", "update_gate", "h_next (state)"]
    assert fig.layout.yaxis.title.text == "unit (first 2 of 40)"


def test_the_unfolded_view_colours_each_steps_box_by_the_log_of_the_gradient_reaching_it():
    entry = lstm_entry(steps=(0, 1, 2, 3))
    entry["grad_norm"] = [1e-6, None, 1e-3, 1e-1]  # None: no gradient reached step 1
    fig = unfolded_figure(entry, "rnn")
    boxes = fig.data[0]
    assert boxes.type == "heatmap" and list(boxes.x) == [0, 1, 2, 3]
    assert boxes.z[0][0] == pytest.approx(-6) and boxes.z[0][1] is None and boxes.z[0][3] == pytest.approx(-1)
    assert (boxes.zmin, boxes.zmax) == pytest.approx((-6, -1))  # one scale over the steps
    assert [row[1] for row in boxes.customdata[0]] == [1e-6, 0.0, 1e-3, 1e-1]  # the hover's values
    arrows, inputs, labels = fig.data[1], fig.data[2], fig.data[3]
    assert list(arrows.x) == [0.5, 1.5, 2.5] and arrows.marker.symbol == "triangle-right"  # h_{t-1} -> h_t
    assert inputs.marker.symbol == "triangle-up" and list(labels.text) == ["x0", "x1", "x2", "x3"]
    assert fig.layout.xaxis.showticklabels is False  # the x_t labels name the steps
    assert boxes.colorscale[0][1] != "#30123b"  # Turbo without its near-black end, visible on the dark theme
    assert _unreadable(fig, MARKS) == []


def test_a_long_subsampled_sequence_names_its_real_steps_on_the_axis():
    steps = [round(k * 149 / 63) for k in range(64)]
    entry = {**lstm_entry(), "steps": steps, "total_steps": 150, "grad_norm": [1e-3] * 64}
    fig = unfolded_figure(entry, "rnn")
    assert len(fig.data) == 3 and fig.layout.xaxis.showticklabels  # too many boxes for x_t labels: the axis names them
    assert (
        fig.layout.xaxis.ticktext[0] == "0"
        and str(steps[int(fig.layout.xaxis.tickvals[-1])]) in fig.layout.xaxis.ticktext
    )


def test_scales_and_ratios_of_flat_or_empty_norms():
    assert log_bounds([-2.0, -2.0]) == (-2.5, -1.5) and log_bounds([None]) == (-1.0, 0.0)
    assert vanishing_ratio({"grad_norm": [1e-4, 1e-2, 1e-1]}) == pytest.approx(1e-3)
    assert vanishing_ratio({"grad_norm": [None, 1.0]}) is None
    assert math.isclose(vanishing_ratio(lstm_entry()), 1e-2)


# --- the page ---------------------------------------------------------------------------------------------------


def charts(at) -> str:
    return "\n".join(str(c.proto.spec) for c in at.get("plotly_chart"))


def test_a_short_run_of_the_gate_level_lstm_shows_its_gates_and_its_unfolding_on_the_train_page():
    at = open_train_page("lstm_cells_sine")
    set_number(at, "ts_epochs", 1)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    panel = at.segmented_control(key="train_panel_recurrent")
    assert panel.options[0] == RECURRENT_PANEL and panel.value == RECURRENT_PANEL
    drawn = charts(at)
    assert "Gates and state of rnn over a sample sequence" in drawn and "rnn unfolded in time" in drawn
    for gate in ("input_gate", "forget_gate", "output_gate", "c_next (state)"):
        assert gate in drawn
    assert "One sample sequence (the first validation row)" in texts(at)
    assert "The gradient reaching step 0 is" in texts(at)


def test_a_network_without_recurrence_offers_no_through_time_panel():
    at = open_train_page("mlp_iris")
    set_number(at, "ts_epochs", 1)
    at.button(key="train_start").click().run()
    wait_for(at, lambda a: run_status(a) == "finished")
    assert RECURRENT_PANEL not in at.segmented_control(key="train_panel").options
    assert "unfolded in time" not in charts(at)
