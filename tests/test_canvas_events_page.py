"""The Build page's side of the optimistic canvas (issue 21): the payload answers each event (`acked`, `refused`
with its notice, `id_map`), the component's `refresh` request is answered too (so its next gesture is sent), a
click on a card fills the inspector without asking for a whole-page run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.apptest_canvas import canvas_data, send_event
from tests.test_build_page import at, editor  # noqa: F401 (the page fixture)


def test_the_payload_answers_each_event_with_acked_refused_and_id_map(at):  # noqa: F811
    send_event(at, "add", op="ReLU", x=0, y=2000, client="tab", seq=1, temp="tmp~1")
    data = canvas_data(at)
    new_id = editor(at).selected
    assert ["tab", 1] in data["acked"] and data["id_map"]["tmp~1"] == new_id
    send_event(at, "connect", source="nope", target="fc2", port=0, client="tab", seq=2)
    refused = canvas_data(at)["refused"]
    assert refused == [{"client": "tab", "seq": 2, "notice": editor(at).notice.text}]
    assert "nope" in refused[0]["notice"]


def test_the_components_refresh_request_is_answered(at):  # noqa: F811
    send_event(at, "add", op="ReLU", x=0, y=2000, client="tab", seq=1)
    send_event(at, "refresh", n=canvas_data(at)["refresh"], client="tab", seq=2)
    assert ["tab", 2] in canvas_data(at)["acked"] and not at.exception


def test_a_click_on_a_card_fills_the_inspector_and_asks_for_no_page_run(at: AppTest):  # noqa: F811
    refresh = canvas_data(at)["refresh"]
    send_event(at, "select", nodes=["fc1"])
    assert canvas_data(at)["refresh"] == refresh  # nothing outside the canvas fragment shows the selection
    assert any(w.label == "id" and w.value == "fc1" for w in at.text_input)  # the inspector, in the fragment
