"""AppTest helpers for pages with our canvas component: read what the page sent it, and send it an event the
way the browser does (the component's trigger widget, `<component id>__events`, carrying one `event`)."""

from __future__ import annotations

import itertools
import json

from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

_seq = itertools.count(1)


def canvas_element(at: AppTest, key: str = "build_canvas"):
    found = [e for e in at.get("bidi_component") if e.proto.id.endswith(f"-{key}")]
    assert len(found) == 1, f"expected one canvas '{key}', found {len(found)}"
    return found[0]


def canvas_data(at: AppTest, key: str = "build_canvas") -> dict:
    """The payload the page gave the component in the last run."""
    return json.loads(canvas_element(at, key).proto.json)


def canvas_node(at: AppTest, node_id: str, key: str = "build_canvas") -> dict:
    return next(n for n in canvas_data(at, key)["nodes"] if n["id"] == node_id)


def send_event(at: AppTest, kind: str, key: str = "build_canvas", **fields) -> AppTest:
    """Rerun the app as the browser does after a gesture: the component's trigger set to one event."""
    event = {"client": "apptest", "seq": next(_seq), "kind": kind, **fields}
    states = WidgetStates()
    states.CopyFrom(at._tree.get_widget_states())
    trigger = states.widgets.add()
    trigger.id = _make_trigger_id(canvas_element(at, key).proto.id, "events")
    trigger.json_trigger_value = json.dumps([{"event": "event", "value": event}])
    return at._run(states)
