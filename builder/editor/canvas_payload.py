"""Reading the fields of one canvas event: data from the browser, so every value may be of any type or size.

Each reader returns a clean value or raises `PayloadError` with a one-line reason (the value shown short: a
string cut to 40 characters, anything that is not a string or a number by its type name only, so no junk is
ever printed whole). `builder.editor.canvas_events.apply_event` turns that error into a notice; nothing changes.

The range of a position: a canvas coordinate is a finite number, clamped to ±`CANVAS_LIMIT` (1,000,000 px,
some 5,000 cards side by side); inf, -inf and NaN are refused, and so is anything that is not a number
(a string, a bool, a list). The paste offset is read the same way. The spec's own loader accepts ±1e9
(`builder.spec.spec.MAX_POSITION`), so every position the canvas writes loads back, even after a paste's offset.
The canvas sends no sizes (a card's size is drawn by the browser, never stored).
Strings (an op, a node id, an edge id, the client id) are at most `MAX_TEXT` characters; a list of ids at
most as long as the graph has nodes and edges (plus `SLACK` stale ids from a gesture the graph has moved on from).
"""

from __future__ import annotations

import math

CANVAS_LIMIT = 1_000_000  # |x|, |y| of a card on the canvas, in flow pixels
MAX_TEXT = 200  # characters of an id, an op, an edge id or a client id
MAX_PATH = 32  # uses in an `open` path (blocks nest at most builder.spec.blocks.MAX_BLOCK_DEPTH = 16 deep)
SLACK = 64  # ids beyond the graph's own count that a list may hold (stale ids of a gesture)


class PayloadError(ValueError):
    """A field of a canvas event is not what the component sends; the message says which and what it got."""


def shown(value) -> str:
    """A short, safe picture of a value from the browser for a message."""
    if isinstance(value, str):
        return repr(value[:40] + ("…" if len(value) > 40 else ""))
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and abs(value) < 10**15):
        return repr(value)
    if isinstance(value, int):
        return "a huge integer"
    return f"a {type(value).__name__}"


def coordinate(value, name: str) -> float:
    """A finite number, clamped to ±CANVAS_LIMIT (-0.0 becomes 0.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{name} must be a number, got {shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(f"{name} must be a finite number, got {shown(value)}")
    clamped = max(-CANVAS_LIMIT, min(CANVAS_LIMIT, value))  # compared as given: a huge int is never made a float
    return float(clamped) + 0.0


def optional_coordinate(value, name: str, default: float) -> float:
    return default if value is None else coordinate(value, name)


def text(value, name: str) -> str:
    """A string of at most MAX_TEXT characters."""
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be a string, got {shown(value)}")
    if len(value) > MAX_TEXT:
        raise PayloadError(f"{name} is {len(value):,} characters long; at most {MAX_TEXT}")
    return value


def optional_text(value, name: str) -> str | None:
    return None if value is None else text(value, name)


def port(value) -> int | None:
    """A merge port: a non-negative integer, else None (the free port)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**6
    return value if ok else None


def _checked_list(value, name: str, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{name} must be a list, got {shown(value)}")
    if len(value) > limit:
        raise PayloadError(f"{name} holds {len(value):,} entries; at most {limit:,} here")
    return value


def known_ids(value, name: str, known: set[str]) -> list[str]:
    """The entries that name a node in `known`, each once, in order (stale or junk entries are dropped)."""
    items = _checked_list(value, name, len(known) + SLACK)
    return [v for v in dict.fromkeys(v for v in items if isinstance(v, str)) if v in known]


def edge_id_list(value, name: str, n_edges: int) -> list[str]:
    """Edge ids (`source->target:port`): strings of a sensible length; the edit ignores ids it does not know."""
    items = _checked_list(value, name, n_edges + SLACK)
    return list(dict.fromkeys(v for v in items if isinstance(v, str) and len(v) <= 3 * MAX_TEXT))


def temp_ids(value, name: str, known: set[str]) -> dict[str, str]:
    """{node id: the component's temporary id for its copy} for the ids in `known` (others dropped)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{name} must be an object, got {shown(value)}")
    if len(value) > len(known) + SLACK:
        raise PayloadError(f"{name} holds {len(value):,} entries; at most {len(known) + SLACK:,} here")
    return {k: text(v, f"{name}[{shown(k)}]") for k, v in value.items() if k in known}


def path(value) -> list[str]:
    """The block uses to open, outermost first."""
    items = _checked_list(value, "path", MAX_PATH)
    return [text(v, f"path[{i}]") for i, v in enumerate(items)]


def positions(value, known: set[str]) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """{node id: (x, y)} for the known nodes, and one reason per node whose position is not two numbers."""
    if not isinstance(value, dict):
        raise PayloadError(f"positions must be an object, got {shown(value)}")
    if len(value) > len(known) + SLACK:
        raise PayloadError(f"positions holds {len(value):,} entries; the graph shown has {len(known):,} nodes")
    moved, bad = {}, []
    for node_id, xy in value.items():
        if node_id not in known:
            continue
        try:
            if not isinstance(xy, list | tuple) or len(xy) != 2:
                raise PayloadError(f"'{node_id}' must be at [x, y], got {shown(xy)}")
            moved[node_id] = (coordinate(xy[0], f"'{node_id}' x"), coordinate(xy[1], f"'{node_id}' y"))
        except PayloadError as err:
            bad.append(str(err))
    return moved, bad
