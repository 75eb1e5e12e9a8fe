"""An out-of-range value typed in the inspector (issue 22): refused with its message shown inline under the field,
the field keeping what was typed and the network keeping its value; a good value applies and clears it."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

from tests.apptest_canvas import send_event
from tests.helpers import elements_in_order

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def open_inspector(node_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    send_event(at, "select", nodes=[node_id])
    assert not at.exception, at.exception
    return at


def field(at: AppTest, label: str):
    return next(w for w in at.number_input if w.label == label)


def test_an_out_of_range_value_is_refused_with_its_message_under_the_field():
    at = open_inspector("fc1")
    assert field(at, "out_features *").min is None  # the browser would only show a red mark with a tooltip
    field(at, "out_features *").set_value(0).run()
    assert not at.exception, at.exception
    message = "fc1.out_features must be >= 1, got 0; the network keeps its value."
    assert [e.value for e in at.error] == [message]
    assert at.session_state["build_editor"].spec.node("fc1").params["out_features"] == 16
    assert field(at, "out_features *").value == 0  # what was typed stays in the field, with the reason under it
    labels = [getattr(e, "label", None) or getattr(e, "value", None) for e in elements_in_order(at)]
    assert labels[labels.index("out_features *") + 1] == message

    field(at, "out_features *").set_value(8).run()
    assert not at.error and at.session_state["build_editor"].spec.node("fc1").params["out_features"] == 8
