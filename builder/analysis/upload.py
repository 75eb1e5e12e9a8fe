"""Reading a GraphSpec file a user uploads: every way it can be wrong becomes one clear message."""

from __future__ import annotations

import json

from builder.ops.catalog import CATALOG
from builder.spec.limits import limits
from builder.spec.spec import GraphSpec, loads_spec

MAX_UPLOAD_BYTES = limits().max_spec_bytes  # 5 MB unless NETCANVAS_MAX_SPEC_MB says otherwise
MAX_LISTED = 5  # problems listed in one message; the rest are counted


def _join(problems: list[str]) -> str:
    shown = problems[:MAX_LISTED]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


def loading_problems(spec: GraphSpec) -> list[str]:
    """What makes a parsed spec unfit for the canvas: unknown ops, repeated ids, edges to nowhere.

    Other mistakes (shape errors, a missing Input) load fine: the validation panel shows them.
    """
    problems, seen = [], set()
    for node in spec.nodes:
        if node.op not in CATALOG:
            problems.append(f"node '{node.id}' has unknown op '{node.op}'")
        if node.id in seen:
            problems.append(f"id '{node.id}' is used by more than one node")
        seen.add(node.id)
    for edge in spec.edges:
        for end in (edge.source, edge.target):
            if end not in seen:
                problems.append(f"edge {edge.source} -> {edge.target} names '{end}', which is not a node")
    return problems


def read_spec_upload(filename: str, data: bytes) -> tuple[GraphSpec | None, str | None]:
    """Returns (spec, None) or (None, a message that says what is wrong with the file)."""
    if len(data) > MAX_UPLOAD_BYTES:
        size_mb = len(data) / 1024 / 1024
        return (
            None,
            f"{filename} is {size_mb:.1f} MB; a network file may be at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB",
        )
    spec, issues = loads_spec(data)
    if spec is None:
        unreadable = next((i.message.removeprefix("json: ") for i in issues if i.field == "json"), None)
        if unreadable is not None and unreadable.startswith("not valid JSON"):
            return None, f"{filename} is not a JSON file"
        if unreadable is not None:  # JSON too deep or too large to read
            return None, f"{filename} cannot be read: {unreadable}"
        return None, f"{filename} is not a NetCanvas network: " + _join([i.message for i in issues])
    problems = loading_problems(spec)
    if problems:
        return None, f"{filename} cannot be loaded: " + _join(problems)
    return spec, None


def saved_text(spec: GraphSpec) -> str:
    """The spec as a session keeps it (compact JSON: what `read_spec_upload` reads back on the next visit)."""
    return json.dumps(spec.to_dict(), separators=(",", ":"))


def loader_refusal(spec: GraphSpec, what: str = "the graph") -> str | None:
    """Why the loader would refuse this spec once saved (None: it loads back). The parser alone, no analysis."""
    try:
        text = saved_text(spec)
    except (TypeError, ValueError) as err:  # a value JSON cannot hold (a set, a circular list)
        return f"{what} cannot be written as JSON ({err})"
    return read_spec_upload(what, text.encode("utf-8"))[1]
