"""The network's name is the first field of the Build page (issue 22): in the toolbar, above the canvas, not
under the Summary below the fold."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

from tests.helpers import elements_in_order

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def test_the_name_field_comes_before_the_toolbars_buttons_and_the_summary():
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    elements = elements_in_order(at)
    where = {
        "name": next(i for i, e in enumerate(elements) if getattr(e, "label", None) == "Network name"),
        "templates": next(i for i, e in enumerate(elements) if getattr(e, "label", None) == "Templates"),
        "summary": next(i for i, e in enumerate(elements) if getattr(e, "value", None) == "Summary"),
    }
    assert where["name"] < where["templates"] < where["summary"], where
