"""The Train page's autograd graph through Streamlit's AppTest: press the button, see the grouped graph."""

from __future__ import annotations

import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES
from engine.runs.store import RUNS_DIR_ENV
from ui.train.autograd_view import BUTTON, EXPAND_KEY

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/train.py"


@pytest.fixture(autouse=True)
def runs_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path_factory.mktemp("autograd_runs")))


def autograd_charts(at: AppTest) -> list[str]:
    return [str(c.proto.spec) for c in at.get("plotly_chart") if "autograd_chart" in c.proto.id]


def test_the_button_shows_the_grouped_graph_and_a_node_expands():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["build_editor"].load(TEMPLATES["mlp_iris"].spec(), "mlp_iris")
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not autograd_charts(at)
    next(b for b in at.button if b.label == BUTTON).click().run()
    assert not at.exception, at.exception
    charts = autograd_charts(at)
    assert len(charts) == 1
    assert "Autograd graph of one step" in charts[0] and "g:fc1" in charts[0] and "g:loss" in charts[0]
    at.multiselect(key=EXPAND_KEY).set_value(["fc1"]).run()
    assert not at.exception, at.exception
    expanded = autograd_charts(at)[0]
    assert "o:" in expanded and "AddmmBackward0" in expanded and "g:fc1" not in expanded
    assert "fc1.weight" in expanded


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
