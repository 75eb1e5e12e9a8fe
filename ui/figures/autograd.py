"""The autograd graph of one step (engine/probes/autograd_graph.py), grouped by the user's nodes.

Collapsed, each user node is one box coloured by the largest gradient norm inside it (log scale); an expanded
node shows its operations instead, inside a frame named after it. Boxes are laid out left to right by their
depth in the graph; edges carry the shape of the tensor they pass. Every box's customdata is its unit key:
"g:<node id>" for a collapsed node, "o:<op id>" for an operation, so a click tells the page what was hit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ui.figures.style import GRADIENT_SCALE, MID_GREY, NO_VALUE_GREY, layout

if TYPE_CHECKING:
    from engine.probes.autograd_graph import AutogradGraph, Operation

GROUP_PREFIX, OP_PREFIX = "g:", "o:"
VISIBLE_COLUMNS = 7  # columns in view at first, so labels stay apart; wider graphs are panned
ARC = 0.42  # how far above its row an edge that skips columns bends, so it does not run behind boxes
EDGE_GREY = MID_GREY  # colours that read on the light and the dark theme (ui/figures/style.py)
FRAME_FILL, FRAME_LINE = "rgba(47, 126, 216, 0.08)", "#5c8fd6"
SELECTED_LINE = "#d81b60"


@dataclass
class Unit:
    key: str  # "g:<node id>" or "o:<op id>"
    label: str  # the text under the box
    hover: str
    norm: float | None  # gradient norm shown by the colour
    group: str  # the user node it belongs to
    column: int = 0
    row: int = 0
    leaf: bool = False  # a source placed under the op that uses it (a parameter)


@dataclass
class Layout:
    units: dict[str, Unit]  # in forward order
    edges: list[tuple[str, str, list[int]]] = field(default_factory=list)  # (from unit, to unit, shape)


def short_name(op: Operation) -> str:
    """What an operation's box says: the parameter of a leaf, the torch name without "Backward0" otherwise."""
    if op.param:
        return op.param
    return op.name.removesuffix("0").removesuffix("Backward")


def shape_text(shape: list[int]) -> str:
    return "×".join(str(s) for s in shape) if shape else "scalar"


def _norm(op: Operation) -> float | None:
    return op.gradient["norm"] if op.gradient else None


def _op_hover(op: Operation) -> str:
    lines = [f"<b>{op.name}</b> in {op.group}"]
    if op.forward:
        lines.append(
            f"value {shape_text(op.forward['shape'])}: mean {op.forward['mean']:.3g}, std {op.forward['std']:.3g}"
        )
    if op.gradient:
        lines.append(f"gradient norm {op.gradient['norm']:.3g}")
    return "<br>".join(lines)


def _units(graph: AutogradGraph, expanded: set[str]) -> tuple[dict[str, Unit], dict[str, str]]:
    """The boxes in forward order, and the unit key of every op id."""
    ops = {op.id: op for op in graph.operations}
    units: dict[str, Unit] = {}
    unit_of: dict[str, str] = {}
    for node_id, group in graph.groups.items():
        if node_id not in expanded:
            key = GROUP_PREFIX + node_id
            norm = f"{group.grad_norm:.3g}" if group.grad_norm is not None else "none"
            hover = f"<b>{node_id}</b> ({group.op}): {len(group.members)} operations, largest gradient norm {norm}"
            units[key] = Unit(key, f"<b>{node_id}</b><br>{group.op}", hover, group.grad_norm, node_id)
            unit_of.update((m, key) for m in group.members)
            continue
        for member in sorted(group.members, key=lambda m: ops[m].level):
            op, key = ops[member], OP_PREFIX + member
            units[key] = Unit(key, short_name(op), _op_hover(op), _norm(op), node_id)
            unit_of[member] = key
    return units, unit_of


def _unit_edges(graph: AutogradGraph, unit_of: dict[str, str]) -> list[tuple[str, str, list[int]]]:
    seen: dict[tuple[str, str], list[int]] = {}
    for edge in graph.edges:
        pair = (unit_of[edge.source], unit_of[edge.target])
        if pair[0] != pair[1] and pair not in seen:
            seen[pair] = edge.shape
    return [(a, b, shape) for (a, b), shape in seen.items()]


def _columns(units: dict[str, Unit], edges: list[tuple[str, str, list[int]]]) -> None:
    """Each unit's column: the longest path to it (Kahn's order); a source sits just left of its first user."""
    users: dict[str, list[str]] = {key: [] for key in units}
    pending = dict.fromkeys(units, 0)
    for a, b, _ in edges:
        users[a].append(b)
        pending[b] += 1
    sources = [key for key, count in pending.items() if count == 0]
    ready = list(reversed(sources))
    while ready:
        key = ready.pop()
        for user in users[key]:
            units[user].column = max(units[user].column, units[key].column + 1)
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    for key in sources:  # parameter leaves: under the op that uses them, not all in column 0
        if users[key] and key.startswith(OP_PREFIX):
            units[key].column = min(units[u].column for u in users[key])
            units[key].leaf = True


def _rows(units: dict[str, Unit]) -> int:
    """Stack the units of a column, leaves under the rest; returns the most rows a column has."""
    filled: dict[int, int] = {}
    for unit in sorted(units.values(), key=lambda u: u.leaf):  # stable: forward order otherwise
        unit.row = filled.get(unit.column, 0)
        filled[unit.column] = unit.row + 1
    return max(filled.values(), default=1)


def graph_layout(graph: AutogradGraph, expanded: set[str]) -> tuple[Layout, int]:
    """The boxes and edges to draw with their places; and the most rows of a column."""
    units, unit_of = _units(graph, expanded)
    edges = _unit_edges(graph, unit_of)
    _columns(units, edges)
    return Layout(units, edges), _rows(units)


def _draw_edges(fig: go.Figure, placed: Layout) -> None:
    xs, ys, mx, my, labels = [], [], [], [], []
    for a, b, shape in placed.edges:
        ua, ub = placed.units[a], placed.units[b]
        bend = ARC if ub.column - ua.column > 1 and ua.row == ub.row else 0.0
        mid = ((ua.column + ub.column) / 2, -(ua.row + ub.row) / 2 + bend)
        xs += [ua.column, mid[0], ub.column, None] if bend else [ua.column, ub.column, None]
        ys += [-ua.row, mid[1], -ub.row, None] if bend else [-ua.row, -ub.row, None]
        mx.append(mid[0])
        my.append(mid[1])
        labels.append(shape_text(shape))
    line = {"color": EDGE_GREY, "width": 1.5}
    fig.add_scatter(x=xs, y=ys, mode="lines", line=line, hoverinfo="skip", showlegend=False)
    font = {"size": 10, "color": MID_GREY}
    fig.add_scatter(
        x=mx,
        y=my,
        mode="text",
        text=labels,
        textposition="top center",
        textfont=font,
        hoverinfo="skip",
        showlegend=False,
    )


def _draw_frames(fig: go.Figure, placed: Layout, expanded: set[str]) -> None:
    """A light frame around the operations of each expanded node, named after it (set at once: plotly's
    add_shape revalidates every shape so far, which is quadratic)."""
    shapes, notes = [], []
    for node_id in expanded:
        members = [u for u in placed.units.values() if u.group == node_id and u.key.startswith(OP_PREFIX)]
        if not members:
            continue
        x0, x1 = min(u.column for u in members) - 0.45, max(u.column for u in members) + 0.45
        y0, y1 = -max(u.row for u in members) - 0.6, -min(u.row for u in members) + 0.4
        frame = {"color": FRAME_LINE, "width": 1}
        shapes.append(
            {
                "type": "rect",
                "x0": x0,
                "x1": x1,
                "y0": y0,
                "y1": y1,
                "line": frame,
                "fillcolor": FRAME_FILL,
                "layer": "below",
            }
        )
        note = {"x": x0, "y": y1, "text": f"<b>{node_id}</b>", "showarrow": False, "font": {"size": 11}}
        notes.append({**note, "xanchor": "left", "yanchor": "bottom"})
    fig.update_layout(shapes=shapes, annotations=notes)


def _lit(unit: Unit) -> bool:
    return unit.norm is not None and unit.norm > 0


def _draw_units(fig: go.Figure, units: list[Unit], selected: str | None) -> None:
    """Boxes with a gradient coloured on the log scale, the others grey; each carries its key as customdata."""
    lit = [u for u in units if _lit(u)]
    logs = [math.log10(u.norm) for u in lit]
    low, high = (min(logs), max(logs)) if logs else (0.0, 1.0)
    if high - low < 1:
        low, high = low - 0.5, high + 0.5
    scale = {
        "colorscale": GRADIENT_SCALE,
        "cmin": low,
        "cmax": high,
        "showscale": True,
        "colorbar": {"title": "log10 |grad|", "thickness": 14},
    }
    _boxes(fig, lit, selected, {"color": logs, **scale})
    _boxes(fig, [u for u in units if not _lit(u)], selected, {"color": NO_VALUE_GREY})


def _boxes(fig: go.Figure, units: list[Unit], selected: str | None, colour: dict) -> None:
    if not units:
        return
    outline = {
        "color": [SELECTED_LINE if u.key == selected else MID_GREY for u in units],
        "width": [3 if u.key == selected else 1 for u in units],
    }
    fig.add_scatter(
        x=[u.column for u in units],
        y=[-u.row for u in units],
        mode="markers+text",
        marker={"size": 26, "symbol": "square", "line": outline, **colour},
        text=[u.label for u in units],
        textposition="bottom center",
        textfont={"size": 10},
        hovertext=[u.hover for u in units],
        hoverinfo="text",
        customdata=[u.key for u in units],
        showlegend=False,
    )


def autograd_figure(graph: AutogradGraph, expanded: set[str], selected: str | None = None) -> go.Figure:
    """The grouped graph; `expanded` node ids show their operations; `selected` (a unit key) is outlined."""
    placed, rows = graph_layout(graph, expanded)
    fig = go.Figure()
    _draw_frames(fig, placed, expanded)
    _draw_edges(fig, placed)
    _draw_units(fig, list(placed.units.values()), selected)
    columns = max((u.column for u in placed.units.values()), default=0)
    fig.update_xaxes(visible=False, range=[-0.6, min(columns, VISIBLE_COLUMNS) + 0.6])
    fig.update_yaxes(visible=False, range=[-rows + 0.2, 0.9])
    height = max(320, min(720, 110 * rows + 130))
    title = f"Autograd graph of one step: {len(graph.operations)} operations in {len(graph.groups)} nodes"
    fig = layout(fig, title, height=height)
    fig.update_layout(dragmode="pan", clickmode="event+select", margin={"l": 20, "r": 20, "t": 50, "b": 20})
    return fig
