"""Where nodes go before the canvas has laid them out, and how Python asks the canvas to lay them out.

Everything the Build page's canvas shows is laid out by ELK's layered algorithm, which runs in the canvas
component (ui/canvas/frontend/src/layout.js; docs/ARCHITECTURE.md, "The canvas component"). Python cannot run
ELK, so a node that Python places (a template or a file without positions, auto-layout, an opened body without
positions, an expanded block's body, a node inserted onto an edge or by a Fix) gets a provisional position and
the flag `ui["auto"] = True`. The canvas's payload lists the flagged nodes (`layout_request`: "all" or their
ids); the component lays them out with ELK, makes room for them, and sends the positions back as one
`move_end` event marked `layout`, which clears the flags (`placed`). The provisional positions come from the
small layered layout below, which is also all that the gallery's SVG thumbnails (builder/editor/graph_svg.py),
the Train page's read-only picture of a run's network and the CLI use: none of them has the component.

The small layout:

Layer = length of the longest path from a source, so every edge points right. Within a layer, nodes
are ordered by the mean row of their producers (a barycenter sweep), which keeps chains straight and
branches apart. Cycles (an invalid graph) are laid out on the acyclic part; the rest follows.

A long chain (LeNet has 11 layers) laid out on one line would have to be shrunk until nobody can read it,
so the layers are wrapped into bands, like lines of text: each band reads left to right and the next band
starts below it. The band length is the longest one that still shows the whole graph at a readable zoom
on a canvas of the given size.
"""

from __future__ import annotations

import networkx as nx

from builder.spec.spec import GraphSpec

LAYER_GAP = 270  # node width on the canvas (170) plus room for the edge's shape label
ROW_GAP = 130
NODE_WIDTH, NODE_HEIGHT = 170, 100  # about the size of a node card on the canvas
BAND_GAP = 70  # vertical room between two bands, for the edge that wraps from one to the next
VIEW = (900, 560)  # the canvas, in pixels, that a laid-out graph should fit
READABLE_ZOOM = 0.8
EXHAUSTIVE_LAYERS = 400  # up to this many layers every band length is tried (cost: layers squared)
AUTO = "auto"  # ui flag: placed by Python for now; the canvas lays the node out with ELK and clears the flag


def _graph(spec: GraphSpec) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(n.id for n in spec.nodes)
    g.add_edges_from((e.source, e.target) for e in spec.edges if e.source in g and e.target in g)
    return g


def _layers(spec: GraphSpec, g: nx.DiGraph) -> dict[str, int]:
    dag = g.copy()
    while not nx.is_directed_acyclic_graph(dag):
        dag.remove_edge(*nx.find_cycle(dag)[-1])
    layer: dict[str, int] = {}
    position = {n.id: i for i, n in enumerate(spec.nodes)}
    for node in nx.lexicographical_topological_sort(dag, key=position.__getitem__):
        layer[node] = max((layer[p] + 1 for p in dag.predecessors(node)), default=0)
    return layer


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rows(spec: GraphSpec, g: nx.DiGraph, layer: dict[str, int]) -> dict[str, float]:
    columns: dict[int, list[str]] = {}
    for n in spec.nodes:
        columns.setdefault(layer[n.id], []).append(n.id)
    row: dict[str, float] = {}
    for k in sorted(columns):
        bary = {n: _mean([row[p] for p in g.predecessors(n) if p in row]) for n in columns[k]}
        ordered = sorted(columns[k], key=lambda n: (bary[n] is None, bary[n] or 0.0))
        centre = _mean([b for b in bary.values() if b is not None]) or 0.0
        for i, node in enumerate(ordered):
            row[node] = centre - (len(ordered) - 1) / 2 + i
    return row


def _bands(layer_rows: list[tuple[float, float]], length: int) -> list[tuple[int, float, float]]:
    """(first layer, top y, lowest row) of each band when `length` layers go in one band."""
    bands, top = [], 0.0
    for first in range(0, len(layer_rows), length):
        chunk = layer_rows[first : first + length]
        low, high = min(r[0] for r in chunk), max(r[1] for r in chunk)
        bands.append((first, top, low))
        top += (high - low) * ROW_GAP + NODE_HEIGHT + BAND_GAP
    return bands


def _zoom(layer_rows: list[tuple[float, float]], length: int, view: tuple[int, int]) -> float:
    """The zoom at which a canvas of size `view` shows the whole graph, wrapped at `length` layers."""
    bands = _bands(layer_rows, length)
    last_first, last_top, _ = bands[-1]
    last = layer_rows[last_first : last_first + length]
    height = last_top + (max(r[1] for r in last) - min(r[0] for r in last)) * ROW_GAP + NODE_HEIGHT
    width = (min(length, len(layer_rows)) - 1) * LAYER_GAP + NODE_WIDTH
    return min(view[0] / width, view[1] / height, 1.0)


def _candidate_lengths(n_layers: int, view: tuple[int, int]) -> list[int]:
    """Band lengths worth trying, longest first. Every length up to EXHAUSTIVE_LAYERS layers; above, each try
    costs a pass over the layers, so: every length short enough to be readable (the width alone allows a few),
    then lengths a tenth apart (a tenth longer band changes the zoom by a tenth at most), and the whole graph in
    one band."""
    if n_layers <= EXHAUSTIVE_LAYERS:
        return list(range(n_layers, 0, -1))
    widest = int((view[0] / READABLE_ZOOM - NODE_WIDTH) / LAYER_GAP) + 1
    lengths, k = set(range(1, widest + 1)), float(widest)
    while k < n_layers:
        k *= 1.1
        lengths.add(min(n_layers, round(k)))
    return sorted(lengths | {n_layers}, reverse=True)


def band_length(layer_rows: list[tuple[float, float]], view: tuple[int, int] = VIEW) -> int:
    """Layers per band: the longest band that keeps the graph readable; else the one that zooms most."""
    lengths = _candidate_lengths(len(layer_rows), view)
    zooms = {k: _zoom(layer_rows, k, view) for k in lengths}
    readable = [k for k in lengths if zooms[k] >= READABLE_ZOOM]
    return readable[0] if readable else max(lengths, key=lambda k: (zooms[k], k))


def layered_layout(spec: GraphSpec, view: tuple[int, int] = VIEW) -> GraphSpec:
    """A copy of `spec` with every node placed on a left-to-right layered grid, wrapped into bands, and flagged
    for the canvas's own layout (`AUTO`)."""
    out = spec.copy()
    if not out.nodes:
        return out
    g = _graph(out)
    layer = _layers(out, g)
    row = _rows(out, g, layer)
    n_layers = max(layer.values()) + 1
    layer_rows = [(float("inf"), float("-inf"))] * n_layers
    for node_id, k in layer.items():
        low, high = layer_rows[k]
        layer_rows[k] = (min(low, row[node_id]), max(high, row[node_id]))
    length = band_length(layer_rows, view)
    bands = _bands(layer_rows, length)
    for node in out.nodes:
        first, top, low = bands[layer[node.id] // length]
        x = (layer[node.id] - first) * LAYER_GAP
        node.ui = {**node.ui, "x": x, "y": round(top + (row[node.id] - low) * ROW_GAP), AUTO: True}
    return out


def needs_layout(spec: GraphSpec) -> bool:
    """True when some node has no position yet (a template or file without canvas data)."""
    return any(not {"x", "y"} <= set(n.ui) for n in spec.nodes)


def flag_for_layout(node) -> None:
    """Mark a node placed by Python (provisionally) for the canvas's ELK layout."""
    node.ui = {**node.ui, AUTO: True}


def placed(spec: GraphSpec, ids) -> GraphSpec:
    """`spec` with the layout flag cleared on these nodes (the canvas has placed them); the same object when none
    of them was flagged."""
    ids = set(ids)
    if not any(n.id in ids and n.ui.get(AUTO) for n in spec.nodes):
        return spec
    out = spec.copy()
    for node in out.nodes:
        if node.id in ids and AUTO in node.ui:
            node.ui = {k: v for k, v in node.ui.items() if k != AUTO}
    return out


def layout_request(spec: GraphSpec) -> str | list[str] | None:
    """What the canvas should lay out with ELK: "all" when every node is flagged, else the flagged ids (None:
    nothing). Linear in the graph."""
    flagged = [n.id for n in spec.nodes if n.ui.get(AUTO) is True]
    if not flagged:
        return None
    return "all" if len(flagged) == len(spec.nodes) else flagged
