"""Canvas events are total (issue 20, item 6): Hypothesis sends a session with a template loaded sequences of
hostile events, every kind the component knows (and a few it does not), whose fields are wrong types, NaN,
inf, 1e300 and 10**400, -0.0, unknown and stale ids, ids far longer than the id pattern allows, huge lists and
nested junk, mixed with real ids and sensible values so that edits do happen. After every event:

- `apply_event` returned (it never raises);
- the session's spec loads back through the loader a reload uses: saved by `save_state` with the check
  `ui/session_keep.py` passes, read by `load_state` with the same check, parsed by `read_spec_upload`, equal.

The "ci" profile is derandomized (reproducible); NETCANVAS_FUZZ=1 runs the random "fuzz" profile with more
examples:

    NETCANVAS_FUZZ=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_canvas_events_fuzz.py
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.analysis.upload import read_spec_upload, saved_text
from builder.editor.canvas_edit import edge_ids
from builder.editor.canvas_events import KINDS, EventLog, apply_event
from builder.editor.session import EditorSession
from builder.library.templates import TEMPLATES
from engine.runs.session_state import load_state, save_state
from ui.session_keep import state_problem

FUZZ = os.environ.get("NETCANVAS_FUZZ") == "1"
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
COMMON = {"deadline": None, "database": None, "print_blob": True, "suppress_health_check": HEALTH}
CI = settings(max_examples=80, derandomize=True, **COMMON)
RANDOM = settings(max_examples=2000, derandomize=False, **COMMON)
TEMPLATE_NAMES = sorted(TEMPLATES)
EVENTS_PER_EXAMPLE = 6

ODD_NUMBERS = [1e300, -1e300, math.inf, -math.inf, math.nan, -0.0, 10**400, -(10**400), 2**63, 1e-320, True, 1e6, 9e8]
LONG_ID = "a" * 5_000


def numbers():
    return st.one_of(
        st.sampled_from(ODD_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.integers(min_value=-2000, max_value=2000),
    )


def junk():
    """Anything JSON (and a bit more) can hold, nested."""
    leaves = st.one_of(st.none(), st.booleans(), numbers(), st.text(max_size=30), st.just(LONG_ID))
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )


def an_id(ids: list[str]):
    choices = [st.just(LONG_ID), st.text(max_size=12), st.just("ghost"), junk()]
    return st.one_of(st.sampled_from(ids), *choices) if ids else st.one_of(*choices)


def id_list(ids: list[str]):
    huge = st.just((ids or ["x"]) * 20_000)  # far longer than the graph: refused as a notice
    return st.one_of(
        st.lists(an_id(ids), max_size=6), st.lists(st.sampled_from(ids), max_size=6) if ids else junk(), huge, junk()
    )


def positions(ids: list[str]):
    xy = st.one_of(st.tuples(numbers(), numbers()).map(list), junk())
    keys = st.one_of(st.sampled_from(ids), st.text(max_size=12), st.just(LONG_ID)) if ids else st.text(max_size=12)
    return st.one_of(st.dictionaries(keys, xy, max_size=6), junk())  # JSON object keys are strings


def fields_for(kind: str, nodes: list[str], edges: list[str], ops: list[str]) -> dict:
    """A strategy per field of `kind`: real values often, hostile ones as often."""
    maybe = lambda good: st.one_of(good, junk())  # noqa: E731
    return (
        {
            "add": {
                "op": maybe(st.sampled_from(ops)),
                "x": maybe(numbers()),
                "y": maybe(numbers()),
                "on_edge": st.one_of(st.none(), an_id(edges)),
            },
            "connect": {"source": an_id(nodes), "target": an_id(nodes), "port": maybe(st.integers(-5, 10**9))},
            "delete": {"nodes": id_list(nodes), "edges": id_list(edges)},
            "move_end": {"positions": positions(nodes)},
            "select": {"nodes": id_list(nodes)},
            "paste": {"nodes": id_list(nodes), "dx": maybe(numbers()), "dy": maybe(numbers())},
            "group": {"nodes": id_list(nodes)},
            "open": {"path": st.one_of(st.lists(an_id(nodes), max_size=3), id_list(nodes))},
            "expand": {"node": an_id(nodes)},
        }.get(kind, {})
        if isinstance(kind, str)
        else {}
    )


@st.composite
def event_for(draw, ed: EditorSession, seq: int) -> dict:
    view = ed.view
    nodes, edges = [n.id for n in view.nodes], list(edge_ids(view))
    kind = draw(st.one_of(st.sampled_from(KINDS), junk()))
    event = {"client": "fuzz", "seq": seq, "kind": kind}
    strategies = fields_for(kind, nodes, edges, ["Linear", "ReLU", "Add", "Concat", "Input", "basic"])
    for name, strategy in strategies.items():
        if draw(st.integers(0, 9)) > 0:  # now and then a field is missing
            event[name] = draw(strategy)
    if draw(st.integers(0, 19)) == 0:
        event[draw(st.text(max_size=6))] = draw(junk())  # an extra field
    return event


def assert_loads_back(ed: EditorSession, root) -> None:
    """The way a reload gets the graph back: save_state -> load_state (both checked) -> read_spec_upload."""
    save_state(root, "fuzz", {"graph": saved_text(ed.spec)}, check=state_problem)
    state, problem = load_state(root, "fuzz", check=state_problem)
    assert problem is None, problem
    spec, error = read_spec_upload("the saved graph", state["graph"].encode("utf-8"))
    assert error is None, error
    assert spec.to_dict() == ed.spec.to_dict()


def run_events(data, root) -> None:
    template = data.draw(st.sampled_from(TEMPLATE_NAMES))
    ed, log = EditorSession(), EventLog()
    ed.load(TEMPLATES[template].spec(), template)
    for seq in range(1, EVENTS_PER_EXAMPLE + 1):
        event = data.draw(event_for(ed, seq))
        apply_event(ed, log, event)  # never raises
        assert ed.spec is not None and (ed.notice is None or len(ed.notice.text) < 2_000)
        assert_loads_back(ed, root)


@(RANDOM if FUZZ else CI)
@given(data=st.data())
def test_hostile_canvas_events_never_raise_and_the_graph_always_loads_back(data, tmp_path_factory):
    run_events(data, tmp_path_factory.mktemp("fuzz_state"))
