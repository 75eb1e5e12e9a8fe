"""Hostile canvas events (issue 20, item 6): per class, how many cases end cleanly, the worst time and memory,
and what the loader check after an edit costs at 200 and 2,000 nodes (the parser alone: it should be linear).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_canvas_hostile

Each case is applied to a fresh editor holding a 200-node residual MLP (bench/big_graph.py); "clean" means
apply_event returned, and the spec afterwards loads back through `read_spec_upload` equal to itself. Memory is
the growth of the process's peak RSS (resource.getrusage) over the whole class, so small classes read 0.
"""

from __future__ import annotations

import math
import resource
import time

from bench.big_graph import residual_mlp
from builder.analysis.upload import loader_refusal, read_spec_upload, saved_text
from builder.editor import canvas_events
from builder.editor.canvas_events import EventLog, apply_event
from builder.editor.session import EditorSession

LONG = "a" * 1_000_000
NUMBERS = [1e300, -1e300, math.inf, -math.inf, math.nan, -0.0, 10**400, 2**63, True, "12", None, [1], {"x": 1}]


def _classes(ids: list[str], edges: list[str]) -> dict[str, list[dict]]:
    a, b = ids[1], ids[2]
    return {
        "odd numbers (move, drop, paste)": [
            e
            for v in NUMBERS
            for e in (
                {"kind": "move_end", "positions": {a: [v, 0], b: [0, v]}},
                {"kind": "add", "op": "ReLU", "x": v, "y": 0},
                {"kind": "paste", "nodes": [a], "dx": v, "dy": v},
            )
        ],
        "wrong types": [
            {"kind": k, f: v}
            for k, f in (
                ("add", "op"),
                ("connect", "source"),
                ("delete", "nodes"),
                ("select", "nodes"),
                ("paste", "nodes"),
                ("group", "nodes"),
                ("open", "path"),
                ("expand", "node"),
                ("move_end", "positions"),
            )
            for v in (None, 7, 1.5, True, "x", [], {}, [[a]], {"a": [a]})
        ]
        + [{"kind": v} for v in (None, 7, [], {}, "bogus")],
        "huge lists (1,000,000 entries)": [
            {"kind": "delete", "nodes": [a] * 1_000_000, "edges": edges * (1_000_000 // len(edges))},
            {"kind": "select", "nodes": list(range(1_000_000))},
            {"kind": "paste", "nodes": [a] * 1_000_000},
            {"kind": "group", "nodes": ids * (1_000_000 // len(ids))},
            {"kind": "open", "path": [a] * 1_000_000},
            {"kind": "move_end", "positions": {f"n{i}": [1, 1] for i in range(1_000_000)}},
        ],
        "long strings (1,000,000 chars)": [
            {"kind": "add", "op": LONG},
            {"kind": "add", "op": "ReLU", "on_edge": LONG},
            {"kind": "connect", "source": LONG, "target": a},
            {"kind": "delete", "nodes": [LONG], "edges": [LONG]},
            {"kind": "expand", "node": LONG},
            {"kind": "open", "path": [LONG]},
            {"kind": "move_end", "positions": {LONG: [1, 1]}},
            {"kind": LONG},
        ],
        "unknown ids": [
            {"kind": k, **f}
            for k, f in (
                ("connect", {"source": "ghost", "target": a}),
                ("delete", {"nodes": ["ghost"], "edges": ["g"]}),
                ("select", {"nodes": ["ghost"]}),
                ("paste", {"nodes": ["ghost"]}),
                ("group", {"nodes": ["ghost", a]}),
                ("open", {"path": ["ghost"]}),
                ("expand", {"node": a}),
                ("move_end", {"positions": {"ghost": [1, 1]}}),
            )
        ],
        "nested junk (depth 50)": [
            {"kind": k, "nodes": _nested(50), "positions": _nested(50), "path": _nested(50)}
            for k in ("delete", "select", "paste", "group", "open", "move_end")
        ],
    }


def _nested(depth: int):
    value: object = [1]
    for _ in range(depth):
        value = {"a": [value]}
    return value


def _clean(ed: EditorSession) -> bool:
    spec, error = read_spec_upload("the saved graph", saved_text(ed.spec).encode("utf-8"))
    return error is None and spec.to_dict() == ed.spec.to_dict()


def run_class(graph, events: list[dict]) -> tuple[int, int, float, float]:
    clean, worst = 0, 0.0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for seq, event in enumerate(events, 1):
        ed, log = EditorSession(), EventLog()
        ed.load(graph, "bench")
        started = time.perf_counter()
        try:
            apply_event(ed, log, {"client": "bench", "seq": seq, **event})
            ok = _clean(ed)
        except Exception as err:  # a bench counts failures instead of stopping at the first
            print(f"  RAISED {type(err).__name__}: {str(err)[:80]} on {str(event)[:80]}")
            ok = False
        worst = max(worst, time.perf_counter() - started)
        clean += ok
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return len(events), clean, worst, grown_mb


def _move_ms(ed: EditorSession, repeats: int) -> float:
    log = EventLog()
    started = time.perf_counter()
    for seq in range(1, repeats + 1):
        apply_event(ed, log, {"client": "b", "seq": seq, "kind": "move_end", "positions": {"head": [seq, seq]}})
    return (time.perf_counter() - started) / repeats * 1000


def check_cost(n_nodes: int, repeats: int = 10) -> tuple[float, float, float]:
    """(ms of loader_refusal, ms of a whole move_end event, the same without the check) on an n-node graph."""
    ed = EditorSession()
    ed.load(residual_mlp(n_nodes), "bench")
    started = time.perf_counter()
    for _ in range(repeats):
        loader_refusal(ed.spec)
    check_ms = (time.perf_counter() - started) / repeats * 1000
    with_check = _move_ms(ed, repeats)
    canvas_events.loader_refusal = lambda spec: None  # the event's own work alone, for comparison
    try:
        without = _move_ms(ed, repeats)
    finally:
        canvas_events.loader_refusal = loader_refusal
    return check_ms, with_check, without


def main() -> None:
    graph = residual_mlp(200)
    ids = [n.id for n in graph.nodes]
    edges = [f"{e.source}->{e.target}:{e.port or 0}" for e in graph.edges]
    print(f"{'class':36} {'tried':>6} {'clean':>6} {'worst s':>8} {'RSS +MB':>8}")
    for name, events in _classes(ids, edges).items():
        tried, clean, worst, grown = run_class(graph, events)
        print(f"{name:36} {tried:6} {clean:6} {worst:8.3f} {grown:8.1f}")
    for n in (200, 2_000, 20_000):
        check_ms, event_ms, without = check_cost(n)
        print(
            f"{n:>6} nodes: loader check {check_ms:7.1f} ms; a move_end event {event_ms:7.1f} ms"
            f" ({without:.1f} without the check)"
        )
    print(f"peak RSS of the bench: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
