"""The Export page through Streamlit's AppTest: pick a run or upload a zip, export, download what was proven,
see which op blocks which format, and open a bundle on the Build page with its weights."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from builder.editor.session import EditorSession
from builder.library.templates import TEMPLATES
from tests.bundles import ROOT, trained_bundle, zip_bundle
from tests.test_export import UPSAMPLE, _bundle_of
from tests.test_zipsafe import make_zip, special

APP = str(ROOT / "app.py")
PAGE = "app_pages/export.py"

pytestmark = pytest.mark.usefixtures("single_thread_torch")


@pytest.fixture(scope="module")
def iris_bundle(tmp_path_factory):
    return trained_bundle(tmp_path_factory.mktemp("trained") / "iris", "mlp_iris")


@pytest.fixture
def runs(tmp_path, monkeypatch, iris_bundle):
    """A runs directory holding one trained run, as the Export page finds it."""
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("NETCANVAS_RUNS_DIR", str(root))
    return root


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def test_export_page_is_in_the_navigation():
    assert 'st.Page("app_pages/export.py", title="Export"' in (ROOT / "app.py").read_text()


def test_without_runs_the_page_says_how_to_get_one(runs):
    at = open_page()
    assert "No trained runs" in texts(at.info)[0] and "python -m engine train" in texts(at.info)[0]


def test_pick_a_run_export_it_and_every_format_is_offered_with_its_difference(runs, iris_bundle):
    shutil.copytree(iris_bundle, runs / "iris")
    at = open_page()
    assert at.selectbox[0].value == str(runs / "iris")
    assert texts(at.caption).count("Not exported yet.") == 3 and downloads(at) == []
    at.button(key="export_run").click().run()
    assert not at.exception
    successes = texts(at.success)
    assert len(successes) == 3 and all(s.startswith("max abs diff **") for s in successes)
    assert all("on raw inputs" in s for s in successes)  # iris was standardised: the files do it themselves
    assert downloads(at) == ["Download", "Download", "Download (zip)", "Download everything (zip)"]
    assert (runs / "iris" / "mlp_iris.zip").is_file() and (runs / "iris" / "mlp_iris_pytorch.zip").is_file()
    for name in ("mlp_iris.zip", "mlp_iris_pytorch.zip"):  # weights and models stored, text deflated
        with zipfile.ZipFile(runs / "iris" / name) as archive:
            kinds = {info.filename.rsplit(".", 1)[-1]: info.compress_type for info in archive.infolist()}
        assert kinds["safetensors"] == zipfile.ZIP_STORED and kinds["py"] == zipfile.ZIP_DEFLATED, (name, kinds)
        assert kinds.get("onnx", zipfile.ZIP_STORED) == kinds.get("ts", zipfile.ZIP_STORED) == zipfile.ZIP_STORED
    again = open_page()  # a new session finds the export of the bundle (export.json) and offers it
    assert len(again.success) == 3 and downloads(again) == downloads(at)


def test_the_page_shows_the_class_names_and_the_normalisation_every_export_carries(runs, iris_bundle):
    shutil.copytree(iris_bundle, runs / "iris")
    at = open_page()
    shown = texts(at.markdown)
    assert "**Classes** (in every export, output unit 0 first): setosa · versicolor · virginica" in shown
    assert any(t.startswith("**Inputs:** raw, as in the data") and "(standardize:" in t for t in shown)


def test_the_python_download_is_the_small_zip_with_its_weights(runs, iris_bundle):
    shutil.copytree(iris_bundle, runs / "iris")
    at = open_page()
    at.button(key="export_run").click().run()
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Download (zip)"]
    assert button.proto.help.startswith("mlp_iris_pytorch.zip: model.py, weights.safetensors and README.txt")


def test_the_op_that_blocks_a_format_is_named_before_and_after_exporting(runs):
    _bundle_of(UPSAMPLE, runs / "up")
    at = open_page()
    (warning,) = texts(at.warning)
    assert warning.startswith("ConvTranspose2d 'up' blocks ONNX because ONNX Runtime's ConvTranspose needs")
    at.button(key="export_run").click().run()
    assert not at.exception and len(at.success) == 2 and len(at.warning) == 1
    assert downloads(at) == ["Download", "Download (zip)", "Download everything (zip)"]


def test_an_uploaded_bundle_zip_is_imported_and_picked(runs, iris_bundle, tmp_path):
    at = open_page()
    data = zip_bundle(iris_bundle, tmp_path / "iris.zip", folder="mlp_iris")
    at.file_uploader[0].set_value(("iris.zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    picked = at.selectbox[0].value
    assert picked.startswith(str(runs / "imports")) and "uploaded" in at.selectbox[0].format_func(picked)
    assert [m.value for m in at.metric][:2] == ["iris", "131"]


def test_an_unsafe_zip_is_refused_with_a_clear_message(runs, iris_bundle):
    at = open_page()
    at.file_uploader[0].set_value(("evil.zip", make_zip({}, [special("../evil.txt")]), "application/zip")).run()
    assert not at.exception
    (error,) = texts(at.error)
    assert error.startswith("Not imported: evil.zip: entry '../evil.txt' has an absolute path or '..' (path traversal)")
    assert not (runs.parent / "evil.txt").exists()


def test_open_on_the_build_page_puts_the_graph_and_its_weights_there(runs, iris_bundle):
    shutil.copytree(iris_bundle, runs / "iris")
    at = open_page()
    next(b for b in at.button if b.label == "Open on the Build page").click().run()
    assert not at.exception
    editor = at.session_state["build_editor"]
    assert [n.id for n in editor.spec.nodes] == [n.id for n in TEMPLATES["mlp_iris"].spec().nodes]
    assert editor.weights_from == str(runs / "iris")
    assert "is on the Build page with its trained weights" in texts(at.success)[0]
    at.switch_page("app_pages/build.py")
    at.run()
    assert not at.exception


def test_the_weights_stay_with_the_graph_until_an_op_or_parameter_changes():
    editor = EditorSession()
    spec = TEMPLATES["mlp_iris"].spec()
    editor.load_bundle(spec, "runs/iris", "iris")
    assert editor.weights_from == "runs/iris"
    moved = spec.copy()
    moved.nodes[0].ui = {"x": 10, "y": 20}
    editor.commit(moved)
    assert editor.weights_from == "runs/iris"  # moving a node changes no weight
    editor.set_name("iris v2")
    assert editor.spec.name == "iris v2" and editor.weights_from == "runs/iris"  # nor does a new name
    editor.set_param("fc1", "out_features", 32)
    assert editor.weights_from is None
    editor.load_bundle(spec, "runs/iris", "iris")
    editor.load(TEMPLATES["lenet"].spec(), "lenet")
    assert editor.weights_from is None  # a template starts untrained


def test_another_sessions_run_is_not_offered(runs, iris_bundle):
    (runs / "run-b").mkdir()
    (runs / "run-b" / "run.json").write_text('{"id": "run-b", "owner": "someone-else", "created": 0}')
    shutil.copytree(iris_bundle, runs / "run-b" / "bundle")
    at = open_page()
    assert not at.selectbox and any("No trained runs" in text for text in texts(at.info))


def test_an_export_that_passes_its_limits_is_one_line_and_the_page_goes_on(runs, iris_bundle, monkeypatch):
    """The export and its check run in a page job (engine/runs/page_jobs.py), never in the server's process."""
    import ui.export.bundle_view as bundle_view
    from engine.runs.page_jobs import JobLimits

    shutil.copytree(iris_bundle, runs / "iris")
    monkeypatch.setattr(bundle_view, "EXPORT_LIMITS", JobLimits(60, 4096, wall_seconds=0.2), raising=False)
    at = open_page()
    at.button(key="export_run").click().run()
    assert not at.exception
    assert texts(at.error) == ["The export and its check stopped: it took longer than 0.2 s"]
    assert texts(at.caption).count("Not exported yet.") == 3 and downloads(at) == []
    monkeypatch.setattr(bundle_view, "EXPORT_LIMITS", JobLimits())
    at.button(key="export_run").click().run()
    assert not at.exception and texts(at.error) == [] and len(at.success) == 3


def test_the_page_and_an_upload_read_no_tensor_in_the_server(runs, iris_bundle, tmp_path, monkeypatch):
    """The page shows a bundle, and imports an uploaded zip, by describe_bundle: the weights file's header, a
    network on the meta device; no tensor is read and no network allocated in the server's process."""
    import safetensors.torch
    import torch

    def no_tensors(*args, **kwargs):
        raise AssertionError("the Export page read a bundle's tensors in the server's process")

    monkeypatch.setattr(safetensors.torch, "load_file", no_tensors)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", no_tensors)
    shutil.copytree(iris_bundle, runs / "iris")
    at = open_page()
    assert [m.value for m in at.metric][:2] == ["iris", "131"] and not at.error
    assert "**Classes** (in every export, output unit 0 first): setosa · versicolor · virginica" in texts(at.markdown)
    assert texts(at.caption).count("Not exported yet.") == 3
    data = zip_bundle(iris_bundle, tmp_path / "iris.zip", folder="uploaded_iris")
    at.file_uploader[0].set_value(("iris.zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    assert at.selectbox[0].value.startswith(str(runs / "imports"))
    assert [m.value for m in at.metric][:2] == ["iris", "131"]


def test_a_bundle_whose_weights_do_not_fit_its_spec_is_refused_with_load_trained_s_message(runs, iris_bundle):
    from engine.errors import BundleError
    from engine.export.exporter import load_trained

    shutil.copytree(iris_bundle, runs / "iris")
    spec = (runs / "iris" / "spec.json").read_text().replace('"out_features": 16', '"out_features": 17')
    (runs / "iris" / "spec.json").write_text(spec)
    with pytest.raises(BundleError) as caught:
        load_trained(runs / "iris")
    at = open_page()
    assert not at.exception
    shown = str(caught.value).replace(str(runs.resolve()), "runs")  # the page names no server path
    assert texts(at.error) == [f"This bundle cannot be exported: {shown}"] and "bundle 'runs/iris'" in shown
    assert "fc1.weight has shape [16, 4], the network needs [17, 4]" in str(caught.value)


def test_the_page_names_no_server_path(runs, iris_bundle):
    """Where the server keeps its runs is nobody's business: the caption names the bundle under `runs`."""
    shutil.copytree(iris_bundle, runs / "iris")
    at = open_page()
    shown = " ".join(texts(at.caption) + texts(at.markdown) + texts(at.info) + texts(at.error))
    assert "`runs/iris`" in shown and str(runs.resolve()) not in shown and str(runs) not in shown
