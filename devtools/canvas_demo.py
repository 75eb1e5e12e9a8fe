"""A tiny app around the canvas component alone, for its browser tests, its speed check and a look at it.

    .venv/bin/python -m streamlit run devtools/canvas_demo.py
    ...?read_only=1&theme=dark     read-only (the Train page's way) and the dark colours
    ...?nodes=500                  a generated graph of that many nodes instead of the fixture's eight
    ...?nodes=60&columns=10        the same on a grid of that many columns (25 unless told)

It mounts `flow_canvas` with tests/fixtures/canvas_payload.json and applies nothing: it writes every event the
component sent into the page (one `st.code` of its JSON each, oldest first) and counts the script's runs
(`reruns: n`), so a test can read exactly what the component sent and how many reruns it caused; its last
element (`data-testid='demo-state'`, attributes `data-events` and `data-reruns`) says how many events the run
that wrote it had processed and which run it was, so a test waits for an event to be processed instead of for
the page to stay unchanged a while. Two buttons
play Python's part: "New picture" bumps `rev` (the first node moved right, the last one selected) and "Fit"
bumps `fit`; "Ask for the page" bumps `refresh` (the component answers a new value with one `refresh` event).

    ...?answers=1                  Python's answers in the payload (`acked`, `refused`, `id_map`): the component
                                   draws each gesture at once and sends the next once the last is answered
    ...?answers=1&hold=1           no answer until "Answer" is clicked (a test sees the optimistic frame)
    ...?answers=1&refuse=add       every event of that kind refused, with a notice naming it

The demo applies no event, so an answered gesture's picture goes back to the fixture's (the payload is the truth).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run devtools/canvas_demo.py` puts only devtools/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from ui.canvas import flow_canvas  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "canvas_payload.json"
GRID_COLUMNS = 25
MAX_NODES = 2000


def generated_graph(payload: dict, count: int, columns: int = GRID_COLUMNS) -> dict:
    """`payload` with `count` Linear nodes on a grid of `columns` columns, each wired to the next."""
    nodes, edges = [], []
    for i in range(count):
        row, column = divmod(i, columns)
        nodes.append(
            {
                **payload["nodes"][-2],
                "id": f"n{i}",
                "op": "Linear" if i else "Input",
                "params": "out_features=16",
                "shape": "[16]",
                "count": "272 p",
                "inputs": 1 if i else 0,
                "x": 240.0 * column,
                "y": 140.0 * row,
            }
        )
        if i:
            edges.append(
                {"id": f"n{i - 1}->n{i}:0", "source": f"n{i - 1}", "target": f"n{i}", "port": 0, "label": "[16]"}
            )
    return {**payload, "nodes": nodes, "edges": edges, "breadcrumb": [], "note": None}


def gradient_fill(i: int) -> str:
    """A blue of four strengths, as the Train page colours cards by gradient norm."""
    return ("#e3f2fd", "#90caf9", "#42a5f5", "#1565c0")[i % 4]


def demo_payload(query) -> dict:
    payload = json.loads(FIXTURE.read_text())
    if query.get("nodes", "").isdigit():
        columns = int(query["columns"]) if query.get("columns", "").isdigit() else GRID_COLUMNS
        payload = generated_graph(payload, min(int(query["nodes"]), MAX_NODES), max(1, columns))
    if query.get("read_only") == "1":  # as on the Train page: each card tinted and badged by its gradient norm
        nodes = [{**node, "fill": gradient_fill(i), "badge": f"‖g‖ {10.0 ** -(i % 4 + 1):.1e}"} for i, node in
                 enumerate(payload["nodes"])]  # fmt: skip
        payload = {**payload, "read_only": True, "palette": [], "nodes": nodes}
    if query.get("theme") in ("light", "dark"):
        payload["theme"] = query["theme"]
    return payload


def new_picture(payload: dict, pictures: int) -> dict:
    """After `pictures` clicks of "New picture": rev bumped, the first node moved right, the last one selected."""
    if not pictures:
        return payload
    nodes = [dict(node) for node in payload["nodes"]]
    nodes[0]["x"] += 40.0 * pictures
    return {**payload, "rev": payload["rev"] + pictures, "nodes": nodes, "selected": [nodes[-1]["id"]]}


def demo_answers(answered: list[dict], refuse: str | None) -> dict:
    """Python's answers to these events: each acked, or refused with a notice when its kind is `refuse`."""
    acked, refused = [], []
    for event in answered:
        if event.get("kind") == refuse:
            notice = f"The demo refuses every {refuse}"
            refused.append({"client": event["client"], "seq": event["seq"], "notice": notice})
        else:
            acked.append([event["client"], event["seq"]])
    return {"acked": acked, "refused": refused, "id_map": {}}


def take_event() -> None:
    """The component's callback: its event, written into the page below (once per trigger)."""
    state = st.session_state.get("demo_canvas")
    event = state.get("event") if hasattr(state, "get") else getattr(state, "event", None)
    if isinstance(event, dict):
        st.session_state.setdefault("events", []).append(event)


# Counted before the first Streamlit call, so a run that a newer request interrupts (at any st.* call) counts too.
st.session_state["reruns"] = st.session_state.get("reruns", 0) + 1
st.set_page_config(page_title="Canvas demo", layout="wide")
events = st.session_state.setdefault("events", [])
left, middle, right = st.columns(3)
if left.button("New picture", help="rev + 1: the first node moves right, the last one is selected"):
    st.session_state["pictures"] = st.session_state.get("pictures", 0) + 1
if middle.button("Fit", help="fit + 1: the component fits the graph into view"):
    st.session_state["fits"] = st.session_state.get("fits", 0) + 1
if right.button("Ask for the page", help="refresh + 1: the component asks for a rerun of the page once drawn"):
    st.session_state["refreshes"] = st.session_state.get("refreshes", 0) + 1

if st.query_params.get("hold") == "1" and st.button("Answer", help="answer the events received so far, and all later"):
    st.session_state["held"] = False

payload = new_picture(demo_payload(st.query_params), st.session_state.get("pictures", 0))
payload["fit"] += st.session_state.get("fits", 0)
payload["refresh"] = st.session_state.get("refreshes", 0)
if st.query_params.get("answers") == "1":
    held = st.session_state.get("held", st.query_params.get("hold") == "1")
    payload.update(demo_answers([] if held else events, st.query_params.get("refuse")))
flow_canvas(payload, key="demo_canvas", on_event=take_event)

st.caption(f"reruns: {st.session_state['reruns']}")
for received in events:
    st.code(json.dumps(received, sort_keys=True), language="json")
# Last, so that a test which sees it show n events knows this run has written all n: the run that processed
# the n-th event has reached its end, and `data-reruns` is the number of runs counted at that moment.
st.html(
    f"<div data-testid='demo-state' data-events='{len(events)}' data-reruns='{st.session_state['reruns']}'>"
    f"processed {len(events)} events in {st.session_state['reruns']} runs</div>"
)
