"""The Train page's autograd graph through Streamlit's AppTest: press the button, see the grouped graph drawn by the
canvas component (its payload), and the component's clicks expand and collapse a node."""

from __future__ import annotations

import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from engine.runs.store import RUNS_DIR_ENV
from tests.apptest_canvas import canvas_data, send_event
from ui.train.autograd_view import BUTTON, CANVAS_KEY, EXPAND_KEY

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/train.py"


@pytest.fixture(autouse=True)
def runs_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path_factory.mktemp("autograd_runs")))


def autograd_charts(at: AppTest) -> list[dict]:
    """The autograd graph's payload, once per canvas drawn with it (none before the button)."""
    drawn = [e for e in at.get("bidi_component") if e.proto.id.endswith(f"-{CANVAS_KEY}")]
    return [canvas_data(at, CANVAS_KEY) for _ in drawn]


def shown(at: AppTest) -> tuple[dict[str, bool], dict[str, str]]:
    """(group id -> expanded, operation label -> its group) of the payload drawn."""
    data = canvas_data(at, CANVAS_KEY)
    return {g["id"]: g["expanded"] for g in data["groups"]}, {op["label"]: op["group"] for op in data["ops"]}


def test_the_button_shows_the_grouped_graph_and_a_node_expands():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not autograd_charts(at)
    next(b for b in at.button if b.label == BUTTON).click().run()
    assert not at.exception, at.exception
    assert not at.get("plotly_chart")  # the component draws it, not plotly
    charts = autograd_charts(at)
    assert len(charts) == 1 and charts[0]["mode"] == "autograd" and charts[0]["read_only"] is True
    groups, ops = shown(at)
    assert groups == {"fc1": False, "act1": False, "fc2": False, "loss": False} and ops == {}
    at.multiselect(key=EXPAND_KEY).set_value(["fc1"]).run()
    assert not at.exception, at.exception
    groups, ops = shown(at)
    assert groups["fc1"] and not groups["fc2"]
    assert ops == {"fc1.weight": "fc1", "fc1.bias": "fc1", "T": "fc1", "Addmm": "fc1"}


def test_a_click_on_a_node_in_the_component_expands_it_and_its_collapse_button_folds_it():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(PAGE).run()
    next(b for b in at.button if b.label == BUTTON).click().run()
    send_event(at, "expand", key=CANVAS_KEY, node="fc2")
    assert not at.exception, at.exception
    assert at.multiselect(key=EXPAND_KEY).value == ["fc2"]
    groups, ops = shown(at)
    assert groups["fc2"] and set(ops.values()) == {"fc2"}
    for bad in ({"node": "no_such_node"}, {"node": ["fc1"]}, {}):  # changes nothing, and no traceback
        send_event(at, "expand", key=CANVAS_KEY, **bad)
        assert not at.exception, at.exception
        assert at.multiselect(key=EXPAND_KEY).value == ["fc2"]
    send_event(at, "collapse", key=CANVAS_KEY, node="fc2")
    assert not at.exception, at.exception
    assert at.multiselect(key=EXPAND_KEY).value == [] and shown(at)[1] == {}


def test_a_step_that_passes_the_page_job_limits_is_one_line_and_the_page_goes_on(monkeypatch):
    """The graph is computed in a page job (engine/runs/page_jobs.py): past its limits it is a message, no crash."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(PAGE).run()  # the data check is done (and cached) before the limit drops
    monkeypatch.setenv("NETCANVAS_PAGE_JOB_WALL_SECONDS", "0.01")
    next(b for b in at.button if b.label == BUTTON).click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["the autograd graph stopped: it took longer than 0.01 s"]
    assert not autograd_charts(at)
    monkeypatch.delenv("NETCANVAS_PAGE_JOB_WALL_SECONDS")
    next(b for b in at.button if b.label == BUTTON).click().run()
    assert not at.exception and not at.error and len(autograd_charts(at)) == 1
