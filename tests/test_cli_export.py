"""`python -m engine export BUNDLE --format ...`: one line per format with its largest difference, exit 0; an
unreadable bundle or a format that cannot be had is one error line and exit 2, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.cli.main import main
from tests.bundles import trained_bundle
from tests.test_export import UPSAMPLE, _bundle_of

pytestmark = pytest.mark.usefixtures("single_thread_torch")


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    return trained_bundle(tmp_path_factory.mktemp("iris"), "mlp_iris")


def lines(capsys) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_export_one_format_prints_its_file_and_difference(iris, capsys):
    assert main(["export", str(iris), "--format", "onnx"]) == 0
    first, inputs, last = lines(capsys)
    assert first.startswith("onnx         model.onnx  max abs diff ") and "onnxruntime on batches of 8 and 3" in first
    assert inputs == "inputs       raw: each file applies the training normalisation itself"
    assert last == f"written to {iris}"
    assert (iris / "model.onnx").is_file() and not (iris / "mlp_iris.zip").exists()


def test_export_all_writes_every_format_and_the_zip(iris, tmp_path, capsys):
    bundle = shutil.copytree(iris, tmp_path / "copy")
    assert main(["export", str(bundle), "--format", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and set(report["formats"]) == {"onnx", "torchscript", "python"}
    assert all(r["max_abs_diff"] <= 1e-4 and r["problem"] is None for r in report["formats"].values())
    assert report["zip"] == str(bundle / "mlp_iris.zip")


def test_export_python_writes_model_py_and_its_small_zip(iris, tmp_path, capsys):
    bundle = shutil.copytree(iris, tmp_path / "py")
    assert main(["export", str(bundle), "--format", "python"]) == 0
    assert lines(capsys)[1] == "python zip   mlp_iris_pytorch.zip  (model.py, weights.safetensors, README.txt)"
    assert (bundle / "model.py").is_file() and (bundle / "mlp_iris_pytorch.zip").is_file()
    assert not (bundle / "mlp_iris.zip").exists()


def test_without_normalization_the_files_take_normalised_inputs(iris, tmp_path, capsys):
    bundle = shutil.copytree(iris, tmp_path / "off")
    assert main(["export", str(bundle), "--format", "python", "--without-normalization", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["raw_inputs"] is False
    assert "normalize: bool = False" in (bundle / "model.py").read_text()


def test_a_missing_bundle_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--format", "python"]) == 2
    assert lines(capsys) == [f"error: bundle '{tmp_path / 'nowhere'}' does not exist"]


def test_a_bundle_missing_its_weights_names_the_file(iris, tmp_path, capsys):
    bundle = shutil.copytree(iris, tmp_path / "broken")
    (bundle / "weights.safetensors").unlink()
    assert main(["export", str(bundle), "--format", "python"]) == 2
    (line,) = lines(capsys)
    assert line.startswith(f"error: bundle '{bundle}' has no weights.safetensors")


def test_a_blocked_format_is_an_error_line_naming_the_op_and_exit_2(tmp_path, capsys):
    bundle = _bundle_of(UPSAMPLE, tmp_path / "up")
    assert main(["export", str(bundle), "--format", "onnx"]) == 2
    first, inputs, last = lines(capsys)
    assert first.startswith("error: onnx: ConvTranspose2d 'up' blocks ONNX because ")
    assert inputs.startswith("inputs       as the network was trained on")  # its data had no normalisation
    assert last == f"some exports failed; files are in {bundle}"


def test_an_unknown_format_is_a_usage_error(iris, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(iris), "--format", "keras"])
    assert exit_info.value.code == 2
