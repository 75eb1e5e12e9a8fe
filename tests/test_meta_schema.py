"""meta.json is checked against its schema when a bundle is read (engine/runs/meta_schema.py): a bundle whose
metadata could reach generated text in a bad form is refused with one line naming the bundle, meta.json, the
field, what was expected and what was received. An exploit zip (a version that closes model.py's docstring and
writes a marker file) is refused; with the schema bypassed its model.py still runs nothing of it."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import zipfile

import pytest

import engine.runs.bundle as bundle_module
from engine.errors import BundleError
from engine.export.exporter import export_trained, load_trained
from engine.export.zip_import import import_bundle_zip
from engine.runs.bundle import read_bundle
from engine.runs.meta_schema import meta_problem
from tests.bundles import trained_bundle

pytestmark = pytest.mark.usefixtures("single_thread_torch")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return trained_bundle(tmp_path_factory.mktemp("iris"), "mlp_iris", steps=2)


def with_meta(bundle, tmp_path, change) -> tuple:
    """A copy of the bundle whose meta.json is `change(meta)`; (the copy, its meta)."""
    copy = shutil.copytree(bundle, tmp_path / "copy")
    meta = json.loads((copy / "meta.json").read_text())
    change(meta)
    (copy / "meta.json").write_text(json.dumps(meta))
    return copy, meta


def set_field(path: str, value):
    def change(meta):
        *parents, last = path.split(".")
        target = meta
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def test_a_trained_bundles_meta_fits_the_schema_and_unknown_fields_are_kept(bundle, tmp_path):
    assert meta_problem(json.loads((bundle / "meta.json").read_text())) is None
    copy, _ = with_meta(bundle, tmp_path, set_field("written_by_a_newer_netcanvas", {"any": ["thing"]}))
    assert read_bundle(copy).meta["written_by_a_newer_netcanvas"] == {"any": ["thing"]}


CASES = [
    ("netcanvas_version", '1.0"""; import os #', "field 'netcanvas_version': expected a version"),
    ("torch_version", "2.0\n", "field 'torch_version': expected a version"),
    ("python_version", 3.12, "field 'python_version': expected a version"),
    ("input_dtype", "float32 ", "field 'input_dtype': expected one of float32, int64, got 'float32 '"),
    ("task", "classification\u2028", "field 'task': expected one of classification"),
    ("class_names", ["a", "b" * 101, "c"], "field 'class_names[1]': expected a class name of at most 100 printable"),
    ("class_names", ["a", "two\nlines", "c"], "field 'class_names[1]': expected a class name"),
    ("class_names", ["a", 2, "c"], "field 'class_names[1]': expected a class name"),
    ("class_names", "abc", "field 'class_names': expected a list of at most 1,000,000 class names, got 'abc'"),
    ("input_shape", [4, 0], "field 'input_shape[1]': expected a whole number from 1 to 1,000,000, got 0"),
    ("input_shape", [1] * 9, "field 'input_shape': expected a list of 1 to 8 whole numbers"),
    ("input_shape", [True], "field 'input_shape[0]': expected a whole number from 1 to 1,000,000, got True"),
    ("normalization.mean", [0.0, 1e400, 0.0, 0.0], "field 'normalization.mean[1]': expected a finite number, got inf"),
    ("normalization.kind", "zscore", "field 'normalization.kind': expected one of none, standardize, scale"),
    ("normalization.std", [1.0], "field 'normalization.std': expected as many numbers as mean's 4"),
    ("created", "yesterday", "field 'created': expected an ISO 8601 time"),
    ("dataset", "iris\r\nmore", "field 'dataset': expected at most 200 printable characters"),
    ("dataset_digest", "md5:abc", "field 'dataset_digest': expected null or \"sha256:\""),
    ("format", "zip", "field 'format': expected one of netcanvas-bundle"),
    ("n_classes", -1, "field 'n_classes': expected null or a whole number from 0 to 1,000,000, got -1"),
    ("metrics", {"loss": [1, 2]}, "field 'metrics.loss': expected null, true, false, a finite number"),
]


@pytest.mark.parametrize("field, value, expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_field_that_does_not_fit_is_refused_in_one_line(bundle, tmp_path, field, value, expected):
    copy, _ = with_meta(bundle, tmp_path, set_field(field, value))
    with pytest.raises(BundleError) as caught:
        read_bundle(copy)
    message = str(caught.value)
    assert message.startswith(f"bundle '{copy}': meta.json {expected}"), message
    assert "\n" not in message and "\r" not in message and "\u2028" not in message and len(message) < 400


def test_a_missing_field_is_named(bundle, tmp_path):
    copy, _ = with_meta(bundle, tmp_path, lambda meta: meta.pop("input_dtype"))
    with pytest.raises(BundleError, match=r"meta.json lacks input_dtype$"):
        read_bundle(copy)


def test_more_class_names_than_outputs_are_refused_when_the_network_is_known(bundle, tmp_path):
    copy, _ = with_meta(bundle, tmp_path, set_field("class_names", ["a", "b", "c", "d"]))  # iris: 3 outputs
    with pytest.raises(BundleError, match=r"meta.json field 'class_names': expected at most 3 class names .* got 4$"):
        load_trained(copy)


# --- the exploit -----------------------------------------------------------------------------------------------


def exploit_zip(bundle, marker) -> bytes:
    """The bundle zipped with a meta.json whose version closes model.py's docstring and writes `marker`."""
    meta = json.loads((bundle / "meta.json").read_text())
    meta["netcanvas_version"] = f'1.0\n"""\nimport pathlib; pathlib.Path({str(marker)!r}).write_text("ran")\n"""'
    return zip_with_meta(bundle, meta)


def zip_with_meta(bundle, meta: dict) -> bytes:
    """The bundle's files zipped under net/, its meta.json replaced by `meta`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("spec.json", "train.json", "weights.safetensors"):
            archive.write(bundle / name, f"net/{name}")
        archive.writestr("net/meta.json", json.dumps(meta))
    return buffer.getvalue()


def test_an_exploit_zip_is_refused_by_the_schema(bundle, tmp_path):
    with pytest.raises(BundleError) as caught:
        import_bundle_zip(
            "evil.zip", exploit_zip(bundle, tmp_path / "marker"), tmp_path / "imports", check=load_trained
        )
    assert str(caught.value).startswith("evil.zip: meta.json field 'netcanvas_version': expected a version")
    assert not (tmp_path / "marker").exists()


def test_with_the_schema_bypassed_the_exploit_runs_nothing(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_module, "meta_problem", lambda meta: None)
    marker = tmp_path / "marker"
    path, trained = import_bundle_zip("evil.zip", exploit_zip(bundle, marker), tmp_path / "imports", check=load_trained)
    report = export_trained(trained, ["python"])  # writes model.py and runs it in the bounded child
    assert report.results["python"].ok, report.results["python"].problem
    assert not marker.exists()
    source = (path / "model.py").read_text()
    # the __future__ line is all that stops a statement before it from compiling; without it, still nothing runs
    (tmp_path / "bare.py").write_text(source.replace("from __future__ import annotations\n", "", 1))
    spec = importlib.util.spec_from_file_location("bare_exploit", tmp_path / "bare.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert not marker.exists()


def test_a_zip_import_checks_meta_json_whatever_its_check_reads(bundle, tmp_path):
    data = exploit_zip(bundle, tmp_path / "marker")
    with pytest.raises(BundleError, match=r"^evil.zip: meta.json field 'netcanvas_version': expected a version"):
        import_bundle_zip("evil.zip", data, tmp_path / "imports", check=lambda path: path)  # reads nothing itself
    assert not any((tmp_path / "imports").rglob("meta.json"))  # the refused bundle is not kept
