"""Exports against the trained model: every template to every format (or a clear reason why not), and checks
of our own, independent of the exporter's, for every template's files: model.onnx run in onnxruntime on a new
batch, model.py (with weights.safetensors) and model.ts (torch.jit.load) run in a fresh `python -I` process in
an empty directory, where the project is not importable, each compared with the trained torch model."""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import safetensors.torch
import torch

import engine.export.exporter
from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES
from engine.compile.fx_module import compile_analysis
from engine.export.exporter import export_bundle, export_many, load_trained, read_report
from engine.export.formats import FORMAT_FILES, FORMATS, TOLERANCE, max_abs_diff
from engine.export.python_source import model_source
from tests.bundles import ROOT, trained_bundle
from tests.helpers import chain
from tests.test_ops import MERGE_ROWS, ROWS, merge_spec, single_op_spec

pytestmark = pytest.mark.usefixtures("single_thread_torch")

PARITY_TEMPLATES = ("mlp_digits", "lenet", "resnet_mini", "lstm_sine", "lstm_text")  # must export to every format
NEW_BATCH = 5


EXPORT_PROCESSES = 2  # torch's ONNX exporter takes ~5 s a template on one thread: two halves side by side


def train_and_export(share: dict[str, str]) -> dict:
    """In a child process: train each template of `share` (name -> folder) for a few steps, then export the
    bundles together, as the Export page does; name -> (bundle dir, ExportReport). One thread, like the tests."""
    torch.set_num_threads(1)
    bundles = {name: trained_bundle(folder, name) for name, folder in share.items()}
    reports = export_many([load_trained(b) for b in bundles.values()], FORMATS, make_zip=True)
    return {name: (bundle, report) for (name, bundle), report in zip(bundles.items(), reports)}


@pytest.fixture(scope="module")
def all_exported(tmp_path_factory) -> dict:
    """template name -> (bundle dir, ExportReport): every template trained for a few steps and exported, in
    EXPORT_PROCESSES fresh processes that each export their share together (so their model.py and model.ts
    files are checked in one fresh process per share)."""
    folders = {name: str(tmp_path_factory.mktemp(name)) for name in TEMPLATES}
    shares = [dict(list(folders.items())[i::EXPORT_PROCESSES]) for i in range(EXPORT_PROCESSES)]
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited torch threads
    with concurrent.futures.ProcessPoolExecutor(EXPORT_PROCESSES, mp_context=spawn) as pool:
        parts = list(pool.map(train_and_export, shares))
    return {name: part[name] for part in parts for name in part}


@pytest.fixture
def exported(all_exported):
    return all_exported.__getitem__


def raw_and_expected(trained, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(what an export is fed, what it must give): a bundle trained on normalised data gets raw inputs
    (mean + std * x) and must give the trained model's output on them normalised as in training."""
    raw = trained.norm.invert(x) if trained.norm is not None else x
    with torch.no_grad():
        return raw, trained.model(trained.norm.apply(raw) if trained.norm is not None else raw)


def new_batch(analysis, size: int = NEW_BATCH, seed: int = 123) -> torch.Tensor:
    shape = tuple(analysis.shapes[analysis.input_id])
    g = torch.Generator().manual_seed(seed)
    if analysis.params[analysis.input_id].get("dtype") == "int64":
        return torch.randint(0, 3, (size, *shape), generator=g)
    return torch.randn((size, *shape), generator=g)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_exports_to_every_format_or_says_which_op_blocks_it(exported, name):
    bundle, report = exported(name)
    for fmt in FORMATS:
        result = report.results[fmt]
        if result.ok:
            assert result.path == bundle / FORMAT_FILES[fmt] and result.path.is_file()
            assert 0 <= result.max_abs_diff <= TOLERANCE
        else:
            assert name not in PARITY_TEMPLATES, result.problem
            assert result.blocked and " blocks " in result.problem and " because " in result.problem
            assert not (bundle / FORMAT_FILES[fmt]).exists()
    assert report.zip_path is not None and report.zip_path.is_file()
    assert report.standalone["project_importable"] == []  # the exporter's own check ran without the project
    assert str(ROOT) not in report.standalone["sys_path"] and "" not in report.standalone["sys_path"]
    again = read_report(bundle, report.name)  # export.json says the same
    assert {f: (r.path, r.max_abs_diff, r.problem) for f, r in again.results.items()} == {
        f: (r.path, r.max_abs_diff, r.problem) for f, r in report.results.items()
    }


def assert_refused_clearly(report, fmt: str, bundle) -> None:
    """A format a template cannot export to is refused with the op and the reason, and leaves no file."""
    result = report.results[fmt]
    assert result.blocked and " blocks " in result.problem and " because " in result.problem, result.problem
    assert not (bundle / FORMAT_FILES[fmt]).exists()


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_onnx_has_a_dynamic_batch_axis_and_onnxruntime_matches_the_trained_model_on_a_new_batch(exported, name):
    """onnxruntime, the file's real consumer, against the trained torch model (not the exporter's own number)."""
    bundle, report = exported(name)
    if not report.results["onnx"].ok:
        assert name not in PARITY_TEMPLATES
        assert_refused_clearly(report, "onnx", bundle)
        return
    trained = load_trained(bundle)
    model = onnx.load(str(report.results["onnx"].path))
    assert model.graph.input[0].name == trained.analysis.input_id
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not a fixed size
    session = onnxruntime.InferenceSession(str(report.results["onnx"].path), providers=["CPUExecutionProvider"])
    raw, want = raw_and_expected(trained, new_batch(trained.analysis))
    (got,) = session.run(None, {session.get_inputs()[0].name: raw.numpy()})
    assert got.shape == tuple(want.shape) and np.abs(got - want.numpy()).max() <= TOLERANCE


# --- our own standalone check: a fresh interpreter without the project -----------------------------------

CHILD = r"""
import importlib.util, json, sys
report = {"importable": [p for p in ("engine", "builder") if importlib.util.find_spec(p)], "path": sys.path,
          "errors": {}}
import torch
from safetensors.torch import load_file, save_file
for job in json.load(open(sys.argv[1])):
    try:
        if job["format"] == "python":
            spec = importlib.util.spec_from_file_location(job["name"], job["file"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.load_model(job["weights"])
        else:
            model = torch.jit.load(job["file"])
        with torch.no_grad():
            save_file({"y": model(load_file(job["inputs"])["x"]).contiguous()}, job["out"])
    except Exception as err:
        report["errors"][job["out"]] = f"{type(err).__name__}: {err}"
print(json.dumps(report))
"""


def run_fresh_interpreter(jobs: list[dict], work) -> dict:
    """Run the jobs in `python -I` started in an empty directory; asserts the project was not importable."""
    empty = work / "empty_cwd"
    empty.mkdir()
    manifest = work / "jobs.json"
    manifest.write_text(json.dumps(jobs))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(empty)}
    done = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, str(manifest)], cwd=empty, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["importable"] == [], "the project must not be importable in the standalone check"
    assert not any(str(ROOT) == p or p in ("", ".") for p in report["path"])
    assert report["errors"] == {}
    return report


def job(name: str, fmt: str, file, weights, x: torch.Tensor, work) -> dict:
    inputs = work / f"{name}_{fmt}_in.safetensors"
    safetensors.torch.save_file({"x": x.contiguous()}, inputs)
    out = work / f"{name}_{fmt}_out.safetensors"
    return {
        "name": name,
        "format": fmt,
        "file": str(file),
        "weights": str(weights),
        "inputs": str(inputs),
        "out": str(out),
    }


OP_ROWS = [(r, single_op_spec(*r)) for r in ROWS] + [(r, merge_spec(*r)) for r in MERGE_ROWS]
CLASHING = chain(
    ("x", "Input", {"shape": [4]}), ("load_model", "Linear", {"out_features": 3}), ("nn", "ReLU"), ("load_file", "Tanh")
)


def template_jobs(exported, work) -> tuple[list[dict], dict]:
    """model.py and model.ts of every template, on a batch the exporter never saw; a format a template cannot
    export to must be refused clearly (and is then not run)."""
    jobs, expected = [], {}
    for name in TEMPLATES:
        bundle, report = exported(name)
        trained = load_trained(bundle)
        x, want = raw_and_expected(trained, new_batch(trained.analysis))
        for fmt in ("python", "torchscript"):
            if not report.results[fmt].ok:
                assert name not in PARITY_TEMPLATES
                assert_refused_clearly(report, fmt, bundle)
                continue
            jobs.append(job(name, fmt, report.results[fmt].path, bundle / "weights.safetensors", x, work))
            expected[jobs[-1]["out"]] = want
    return jobs, expected


def op_row_jobs(work) -> tuple[list[dict], dict]:
    """One model.py per op row of tests/test_ops.py, and one whose node ids are names the file itself uses."""
    jobs, expected = [], {}
    specs = [(f"row{i}_{row[0]}", spec) for i, (row, spec) in enumerate(OP_ROWS)] + [("clashing", CLASHING)]
    for name, spec in specs:
        analysis = analyze(spec)
        torch.manual_seed(0)
        gm = compile_analysis(analysis).eval()
        weights = work / f"{name}.safetensors"
        safetensors.torch.save_file({k: v.contiguous() for k, v in gm.state_dict().items()}, weights)
        source = work / f"{name}.py"
        source.write_text(model_source(gm, analysis, {"input_dtype": "float32"}))
        x = new_batch(analysis, size=3)
        jobs.append(job(name, "python", source, weights, x, work))
        with torch.no_grad():
            expected[jobs[-1]["out"]] = gm(x)
    return jobs, expected


def test_model_py_and_torchscript_run_without_the_project_and_match_for_every_template_and_op(exported, tmp_path):
    template_part, template_expected = template_jobs(exported, tmp_path)
    op_part, op_expected = op_row_jobs(tmp_path)
    run_fresh_interpreter(template_part + op_part, tmp_path)
    wrong = []
    for out, want in {**template_expected, **op_expected}.items():
        got = safetensors.torch.load_file(out)["y"]
        if got.shape != want.shape or (got - want).abs().max() > TOLERANCE:
            wrong.append(f"{Path(out).name}: {(got - want).abs().max() if got.shape == want.shape else got.shape}")
    assert not wrong, f"{len(wrong)} outputs differ from the trained model: {'; '.join(wrong)}"


# --- what model.py reads like ------------------------------------------------------------------------------


def test_model_py_reads_like_the_graph(exported):
    bundle, report = exported("lenet")
    source = report.results["python"].path.read_text()
    assert "class Lenet(nn.Module):" in source
    assert "def forward(self, x: Tensor) -> Tensor:  # x: (B, 1, 8, 8)" in source
    assert "conv1 = self.conv1(x)  # (B, 6, 8, 8)" in source
    assert "flat = torch.flatten(pool2, 1)  # (B, 64)" in source
    assert "def load_model(" in source and "strict=True" in source
    assert "engine" not in source.replace("NetCanvas", "") and "builder" not in source
    compile(source, "model.py", "exec")


def test_model_py_carries_the_custom_layers_it_needs(exported):
    bundle, report = exported("lstm_sine")
    source = report.results["python"].path.read_text()
    assert "class LSTMLayer(nn.LSTM):" in source and "def sequence_or_last(" in source and "def zero_state(" in source
    assert "class GRULayer" not in source  # only what this network uses
    assert "self.rnn = LSTMLayer(input_size=1, hidden_size=32, num_layers=1, bidirectional=False" in source


# --- refusals ------------------------------------------------------------------------------------------------

UPSAMPLE = chain(
    ("x", "Input", {"shape": [1, 3, 3]}),
    ("up", "ConvTranspose2d", {"out_channels": 2, "kernel_size": 2, "dilation": 2, "output_padding": 1}),
    ("flat", "Flatten"),
)


def _bundle_of(spec, out_dir):
    """A bundle of an untrained spec, written with a dataset of matching shape (for the meta)."""
    from engine.data.datasets import Dataset
    from engine.runs.bundle import write_bundle
    from engine.train.config import TrainConfig

    analysis = analyze(spec)
    torch.manual_seed(0)
    model = compile_analysis(analysis)
    shape = tuple(analysis.shapes[analysis.input_id])
    empty = torch.zeros(0, *shape)
    data = Dataset("moons", "regression", empty, torch.zeros(0), empty, torch.zeros(0), None, (), shape, "float32")
    return write_bundle(out_dir, spec, TrainConfig(), model, data, {})


def test_an_op_setting_onnx_cannot_express_blocks_onnx_with_the_reason_and_the_rest_exports(tmp_path):
    bundle = _bundle_of(UPSAMPLE, tmp_path / "up")
    report = export_bundle(bundle)
    onnx_result = report.results["onnx"]
    assert onnx_result.blocked and not (bundle / "model.onnx").exists()
    assert onnx_result.problem.startswith("ConvTranspose2d 'up' blocks ONNX because ONNX Runtime's ConvTranspose")
    assert "output_padding (1, 1), stride (1, 1)" in onnx_result.problem
    assert report.results["torchscript"].ok and report.results["python"].ok


def test_node_ids_that_are_names_python_uses_export_to_every_format(tmp_path):
    report = export_bundle(_bundle_of(CLASHING, tmp_path / "names"))
    assert all(r.ok for r in report.results.values()), report.results
    reserved = [i.code for i in analyze(chain(("x", "Input", {"shape": [4]}), ("self", "Tanh"))).issues]
    assert reserved == ["reserved_id"]  # TorchScript would read a variable named self as the module


def test_max_abs_diff_counts_matching_nan_and_inf_as_equal():
    want = {"batch": torch.tensor([1.0, float("nan"), float("inf")])}
    assert max_abs_diff(want, {"batch": torch.tensor([1.00001, float("nan"), float("inf")])}) == pytest.approx(
        1e-5, rel=1e-2
    )
    assert max_abs_diff(want, {"batch": torch.tensor([1.0, 0.0, float("inf")])}) == float("inf")
    assert max_abs_diff(want, {"batch": torch.tensor([1.0, float("nan")])}) == float("inf")


def test_an_exporter_failure_is_one_line_and_no_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported thing\nwith a long second line")

    monkeypatch.setattr(engine.export.exporter, "write_onnx", broken)
    bundle = trained_bundle(tmp_path / "iris", "mlp_iris")
    report = export_bundle(bundle, ["onnx"])
    assert report.results["onnx"].problem == "ONNX export failed: RuntimeError: unsupported thing"
    assert not (bundle / "model.onnx").exists()


def test_a_difference_above_the_limit_is_an_error_not_a_download(tmp_path, monkeypatch):
    real = engine.export.exporter.run_onnx
    monkeypatch.setattr(
        engine.export.exporter, "run_onnx", lambda path, batches: [y + 1e-3 for y in real(path, batches)]
    )
    bundle = trained_bundle(tmp_path / "iris", "mlp_iris")
    report = export_bundle(bundle, ["onnx"])
    result = report.results["onnx"]
    assert not result.ok and result.path is None and result.max_abs_diff == pytest.approx(1e-3, rel=1e-3)
    assert "differs from the trained model by 0.001 (more than 0.0001)" in result.problem
    assert not (bundle / "model.onnx").exists()
