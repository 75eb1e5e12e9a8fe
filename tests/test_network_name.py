"""A network has a name: edited on the Build page through the editor and its undo history, validated (1 to 64
letters, digits, spaces, '-', '_' or '.'), and used for the saved file and the export's class and file names."""

from __future__ import annotations

import ast
import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from builder.analysis.validate import analyze
from builder.editor.edit import rename_network
from builder.editor.session import EditorSession
from engine.compile.fx_module import compile_analysis
from engine.export.exporter import safe_name
from engine.export.python_source import model_source
from ui.build.toolbar import _file_name

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


@pytest.mark.parametrize("name", ["iris v2", "a", "x" * 64, "My-net_1.0", "  padded  "])
def test_a_good_name_is_taken_stripped(name):
    spec, why_not = rename_network(EditorSession().spec, name)
    assert why_not is None and spec.name == name.strip()


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "network name is empty; give it 1 to 64 characters: letters, digits, spaces, '-', '_' or '.'"),
        ("   ", "network name is empty; give it 1 to 64 characters"),
        ("x" * 65, "network name has 65 characters; give it 1 to 64 characters"),
        ("a/b", "network name 'a/b' holds '/'; give it 1 to 64 characters"),
        ('net"; import os', "network name 'net\"; import os' holds '\"', ';'; give it"),
        ("two\nlines", "network name 'two\\nlines' holds '\\n'; give it"),
        ("réseau", "network name 'réseau' holds 'é'; give it"),
    ],
)
def test_a_bad_name_is_refused_with_a_message_and_changes_nothing(name, message):
    editor = EditorSession()
    before = (editor.spec.to_dict(), editor.version, list(editor.history.past))
    editor.set_name(name)
    assert editor.notice.kind == "error" and editor.notice.text.startswith("Not renamed: " + message)
    assert (editor.spec.to_dict(), editor.version, list(editor.history.past)) == before


def test_renaming_is_an_edit_that_undo_and_redo_take_back():
    editor = EditorSession()
    first = editor.spec.name
    editor.set_name("iris v2")
    assert editor.spec.name == "iris v2" and editor.history.can_undo
    editor.undo()
    assert editor.spec.name == first
    editor.redo()
    assert editor.spec.name == "iris v2"
    version = editor.version
    editor.set_name("iris v2")  # the same name again is no edit
    assert editor.version == version


def test_the_name_names_the_saved_file_and_the_exported_class_and_files():
    editor = EditorSession()
    editor.set_name("iris v2.1")
    assert _file_name(editor.spec) == "iris_v2_1.json"
    assert safe_name(editor.spec.name) == "iris_v2_1"  # <name>.zip and <name>_pytorch.zip
    analysis = analyze(editor.spec)
    tree = ast.parse(model_source(compile_analysis(analysis), analysis, {}))
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["IrisV21"]


# --- the Build page's field ------------------------------------------------------------------------------


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    assert not app.exception
    return app


def name_field(at: AppTest):
    (field,) = [t for t in at.text_input if t.key == "network_name"]
    return field


def test_the_build_page_renames_the_network_and_undo_brings_the_old_name_back(at):
    old = name_field(at).value
    name_field(at).set_value("iris v2").run()
    assert not at.exception and at.session_state["build_editor"].spec.name == "iris v2"
    assert name_field(at).value == "iris v2"
    next(b for b in at.button if b.label == "Undo").click().run()
    assert at.session_state["build_editor"].spec.name == old and name_field(at).value == old


def test_the_build_page_refuses_a_bad_name_and_shows_the_old_one(at):
    old = name_field(at).value
    name_field(at).set_value("bad/name").run()
    assert not at.exception and at.session_state["build_editor"].spec.name == old
    assert any("Not renamed: network name 'bad/name' holds '/'" in e.value for e in at.error)
    assert name_field(at).value == old


def test_the_field_follows_a_loaded_template(at):
    """A template's Load changes the network under the field: the field shows the template's name (Streamlit sends
    the value as one to apply, so the browser cannot keep showing the last network's name)."""
    next(b for b in at.button if b.label == "Templates").click().run()
    next(b for b in at.button if b.key == "template_perceptron").click().run()
    assert not at.exception and at.session_state["build_editor"].spec.name == "perceptron"
    assert name_field(at).value == "perceptron"
    assert name_field(at).proto.set_value  # sent as a value to apply, not as a new field's default
