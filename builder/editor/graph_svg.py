"""A small SVG drawing of a spec's top-level graph, for the templates gallery's cards (pure text, no streamlit).

    svg = graph_svg(TEMPLATES["lenet"].spec())  # '<svg xmlns=... viewBox=...><rect class="node" .../>...</svg>'

One box per top-level node (a Block is one box named after its block), coloured by its op group as on the
canvas, and one arrow per edge, from box border to box border. Positions come from each node's `ui` or, when
some node has none, from `builder.editor.layout.layered_layout`: the small Python layering, wrapped into bands, not
ELK's layout, which runs only in the canvas component (a thumbnail is drawn on the server, with no browser to run
it), so a template without positions looks a little different here than on the canvas. The background is
transparent and every colour reads on a light and on a dark page: the boxes carry their own fill and text colour,
the arrows are a middle grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from builder.editor.canvas_picture import GROUP_COLOURS, UNKNOWN_OP
from builder.editor.layout import NODE_WIDTH, layered_layout, needs_layout
from builder.ops.catalog import CATALOG
from builder.spec.blocks import used_block
from builder.spec.spec import GraphSpec, Node

ARROW_GREY = "#8a9099"  # contrast about 3:1 on white and on Streamlit's dark background (#0e1117)
DARK_TEXT, LIGHT_TEXT = "#000000", "#ffffff"
FONT_SIZE = 26  # in layout units: a box is NODE_WIDTH x NODE_HEIGHT (170 x 100)
LABEL_CHARS = 10  # longer labels are cut with an ellipsis (the full text is in the box's tooltip)
PADDING = 20
BOX_HEIGHT = 70  # drawn a little lower than the canvas card, so the arrows between bands show


@dataclass(frozen=True)
class Box:
    x: float  # top-left corner, layout units
    y: float
    label: str
    tooltip: str
    fill: str

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + NODE_WIDTH / 2, self.y + BOX_HEIGHT / 2


def group_fill(node: Node) -> str:
    """The canvas's accent colour of the node's op group; blocks share one colour, an unknown op is red."""
    if node.op == "Block":
        return GROUP_COLOURS["blocks"]
    op = CATALOG.get(node.op)
    return GROUP_COLOURS.get(op.group, UNKNOWN_OP) if op is not None else UNKNOWN_OP


def luminance(colour: str) -> float:
    """WCAG relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours, 1 (same) to 21 (black on white)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour(fill: str) -> str:
    """Near-black or white, whichever contrasts more with `fill`."""
    return max((DARK_TEXT, LIGHT_TEXT), key=lambda text: contrast(text, fill))


def _label(node: Node) -> str:
    block = used_block(node) if node.op == "Block" else None
    text = str(block) if block is not None else node.op
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def boxes(spec: GraphSpec) -> dict[str, Box]:
    """node id -> its box, positioned by the spec's layout (laid out first when some node has no position)."""
    placed = layered_layout(spec) if needs_layout(spec) else spec
    found = {}
    for node in placed.nodes:
        tooltip = f"{node.id}: {node.op}" + (f" {used_block(node)}" if node.op == "Block" else "")
        found[node.id] = Box(float(node.ui["x"]), float(node.ui["y"]), _label(node), tooltip, group_fill(node))
    return found


def _border_point(box: Box, towards: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from the box's centre towards `towards` leaves the box."""
    (cx, cy), (tx, ty) = box.centre, towards
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(NODE_WIDTH / 2 / abs(dx) if dx else float("inf"), BOX_HEIGHT / 2 / abs(dy) if dy else float("inf"))
    return cx + dx * min(scale, 1.0), cy + dy * min(scale, 1.0)


def _arrow(source: Box, target: Box, marker: str) -> str:
    x1, y1 = _border_point(source, target.centre)
    x2, y2 = _border_point(target, source.centre)
    return f'<line class="edge" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" marker-end="url(#{marker})"/>'


def _box(node_id: str, box: Box) -> str:
    cx, cy = box.centre
    return (
        f"<g><title>{escape(box.tooltip)}</title>"
        f'<rect class="node" data-id="{escape(node_id)}" x="{box.x:.0f}" y="{box.y:.0f}" width="{NODE_WIDTH}" '
        f'height="{BOX_HEIGHT}" rx="14" fill="{box.fill}"/>'
        f'<text x="{cx:.0f}" y="{cy:.0f}" fill="{text_colour(box.fill)}" font-size="{FONT_SIZE}" '
        f'text-anchor="middle" dominant-baseline="central">{escape(box.label)}</text></g>'
    )


def graph_svg(spec: GraphSpec, width: int = 260, max_height: int = 180) -> str:
    """The drawing, `width` pixels wide (lower when `max_height` would be passed); arrows under the boxes."""
    placed = boxes(spec)
    if not placed:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="24" role="img"></svg>'
    left = min(b.x for b in placed.values()) - PADDING
    top = min(b.y for b in placed.values()) - PADDING
    view_w = max(b.x for b in placed.values()) + NODE_WIDTH + PADDING - left
    view_h = max(b.y for b in placed.values()) + BOX_HEIGHT + PADDING - top
    scale = min(width / view_w, max_height / view_h)  # pixels per layout unit
    marker = "arrow-" + "".join(c if c.isalnum() else "-" for c in spec.name)  # unique: inlined drawings share the page
    edges = [e for e in spec.edges if e.source in placed and e.target in placed]
    arrows = "".join(_arrow(placed[e.source], placed[e.target], marker) for e in edges)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{view_w * scale:.0f}" height="{view_h * scale:.0f}" '
        f'viewBox="{left:.0f} {top:.0f} {view_w:.0f} {view_h:.0f}" role="img" '
        f'aria-label="{escape(spec.name)}: {len(placed)} nodes" font-family="sans-serif">'
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{ARROW_GREY}"/></marker></defs>'
        f'<g stroke="{ARROW_GREY}" stroke-width="5">{arrows}</g>'
        f"{''.join(_box(node_id, box) for node_id, box in placed.items())}</svg>"
    )
