"""Exports that run on raw data: every format applies the input normalisation the network was trained with, so a
row as it is in the data gives the trained model's prediction; normalize off gives the files of before (inputs
already normalised); class names travel in each format; model.py comes in a small zip with its weights and a
README whose first two lines run it.

The reference is independent of the export: the training path's own Dataset (engine.data.load_dataset_for) says
how the rows were normalised, and the trained network is run on rows normalised that way.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from builder.analysis.validate import analyze
from engine.compile.fx_module import compile_analysis
from engine.data.datasets import MAKERS, load_dataset_for
from engine.errors import BundleError
from engine.export.exporter import export_many, load_trained, read_report
from engine.export.formats import TOLERANCE
from engine.export.python_source import model_source
from tests.bundles import trained_bundle
from tests.helpers import chain

pytestmark = pytest.mark.usefixtures("single_thread_torch")

TEMPLATES = {"mlp_iris": "iris", "mlp_digits": "digits", "lenet": "digits"}  # lenet: digits as [1, 8, 8]
N_ROWS = 12


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict:
    """template -> (bundle exported with normalisation inside, a copy exported with normalize=False)."""
    inside, outside = {}, {}
    for name in TEMPLATES:
        inside[name] = trained_bundle(tmp_path_factory.mktemp(name), name)
        outside[name] = shutil.copytree(inside[name], tmp_path_factory.mktemp(name) / "off")
    on = export_many([load_trained(b) for b in inside.values()])
    off = export_many([load_trained(b) for b in outside.values()], normalize=False)
    assert all(r.ok for r in on + off), [r.results for r in on + off]
    return {name: (inside[name], outside[name]) for name in TEMPLATES}


def raw_rows(dataset: str, input_shape) -> torch.Tensor:
    """The first rows of the dataset exactly as scikit-learn gives them, shaped as the network's Input."""
    raw = MAKERS[dataset](dataset, 0).x[:N_ROWS]  # [N, F] unnormalised
    return raw.reshape(-1, *input_shape)


def reference(bundle) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """(raw rows, the same rows normalised as in training, the trained model's output on those, class names)."""
    trained = load_trained(bundle)
    data = load_dataset_for(trained.bundle.config)
    shape = trained.analysis.shapes[trained.analysis.input_id]
    raw = raw_rows(trained.bundle.config.dataset, shape)
    mean = torch.tensor(data.normalization.mean).reshape(-1)
    std = torch.tensor(data.normalization.std).reshape(-1)
    normalized = ((raw.reshape(len(raw), -1) - mean) / std).reshape(raw.shape)  # as the trainer saw the rows
    with torch.no_grad():
        want = trained.model(normalized)
    return raw, normalized, want, list(data.class_names)


def import_model_py(path):
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_onnx(path, x: torch.Tensor) -> torch.Tensor:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return torch.from_numpy(np.asarray(out))


def close(got: torch.Tensor, want: torch.Tensor) -> bool:
    return got.shape == want.shape and float((got - want).abs().max()) <= TOLERANCE


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_format_gives_the_trained_prediction_on_raw_rows(bundles, name):
    bundle, _ = bundles[name]
    raw, _, want, _ = reference(bundle)
    ts = torch.jit.load(str(bundle / "model.ts"))
    module = import_model_py(bundle / "model.py")
    with torch.no_grad():
        outputs = {"onnx": run_onnx(bundle / "model.onnx", raw), "torchscript": ts(raw)}
        outputs["python"] = module.load_model(bundle / "weights.safetensors")(raw)
    for fmt, got in outputs.items():
        assert close(got, want), fmt
        assert torch.equal(got.argmax(dim=1), want.argmax(dim=1)), fmt
    with torch.no_grad():
        assert not close(load_trained(bundle).model(raw), want)  # raw rows really differ from normalised ones


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_normalisation_off_takes_normalised_rows_as_before(bundles, name):
    bundle, off = bundles[name]
    raw, normalized, want, _ = reference(bundle)
    ts_on, ts_off = torch.jit.load(str(bundle / "model.ts")), torch.jit.load(str(off / "model.ts"))
    assert ts_on.normalize and not ts_off.normalize
    ts_on.normalize = False  # the documented switch of model.ts
    on, without = import_model_py(bundle / "model.py"), import_model_py(off / "model.py")
    with torch.no_grad():
        outputs = {
            "onnx without the step": run_onnx(off / "model.onnx", normalized),
            "model.ts normalize=False": ts_on(normalized),
            "model.ts exported without": ts_off(normalized),
            "model.py normalize=False": on.load_model(bundle / "weights.safetensors", normalize=False)(normalized),
            "model.py exported without": without.load_model(off / "weights.safetensors")(normalized),
            "model.py network alone": on.load_model(bundle / "weights.safetensors").network(normalized),
        }
    for what, got in outputs.items():
        assert close(got, want), what
    inputs = {p.key: p.value for p in onnx.load(str(off / "model.onnx")).metadata_props}["netcanvas.inputs"]
    assert inputs == "as the network was trained on"


@pytest.mark.parametrize("name", ["mlp_iris", "mlp_digits"])
def test_class_names_travel_in_every_format(bundles, name):
    bundle, _ = bundles[name]
    raw, _, want, class_names = reference(bundle)
    meta = {p.key: p.value for p in onnx.load(str(bundle / "model.onnx")).metadata_props}
    assert json.loads(meta["netcanvas.class_names"]) == class_names
    assert meta["netcanvas.inputs"] == "raw" and json.loads(meta["netcanvas.normalization"])["kind"] in (
        "standardize",
        "scale",
    )
    assert torch.jit.load(str(bundle / "model.ts")).class_names == class_names
    module = import_model_py(bundle / "model.py")
    assert module.CLASS_NAMES == tuple(class_names)
    predicted = module.predict(module.load_model(bundle / "weights.safetensors"), raw.tolist())
    assert predicted == [class_names[i] for i in want.argmax(dim=1).tolist()]


def test_model_py_zip_holds_the_file_its_weights_and_a_readme_whose_first_lines_run_it(bundles, tmp_path):
    bundle, _ = bundles["mlp_iris"]
    raw, _, want, class_names = reference(bundle)
    small = bundle / "mlp_iris_pytorch.zip"
    with zipfile.ZipFile(small) as archive:
        assert sorted(archive.namelist()) == [
            "mlp_iris_pytorch/README.txt",
            "mlp_iris_pytorch/model.py",
            "mlp_iris_pytorch/weights.safetensors",
        ]
        assert archive.read("mlp_iris_pytorch/model.py") == (bundle / "model.py").read_bytes()
        assert archive.read("mlp_iris_pytorch/weights.safetensors") == (bundle / "weights.safetensors").read_bytes()
        archive.extractall(tmp_path)
    folder = tmp_path / "mlp_iris_pytorch"
    first, second = (folder / "README.txt").read_text().splitlines()[:2]
    assert first.startswith("from model import load_model, predict") and "predict(load_model()" in second
    row = raw[0].tolist()
    script = f"{first}\n{second}\nprint(predict(load_model(), [{row!r}]))\n"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH: the project is not importable
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    readme_line, on_row = done.stdout.strip().splitlines()
    assert ast.literal_eval(readme_line)[0] in class_names
    assert ast.literal_eval(on_row) == [class_names[int(want[0].argmax())]]


def test_a_normalisation_that_does_not_fit_the_input_is_a_bundle_error(bundles, tmp_path):
    bundle = shutil.copytree(bundles["mlp_iris"][0], tmp_path / "bad")
    meta = json.loads((bundle / "meta.json").read_text())
    meta["normalization"]["mean"] = meta["normalization"]["mean"][:3]
    (bundle / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"meta.json field 'normalization.std': expected as many numbers as mean's 3"):
        load_trained(bundle)  # meta.json's schema (engine/runs/meta_schema.py) refuses it as the bundle is read
    meta["normalization"]["std"] = meta["normalization"]["std"][:3]
    (bundle / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"field 'normalization.mean': expected 0, 1 or 4 numbers .* got a list of 3"):
        load_trained(bundle)


HOSTILE = ['a "quoted" name', "back\\slash", "two\nlines", "'single'", "tab\there", "é ü 中", '"""', "\x00"]


def test_generated_model_py_quotes_every_name(tmp_path):
    spec = chain(("x", "Input", {"shape": [2]}), ("fc", "Linear", {"out_features": len(HOSTILE)}))
    spec.name = 'none"""\\'  # a keyword once CamelCased, quotes and a backslash
    analysis = analyze(spec)
    meta = {"task": "classification", "class_names": HOSTILE, "input_dtype": "float32"}
    meta["normalization"] = {"kind": "standardize", "mean": [1.0, -2.5], "std": [0.5, 4.0]}
    source = model_source(compile_analysis(analysis).eval(), analysis, meta)
    tree = ast.parse(source)  # a SyntaxError fails the test
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == ["NoneNet", "NormalizeInputs"]
    path = tmp_path / "model.py"
    path.write_text(source)
    module = import_model_py(path)
    assert module.CLASS_NAMES == tuple(HOSTILE)
    assert module.INPUT_MEAN == (1.0, -2.5) and module.INPUT_STD == (0.5, 4.0)


def test_an_export_from_before_the_normalisation_went_inside_is_not_offered(bundles, tmp_path):
    bundle = shutil.copytree(bundles["mlp_iris"][0], tmp_path / "old")
    assert read_report(bundle, "mlp_iris").raw_inputs
    report = json.loads((bundle / "export.json").read_text())
    del report["raw_inputs"]  # export.json as it was written before: its files expect normalised inputs
    (bundle / "export.json").write_text(json.dumps(report))
    assert read_report(bundle, "mlp_iris") is None  # the page offers "Export and check" again
