"""The canvas component's committed bundle: built from the sources as they are, and where Streamlit serves it.

The bundle (ui/canvas/static/flow_canvas.js and .css) is committed so the app needs no Node.js;
scripts/build_canvas.sh rebuilds it and records the sha256 of its sources in ui/canvas/static/SOURCES.sha256.
A source changed without a rebuild fails here.
"""

from __future__ import annotations

import json
import os
import shutil

from streamlit.components.v2.component_manager import BidiComponentManager
from streamlit.testing.v1 import AppTest

from ui.canvas import component, sources

DEMO = sources.ROOT / "devtools" / "canvas_demo.py"


def test_the_committed_bundle_was_built_from_the_sources_as_they_are():
    recorded = sources.recorded_hash()
    assert recorded is not None, f"{sources.HASH_FILE} is missing: run `bash scripts/build_canvas.sh`"
    assert recorded == sources.sources_hash(), (
        "the canvas bundle is older than its sources (ui/canvas/frontend, scripts/build_canvas.sh): "
        "run `bash scripts/build_canvas.sh` and commit ui/canvas/static/"
    )


def copy_sources(tmp_path):
    for path in sources.source_files():
        target = tmp_path / path.relative_to(sources.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return tmp_path


def test_the_hash_follows_contents_not_mtimes(tmp_path):
    root = copy_sources(tmp_path)
    assert sources.sources_hash(root) == sources.sources_hash()
    source = root / "ui" / "canvas" / "frontend" / "src" / "Canvas.jsx"
    os.utime(source, (1, 1))  # a checkout's new mtime changes nothing
    assert sources.sources_hash(root) == sources.sources_hash()
    source.write_text(source.read_text() + "\n// edited\n")
    assert sources.sources_hash(root) != sources.sources_hash()
    (root / "ui" / "canvas" / "frontend" / "src" / "extra.js").write_text("export const x = 1;\n")
    source.write_text((sources.FRONTEND / "src" / "Canvas.jsx").read_text())
    assert sources.sources_hash(root) != sources.sources_hash()  # a new source file counts too


def test_the_declared_asset_dir_holds_the_bundle():
    root = component.asset_root()
    assert root == sources.STATIC
    script = (root / component.JS_FILE).read_text()
    assert "as default" in script  # an ES module whose default export Streamlit calls
    assert ".react-flow" in (root / component.CSS_FILE).read_text()  # React Flow's own CSS is in the bundle


def test_the_component_registers_with_its_files_in_a_fresh_manager():
    manager = BidiComponentManager()
    component._register_asset_dir(manager)
    assert manager.get_component_asset_root(component.NAME) == sources.STATIC.resolve()
    definition = manager.build_definition_with_validation(
        component_key=component.NAME, html=None, css=component.CSS_FILE, js=component.JS_FILE
    )
    assert definition.js_url == "flow_canvas.js" and definition.css_url == "flow_canvas.css"
    component._register_asset_dir(manager)  # a second call changes nothing
    assert manager.get_component_asset_root(component.NAME) == sources.STATIC.resolve()


def mounted_component(block):
    """The proto of the first st.components.v2 element under this AppTest block."""
    for child in block.children.values():
        proto = getattr(child, "proto", None)
        if proto is not None and type(proto).__name__ == "BidiComponent":
            return proto
        if getattr(child, "children", None):
            found = mounted_component(child)
            if found is not None:
                return found
    return None


def test_the_demo_mounts_the_component_with_the_payload_and_a_served_bundle():
    app = AppTest.from_file(str(DEMO), default_timeout=60)
    app.run()
    assert not app.exception
    mounted = mounted_component(app.main)
    assert mounted.component_name == "netcanvas.flow_canvas"
    assert mounted.js_source_path == "flow_canvas.js" and not mounted.js_content  # served, not inlined
    assert mounted.css_source_path == "flow_canvas.css" and mounted.isolate_styles
    assert json.loads(mounted.json)["nodes"][0]["id"] == "x"
    assert [caption.value for caption in app.caption] == ["reruns: 1"]
