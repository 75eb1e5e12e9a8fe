"""The canvas component: React Flow in a Streamlit `st.components.v2` component, served from `ui/canvas/static/`.

    event = flow_canvas(data, key="build_canvas", on_event=callback)   # this rerun's event, or None

`data` is the payload of the canvas protocol (rev, nodes, edges, palette, selection, ...: see
tests/fixtures/canvas_payload.json for one); the result is the one event the component sent since the last
rerun (`{"client", "seq", "kind", ...}`), or None. Always pass the same `key`: without it the component
remounts on a data change and loses its viewport.

The bundle is served from the asset directory declared in pyproject.toml
(`[[tool.streamlit.component.components]]`, name `flow_canvas`, `asset_dir = "ui/canvas/static"`), not inlined
(inline JS would be resent on every rerun, ~420 KB). Streamlit finds such declarations only in installed
distributions, and NetCanvas runs from its checkout, so `flow_canvas` registers the declaration with the
running Streamlit's component manager itself, once per runtime (AppTest starts a fresh runtime each time).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager
from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
PROJECT = "netcanvas"
COMPONENT = "flow_canvas"
NAME = f"{PROJECT}.{COMPONENT}"  # the name Streamlit serves it under: /_stcore/bidi-components/<NAME>/...
JS_FILE = "flow_canvas.js"
CSS_FILE = "flow_canvas.css"
EVENT = "event"  # the one trigger value the component sets, once per gesture


def declared_asset_dir(pyproject: Path = PYPROJECT) -> str:
    """The `asset_dir` pyproject.toml declares for the canvas component (relative to the repository root)."""
    with open(pyproject, "rb") as f:
        config = tomllib.load(f)
    components = config.get("tool", {}).get("streamlit", {}).get("component", {}).get("components", [])
    for entry in components:
        if entry.get("name") == COMPONENT and isinstance(entry.get("asset_dir"), str):
            return entry["asset_dir"]
    raise RuntimeError(f"{pyproject} declares no [[tool.streamlit.component.components]] named {COMPONENT!r}")


def asset_root() -> Path:
    return ROOT / declared_asset_dir()


def _register_asset_dir(manager) -> None:
    """Tell this runtime's component manager where the bundle lives (what Streamlit's scan does for packages)."""
    if manager.get_component_asset_root(NAME) is not None:
        return
    config = ComponentConfig(name=COMPONENT, asset_dir=declared_asset_dir())
    manager.register_from_manifest(ComponentManifest(name=PROJECT, version="0", components=[config]), ROOT)


def _mount_function():
    _register_asset_dir(get_bidi_component_manager())
    return st.components.v2.component(NAME, js=JS_FILE, css=CSS_FILE, isolate_styles=True)


def _ignore_event() -> None:
    """The component's trigger needs a callback to be kept; the caller may have none."""


def flow_canvas(data: dict[str, Any], *, key: str, on_event: Callable[[], None] | None = None) -> dict | None:
    """Draw the canvas for `data` and return the event it sent since the last rerun, or None."""
    mount = _mount_function()
    result = mount(key=key, data=data, on_event_change=on_event or _ignore_event)
    event = result.get(EVENT)
    return event if isinstance(event, dict) else None
