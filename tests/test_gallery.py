"""The templates gallery on the Build page (AppTest): a card per template with its drawing and tags, a filter that
narrows the cards and says how many match, and Load that loads (one Undo away) and closes the dialog."""

from __future__ import annotations

import base64
import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from builder.library.templates import TEMPLATES

SVG_URL = "data:image/svg+xml;base64,"
APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    next(b for b in app.button if b.label == "Templates").click().run()
    assert not app.exception
    return app


def cards(at: AppTest) -> list[str]:
    """The templates whose Load button the dialog shows."""
    return [b.key.removeprefix("template_") for b in at.button if (b.key or "").startswith("template_")]


def match_count(at: AppTest) -> str:
    return next(c.value for c in at.caption if "match" in c.value)


def drawings(at: AppTest) -> list[str]:
    """The SVG text of every image the page shows (st.image sends an SVG as a base64 data URL)."""
    urls = [img.url for element in at.get("image") for img in element.proto.imgs]
    return [base64.b64decode(u.split(",", 1)[1]).decode() for u in urls if u.startswith(SVG_URL)]


def test_every_template_has_a_card_with_its_drawing_and_tags(at):
    assert cards(at) == list(TEMPLATES)
    assert match_count(at) == f"{len(TEMPLATES)} of {len(TEMPLATES)} templates match"
    svgs = [body for body in drawings(at) if body.startswith("<svg")]
    assert len(svgs) == len(TEMPLATES)
    assert 'aria-label="lenet: 11 nodes"' in " ".join(svgs)
    tags = [m.value for m in at.markdown if "-badge[" in m.value]
    assert ":blue-badge[iris] :green-badge[clustering] :orange-badge[SOM rule]" in tags


def test_the_filter_narrows_the_cards_and_says_how_many_match(at):
    at.selectbox(key="gallery_rule").set_value("som").run()
    assert cards(at) == ["som_iris", "som_digits"]
    assert match_count(at) == f"2 of {len(TEMPLATES)} templates match"
    at.selectbox(key="gallery_dataset").set_value("iris").run()
    assert cards(at) == ["som_iris"]
    at.selectbox(key="gallery_rule").set_value(None).run()
    at.selectbox(key="gallery_dataset").set_value(None).run()
    at.text_input(key="gallery_search").input("residual").run()
    assert cards(at) == ["resnet_mini"]
    at.text_input(key="gallery_search").input("no such network").run()
    assert cards(at) == [] and any(c.value == "No template matches the filter." for c in at.caption)


def test_load_from_a_filtered_gallery_loads_the_template_and_closes_it(at):
    at.selectbox(key="gallery_task").set_value("regression").run()
    assert "lstm_sine" in cards(at) and "lenet" not in cards(at)
    next(b for b in at.button if b.key == "template_lstm_sine").click().run()
    assert not at.exception
    assert at.session_state["build_editor"].spec.name == "lstm_sine"
    assert cards(at) == []  # the dialog is closed
    next(b for b in at.button if b.label == "Undo").click().run()
    assert at.session_state["build_editor"].spec.name != "lstm_sine"
