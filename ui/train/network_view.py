"""The Train page's picture of the network: the person's own canvas layout, drawn read-only by the same canvas
component as the Build page, each card tinted by a live measure (the gradient norm, by default) on a log scale.

The tint is pale (the scale's colour mixed with the card's background) so the card's text stays legible in the
light and the dark theme; the number itself is on each card's badge, and a legend under the canvas gives the
scale's ends.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache

import streamlit as st

from builder.analysis.validate import analyze
from builder.editor.canvas_picture import picture_edges, picture_nodes
from builder.editor.layout import layered_layout, layout_request, needs_layout
from builder.spec.spec import GraphSpec, parse_spec
from ui.build.canvas import theme
from ui.canvas.component import flow_canvas

SCALE = ((0.0, (49, 130, 189)), (0.35, (49, 163, 84)), (0.65, (254, 196, 79)), (1.0, (222, 45, 38)))  # low -> high
TINT = {"light": ((255, 255, 255), 0.55), "dark": ((38, 39, 48), 0.55)}  # card background, share of scale colour
REVS_KEY = "network_view_revs"


@lru_cache(maxsize=16)
def _picture(spec_json: str) -> tuple[list[dict], list[dict], str | list[str] | None]:
    """Nodes, edges and layout request of a run's network (parsed, placed if it has no positions, analysed once
    per spec); a network without positions is laid out by the component's ELK, as on the Build page."""
    spec, _ = parse_spec(json.loads(spec_json))
    spec = spec or GraphSpec()
    placed = layered_layout(spec) if needs_layout(spec) else spec
    analysis = analyze(placed)
    return picture_nodes(placed, analysis), picture_edges(placed, analysis), layout_request(placed)


def scale_colour(t: float) -> tuple[int, int, int]:
    """The scale's colour at t in [0, 1] (linear between the stops)."""
    t = min(1.0, max(0.0, t))
    for (t0, c0), (t1, c1) in zip(SCALE, SCALE[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
    return SCALE[-1][1]


def tint(t: float, theme_name: str) -> str:
    base, share = TINT[theme_name]
    colour = scale_colour(t)
    r, g, b = (round(c * share + bg * (1 - share)) for c, bg in zip(colour, base))
    return f"#{r:02x}{g:02x}{b:02x}"


def log_bounds(norms: dict[str, float], log_range: tuple[float, float] | None) -> tuple[float, float]:
    logs = [math.log10(v) for v in norms.values() if v > 0]
    low, high = log_range or ((min(logs), max(logs)) if logs else (0.0, 1.0))
    return (low - 0.5, high + 0.5) if high - low < 1 else (low, high)


def _coloured(nodes: list[dict], norms: dict[str, float], bounds: tuple[float, float], theme_name: str) -> list[dict]:
    low, high = bounds
    out = []
    for node in nodes:
        value = norms.get(node["id"])
        if value is not None and value > 0:
            t = (math.log10(value) - low) / (high - low)
            node = {**node, "fill": tint(t, theme_name), "badge": f"{value:.2g}"}
        out.append(node)
    return out


def _rev(key: str, data: dict) -> int:
    """A new revision number whenever this canvas's picture changes."""
    revs = st.session_state.setdefault(REVS_KEY, {})
    digest = hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=12).hexdigest()
    rev, shown = revs.get(key, (0, ""))
    if digest != shown:
        rev += 1
        revs[key] = (rev, digest)
    return rev


def _legend(bounds: tuple[float, float], what: str, theme_name: str) -> None:
    stops = ", ".join(tint(t, theme_name) for t in (0.0, 0.35, 0.65, 1.0))
    low, high = (f"{10**b:.1e}" for b in bounds)
    st.html(
        f'<div style="display:flex;align-items:center;gap:8px;font-size:0.8rem">'
        f"<span>{what}: {low}</span>"
        f'<span style="flex:0 0 180px;height:10px;border-radius:3px;background:linear-gradient(90deg,{stops})">'
        f"</span><span>{high} (log scale; grey: none yet)</span></div>"
    )


def draw_network(
    spec_json: str,
    norms: dict[str, float],
    what: str,
    *,
    key: str,
    height: int = 440,
    log_range: tuple[float, float] | None = None,
) -> None:
    """The network as the person drew it, read-only, each card tinted by `norms` (node id -> value)."""
    nodes, edges, layout = _picture(spec_json)
    theme_name = theme()
    bounds = log_bounds(norms, log_range)
    rows = len({round(node["y"]) for node in nodes}) or 1
    data = {
        "height": min(height, max(240, 150 * rows + 100)),  # a one-row chain needs no tall empty frame
        "read_only": True,
        "theme": theme_name,
        "breadcrumb": [],
        "note": None,
        "nodes": _coloured(nodes, norms, bounds, theme_name),
        "edges": edges,
        "selected": [],
        "palette": [],
        "can_group": False,
        "layout": layout,  # read-only: the component lays it out and keeps the positions to itself
        "fit": 1,
    }
    flow_canvas({**data, "rev": _rev(key, data)}, key=key)
    _legend(bounds, what, theme_name)
