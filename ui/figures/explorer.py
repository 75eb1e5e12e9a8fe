"""The Backprop explorer's figure: the expression's graph left to right (inputs left, the output right). An edge
shows its forward value once the forward pass has reached its target (blue, above the edge), and its local
derivative and gradient once the backward pass has (red, below it); the node of the step just taken is ringed."""

from __future__ import annotations

import plotly.graph_objects as go

from builder.explorer.expression import Expression
from builder.explorer.expression_trace import Snapshot, Trace, format_value
from ui.figures.style import MID_GREY, layout

# Colours that read on the app's light and dark backgrounds alike (contrast 3:1 or more on both; tested in
# tests/test_figure_colours.py); texts without a colour take the theme's text colour, fills are translucent.
VALUE_BLUE, GRAD_RED, CURRENT_ORANGE = "#2f7ed8", "#e53935", "#ef6c00"
EDGE_GREY, EDGE_DONE = "rgba(128, 128, 128, 0.45)", MID_GREY  # not reached yet: faint on either background
FILLS = {"input": "rgba(47, 126, 216, 0.2)", "constant": "rgba(128, 128, 128, 0.25)", "op": "rgba(128, 128, 128, 0.06)"}
CURRENT_FILL = "rgba(239, 108, 0, 0.35)"
LABEL_BACKGROUND = "rgba(128, 128, 128, 0.18)"
NODE_SIZE = 46  # px
LABEL_FONT = {"size": 13, "family": "monospace"}
TITLE = (
    f"Computation graph · <span style='color:{VALUE_BLUE}'>value</span> · "
    f"<span style='color:{GRAD_RED}'>∂ local derivative · grad gradient carried back</span>"
)


def _levels(expr: Expression) -> dict[str, int]:
    """Columns: an input in column 0, an operation one right of its furthest input, a constant just left of the
    operation that uses it."""
    level: dict[str, int] = {}
    for node in expr.nodes:
        level[node.id] = 1 + max(level[i] for i in node.inputs) if node.inputs else 0
    for node in expr.nodes:
        for i in node.inputs:
            if expr.node(i).kind == "constant":
                level[i] = level[node.id] - 1
    return level


def _positions(expr: Expression) -> dict[str, tuple[float, float]]:
    """(column, height): each node level with the mean of its inputs, at least one unit below its neighbour."""
    level = _levels(expr)
    consumer = {i: n.id for n in expr.nodes for i in n.inputs}
    y: dict[str, float] = {}
    for column in range(max(level.values()) + 1):
        here = [n for n in expr.nodes if level[n.id] == column]
        wanted: dict[str, float] = {}
        for n in (n for n in here if n.kind != "constant"):
            placed = [y[i] for i in n.inputs if i in y]
            wanted[n.id] = sum(placed) / len(placed) if placed else -float(len(wanted))
        for n in (n for n in here if n.kind == "constant"):
            user = expr.node(consumer[n.id]) if n.id in consumer else None
            others = [y.get(i, wanted.get(i)) for i in (user.inputs if user else ()) if i != n.id]
            others = [o for o in others if o is not None]
            wanted[n.id] = sum(others) / len(others) - 0.5 if others else -float(len(wanted))
        previous = None
        for n in sorted(here, key=lambda n: -wanted[n.id]):
            y[n.id] = wanted[n.id] if previous is None else min(wanted[n.id], previous - 1.0)
            previous = y[n.id]
    return {n.id: (float(level[n.id]), y[n.id]) for n in expr.nodes}


def _edge_ends(expr: Expression, pos: dict, k: int) -> tuple[float, float, float, float]:
    """Start and end of edge k; the edges of a repeated pair (x * x) are drawn apart."""
    edge = expr.edges[k]
    twins = [j for j, e in enumerate(expr.edges) if (e.source, e.target) == (edge.source, edge.target)]
    shift = 0.0 if len(twins) == 1 else 0.35 * (twins.index(k) - (len(twins) - 1) / 2)
    (sx, sy), (tx, ty) = pos[edge.source], pos[edge.target]
    return sx, sy - shift, tx, ty - shift


def _bend(expr: Expression, pos: dict, k: int, ends: tuple[float, float, float, float]) -> tuple[float, float] | None:
    """A point to route edge k through when its straight line would cross another node (x * x + x), else None."""
    sx, sy, tx, ty = ends
    edge = expr.edges[k]
    for node in expr.nodes:
        x, y = pos[node.id]
        if node.id not in (edge.source, edge.target) and sx < x < tx:
            if abs(sy + (ty - sy) * (x - sx) / (tx - sx) - y) < 0.4:
                return (sx + tx) / 2, (sy + ty) / 2 - 0.75
    return None


def _edges(expr: Expression, pos: dict, shown: Snapshot) -> tuple[list[dict], dict[bool, tuple[list, list]]]:
    """Every edge as an arrow with its labels (annotations), and the first legs of bent edges (x and y lists of a
    line trace, None between legs; apart for edges reached and not). Plotly's add_annotation copies the whole
    list each call: one list, set once."""
    notes: list[dict] = []
    legs: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
    for k in range(len(expr.edges)):
        sx, sy, tx, ty = _edge_ends(expr, pos, k)
        done = k in shown.edge_values
        colour, width = (EDGE_DONE, 2) if done else (EDGE_GREY, 1.5)
        mx, my = (sx + tx) / 2, (sy + ty) / 2
        bend = _bend(expr, pos, k, (sx, sy, tx, ty))
        start_off = NODE_SIZE / 2 + 2
        if bend is not None:
            legs[done][0].extend([sx, bend[0], None])
            legs[done][1].extend([sy, bend[1], None])
            (sx, sy), (mx, my), start_off = bend, bend, 0
        notes.append(dict(
            x=tx, y=ty, ax=sx, ay=sy, xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True,
            arrowhead=2, arrowsize=1.1, arrowwidth=width, arrowcolor=colour, standoff=NODE_SIZE / 2 + 2,
            startstandoff=start_off,
        ))  # fmt: skip
        if done:
            notes.append(_edge_text(mx, my, format_value(shown.edge_values[k]), VALUE_BLUE, 11, f"edge_value_{k}"))
        if k in shown.local:
            text = f"∂: {format_value(shown.local[k])} · grad {format_value(shown.flowing[k])}"
            notes.append(_edge_text(mx, my, text, GRAD_RED, -11, f"edge_grad_{k}"))
    return notes, legs


def _edge_text(x: float, y: float, text: str, colour: str, shift: int, name: str) -> dict:
    return dict(
        x=x, y=y, text=text, showarrow=False, yshift=shift, name=name, font={"size": 12, "color": colour},
        borderpad=1,
    )  # fmt: skip


def _draw_nodes(fig: go.Figure, tr: Trace, pos: dict, shown: Snapshot) -> None:
    nodes = tr.expression.nodes
    current = [n.id == shown.current for n in nodes]
    fig.add_scatter(
        x=[pos[n.id][0] for n in nodes],
        y=[pos[n.id][1] for n in nodes],
        mode="markers+text",
        text=[n.name for n in nodes],
        textfont={**LABEL_FONT, "size": 15},
        hovertext=[_hover(n.label, n.id, shown) for n in nodes],
        hoverinfo="text",
        marker={
            "size": NODE_SIZE,
            "color": [CURRENT_FILL if c else FILLS[n.kind] for n, c in zip(nodes, current)],
            "line": {
                "color": [CURRENT_ORANGE if c else MID_GREY for c in current],
                "width": [4 if c else 1.5 for c in current],
            },
        },
        showlegend=False,
    )


def _node_notes(tr: Trace, pos: dict, shown: Snapshot) -> list[dict]:
    """An operation's label above it; its value (blue) and gradient (red) below it once known."""
    notes = []
    for n in tr.expression.nodes:
        x, y = pos[n.id]
        if n.kind == "op":
            notes.append(dict(
                x=x, y=y, text=n.label, showarrow=False, xanchor="left", xshift=-NODE_SIZE / 4,
                yshift=NODE_SIZE / 2 + 10, font=LABEL_FONT, bgcolor=LABEL_BACKGROUND,
            ))  # fmt: skip
        below = [(format_value(shown.values[n.id]), VALUE_BLUE)] if n.id in shown.values else []
        if n.id in shown.grads:
            below.append((f"grad {format_value(shown.grads[n.id])}", GRAD_RED))
        for row, (text, colour) in enumerate(below):
            shift = -(NODE_SIZE / 2 + 10 + 16 * row)
            font = {"size": 12, "color": colour}
            notes.append(dict(x=x, y=y, text=text, showarrow=False, yshift=shift, font=font, name=f"node_{n.id}"))
    return notes


def _hover(label: str, node_id: str, shown: Snapshot) -> str:
    value = format_value(shown.values[node_id]) if node_id in shown.values else "not yet"
    grad = format_value(shown.grads[node_id]) if node_id in shown.grads else "not yet"
    return f"{label}<br>value {value}<br>gradient {grad}"


def explorer_figure(tr: Trace, shown: Snapshot) -> go.Figure:
    """The graph at this snapshot; edge labels are annotations named edge_value_<k> and edge_grad_<k>."""
    expr = tr.expression
    pos = _positions(expr)
    fig = go.Figure()
    notes, legs = _edges(expr, pos, shown)
    for done, (xs, ys) in legs.items():
        line = {"color": EDGE_DONE if done else EDGE_GREY, "width": 2 if done else 1.5}
        fig.add_scatter(x=xs, y=ys, mode="lines", line=line, hoverinfo="skip", showlegend=False)
    _draw_nodes(fig, tr, pos, shown)
    fig.update_layout(annotations=notes + _node_notes(tr, pos, shown))
    columns = max(x for x, _ in pos.values())
    heights = [y for _, y in pos.values()] + [y for _, ys in legs.values() for y in ys if y is not None]
    rows = max(heights) - min(heights)
    axis = {"visible": False, "fixedrange": True}
    fig.update_xaxes(range=[-0.4, columns + 0.6], **axis)
    fig.update_yaxes(range=[min(heights) - 0.7, max(heights) + 0.7], **axis)
    fig.update_layout(margin={"l": 20, "r": 20, "t": 50, "b": 20}, dragmode=False)
    return layout(fig, TITLE, height=int(max(340, 150 * (rows + 1) + 90)))
