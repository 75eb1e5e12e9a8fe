"""The app's CSS is on every page (issue 22): select menus as wide as their longest option, long ones wrapped,
never cut with "…"."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def test_the_train_page_carries_the_rule_that_widens_and_wraps_select_menus():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    styles = [h.proto.body for h in at.get("html")]
    menu = "[data-testid='stSelectboxVirtualDropdown']"
    assert any(f"{menu} {{width: max-content !important" in s for s in styles), styles
    assert any(f"{menu} [role='option'] > div {{white-space: normal !important" in s for s in styles)
    assert any("[data-testid='stMainBlockContainer'] {padding-top: 2.5rem}" in s for s in styles)
