"""The gallery's drawing of a graph: one box per top-level node, one arrow per edge, text escaped, colours that
read on both themes."""

import xml.etree.ElementTree as ET

import pytest

from builder.editor.canvas_picture import GROUP_COLOURS
from builder.editor.graph_svg import ARROW_GREY, contrast, graph_svg, text_colour
from builder.library.block_library import resnet18
from builder.library.templates import TEMPLATES
from builder.spec.spec import Edge, GraphSpec, Node, parse_spec

SVG = "{http://www.w3.org/2000/svg}"
STREAMLIT_DARK_BACKGROUND = "#0e1117"


def _parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on markup that is not well-formed (an unescaped '<' or '&')


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_one_box_per_node_and_one_arrow_per_edge(name):
    spec = TEMPLATES[name].spec()
    root = _parsed(graph_svg(spec))
    boxes = root.findall(f".//{SVG}rect[@class='node']")
    arrows = root.findall(f".//{SVG}line[@class='edge']")
    assert sorted(b.get("data-id") for b in boxes) == sorted(n.id for n in spec.nodes)
    assert len(arrows) == len(spec.edges)


def test_a_block_is_one_box_named_after_its_block():
    spec, issues = parse_spec(resnet18("r18", [1, 8, 8], 10))
    assert spec is not None, issues
    root = _parsed(graph_svg(spec))
    uses = [n for n in spec.nodes if n.op == "Block"]
    assert uses and len(root.findall(f".//{SVG}rect")) == len(spec.nodes)  # the bodies' nodes are not drawn
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert all(n.params["block"][:9] in " ".join(labels) for n in uses)


def test_ids_and_names_are_escaped():
    hostile = 'a<b>&"c'
    spec = GraphSpec(
        name='net"<x>',
        nodes=[Node("x", "Input", {"shape": [2]}), Node(hostile, "Lin<ear>&", {})],
        edges=[Edge("x", hostile)],
    )
    svg = graph_svg(spec)
    assert "<b>" not in svg and "<ear>" not in svg and "<x>" not in svg
    root = _parsed(svg)
    ids = [r.get("data-id") for r in root.iter(f"{SVG}rect")]
    assert hostile in ids  # the parser gives back the original text
    assert any(t.text == "x: Input" for t in root.iter(f"{SVG}title"))
    assert any((t.text or "").startswith("Lin<ear>") for t in root.iter(f"{SVG}text"))


def test_positions_from_the_spec_are_kept_and_arrows_point_at_the_target():
    spec = GraphSpec(
        nodes=[Node("x", "Input", {"shape": [2]}, {"x": 0, "y": 0}), Node("fc", "Linear", {}, {"x": 400, "y": 0})],
        edges=[Edge("x", "fc")],
    )
    root = _parsed(graph_svg(spec))
    rects = {r.get("data-id"): float(r.get("x")) for r in root.iter(f"{SVG}rect")}
    assert rects == {"x": 0.0, "fc": 400.0}
    line = root.find(f".//{SVG}line")
    assert float(line.get("x1")) == 170 and float(line.get("x2")) == 400  # border to border, left to right


def test_the_drawing_fits_the_size_asked_for():
    root = _parsed(graph_svg(TEMPLATES["lenet"].spec(), width=200, max_height=60))
    assert float(root.get("width")) <= 200 and float(root.get("height")) <= 60


def test_an_empty_graph_is_an_empty_drawing():
    root = _parsed(graph_svg(GraphSpec()))
    assert root.findall(f".//{SVG}rect") == []


def test_contrast_is_wcag_ratio():
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#777777", "#777777") == pytest.approx(1.0)


@pytest.mark.parametrize("group", list(GROUP_COLOURS))
def test_box_text_reads_on_every_group_colour(group):
    fill = GROUP_COLOURS[group]
    assert contrast(text_colour(fill), fill) >= 4.5  # WCAG AA for normal text


def test_arrows_read_on_a_light_and_a_dark_page():
    assert contrast(ARROW_GREY, "#ffffff") >= 3 and contrast(ARROW_GREY, STREAMLIT_DARK_BACKGROUND) >= 3
