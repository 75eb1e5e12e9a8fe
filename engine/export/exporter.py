"""Exports of a run bundle (docs/ARCHITECTURE.md §2, §3), each proven before it is handed over.

    report = export_bundle("runs/lenet", ["onnx", "torchscript", "python"], make_zip=True)
    for result in report.results.values():
        result.ok, result.path, result.max_abs_diff, result.problem

Every file takes raw inputs: it carries the input normalisation the network was trained with (meta.json; see
engine/export/preprocess.py) and applies it itself, and it carries the class names. Every file is written beside
the bundle, loaded with the runtime its consumer uses (onnxruntime for ONNX; a fresh Python process without
NetCanvas for model.ts and model.py), run on a fixed batch of raw inputs and compared with the trained model on
the same batch normalised as in training (`normalize=False`: files without the step, fed normalised inputs).
A largest absolute difference above TOLERANCE is a problem, not a download: the file is removed. A checked
model.py also goes out as <name>_pytorch.zip with its weights and a README (engine/export/report.py).
An op setting a format cannot express (the `blocks` of its record in engine/compile/op_records.py, read by
formats.blocking_reasons) is reported as "op 'node' blocks FORMAT because ...", and any other failure of an
exporter as one line; nothing raises but BundleError for a bundle that cannot be read.

load_trained reads every tensor and builds the network: for the export itself (a page job, a child process) and
the command line. The server's pages use describe_bundle, which makes the same checks with the same messages
from the weights file's header and a network built on the meta device, and holds no tensor.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import fx

from builder.analysis.validate import Analysis, analyze
from engine.compile.fx_module import compile_analysis
from engine.errors import BundleError, NetCanvasError
from engine.export.formats import (
    FORMAT_FILES,
    FORMAT_TITLES,
    FORMATS,
    TOLERANCE,
    blocking_reasons,
    check_batches,
    max_abs_diff,
)
from engine.export.literal import one_line
from engine.export.onnx_format import add_metadata, run_onnx, write_onnx
from engine.export.preprocess import ExportedModel, InputNormalization, class_names_of, input_normalization
from engine.export.python_io import readme_text
from engine.export.python_source import model_source
from engine.export.report import (
    ExportReport,
    FormatResult,
    pytorch_zip_path,
    read_report,
    safe_name,
    write_pytorch_zip,
    write_report,
    write_zip,
)
from engine.export.standalone_check import Job, start_standalone
from engine.runs.bundle import WEIGHTS_FILE, Bundle, BundleHead, read_bundle, read_bundle_head

__all__ = [  # what the pages and the command line use; the report's parts live in engine/export/report.py
    "BundleInfo",
    "ExportReport",
    "FormatResult",
    "Trained",
    "describe_bundle",
    "export_bundle",
    "export_many",
    "export_trained",
    "load_trained",
    "read_report",
    "safe_name",
]
STANDALONE_FORMATS = ("torchscript", "python")  # checked in a fresh process without the project


@dataclass(frozen=True)
class Trained:
    """A bundle's network, compiled and holding the trained weights, in eval mode, with the input normalisation it
    was trained with (None: raw inputs, or token ids) and its class names ([] for regression)."""

    bundle: Bundle
    analysis: Analysis
    model: fx.GraphModule
    norm: InputNormalization | None = None
    class_names: tuple[str, ...] = ()

    def exported_model(self, normalize: bool) -> ExportedModel:
        """The module model.onnx and model.ts are written from: normalisation (while `normalize`), network."""
        return ExportedModel(self.model, self.norm, list(self.class_names), normalize)


# --- the trained model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleInfo:
    """What the Export page shows of a bundle, found without reading a tensor (describe_bundle): its files
    (weights by their header only), the analysed spec, the input normalisation and the class names."""

    bundle: BundleHead
    analysis: Analysis
    norm: InputNormalization | None = None
    class_names: tuple[str, ...] = ()


def _weights_problems(analysis: Analysis, shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """How the weights (key -> shape) differ from the state dict the spec compiles to, found on the meta device:
    the network is built without allocating a byte, so a bundle whose spec and weights disagree costs nothing."""
    with torch.device("meta"):
        wanted = compile_analysis(analysis).state_dict()
    problems = [f"{key} is missing" for key in wanted if key not in shapes]
    problems += [f"{key} is not in the network" for key in shapes if key not in wanted]
    problems += [
        f"{key} has shape {list(shapes[key])}, the network needs {list(value.shape)}"
        for key, value in wanted.items()
        if key in shapes and tuple(shapes[key]) != tuple(value.shape)
    ]
    return problems


def _checked(bundle: Bundle | BundleHead, shapes: dict[str, tuple[int, ...]]):
    """The checks load_trained and describe_bundle share, in one order with one set of messages: the spec
    validates, the weights' keys and shapes fit it, meta.json's normalisation and class names fit the network.
    (analysis, norm, class names), or BundleError naming the bundle and the file."""
    analysis = analyze(bundle.spec)
    if not analysis.ok:
        first = next(i for i in analysis.issues if i.severity == "error")
        raise BundleError(f"bundle '{bundle.path}': spec.json does not validate: {first}")
    problems = _weights_problems(analysis, shapes)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise BundleError(f"bundle '{bundle.path}': {WEIGHTS_FILE} does not fit spec.json: {shown}")
    norm = input_normalization(bundle.meta, analysis.shapes[analysis.input_id], f"bundle '{bundle.path}': meta.json")
    return analysis, norm, _class_names(bundle, analysis)


def load_trained(path) -> Trained:
    """Read a bundle, compile its spec and load its weights (strictly); BundleError naming the file if not.
    Every tensor is read and the network allocated: for the exporter and the command line (a child process or
    the user's own), never the server's pages, which use describe_bundle."""
    bundle = read_bundle(path)
    analysis, norm, class_names = _checked(bundle, {key: tuple(t.shape) for key, t in bundle.state_dict.items()})
    model = compile_analysis(analysis)
    model.load_state_dict(bundle.state_dict, strict=True)
    return Trained(bundle, analysis, model.eval(), norm, class_names)


def describe_bundle(path) -> BundleInfo:
    """load_trained's checks and messages without reading a tensor or allocating the network: the weights file
    is checked by its header (keys and shapes) against a network built on the meta device. What the server's
    pages hold per session: kilobytes, whatever the network's size."""
    head = read_bundle_head(path)
    analysis, norm, class_names = _checked(head, {key: shape for key, (shape, _dtype) in head.weights.items()})
    return BundleInfo(head, analysis, norm, class_names)


def _class_names(bundle: Bundle | BundleHead, analysis: Analysis) -> tuple[str, ...]:
    """meta.json's class names (its schema checked each, engine/runs/meta_schema.py), at most one per output unit
    (two for a single unit: class 1 above a threshold, else class 0); BundleError naming the field if more."""
    names = tuple(class_names_of(bundle.meta))
    units = math.prod(analysis.shapes[analysis.output_id])
    if len(names) > max(units, 2):
        raise BundleError(
            f"bundle '{bundle.path}': meta.json field 'class_names': expected at most {max(units, 2):,} class names "
            f"(the network has {units:,} outputs), got {len(names):,}"
        )
    return names


@torch.no_grad()
def reference_outputs(trained: Trained, batches: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: trained.model(batch) for name, batch in batches.items()}


# --- writing -----------------------------------------------------------------------------------------


def _write(fmt: str, trained: Trained, path: Path, example: torch.Tensor, normalize: bool) -> None:
    a = trained.analysis
    if fmt == "onnx":
        write_onnx(trained.exported_model(normalize), example, path, a.input_id, a.output_id)
        add_metadata(path, onnx_metadata(trained, normalize))
    elif fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's notes on annotations concern torch, not the user
            torch.jit.save(torch.jit.script(trained.exported_model(normalize)), str(path))
    else:
        path.write_text(model_source(trained.model, a, trained.bundle.meta, normalize), encoding="utf-8")


def takes_raw_inputs(trained: Trained, normalize: bool) -> bool:
    """Whether the exports apply the training normalisation themselves (there is one, and it was not turned off)."""
    return normalize and trained.norm is not None


def onnx_metadata(trained: Trained, normalize: bool) -> dict[str, str]:
    """model.onnx's metadata_props: what the file's consumer needs to know beyond the graph."""
    norm = trained.norm.to_dict() if trained.norm is not None else {"kind": "none", "mean": [], "std": []}
    return {
        "netcanvas.network": one_line(trained.bundle.spec.name, 200),
        "netcanvas.class_names": json.dumps(list(trained.class_names), ensure_ascii=False),
        "netcanvas.normalization": json.dumps(norm),
        "netcanvas.inputs": "raw" if takes_raw_inputs(trained, normalize) else "as the network was trained on",
    }


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def write_formats(trained: Trained, formats, example: torch.Tensor, normalize: bool = True):
    """Write every format no op blocks: ({format: (file, seconds to write)}, results of the blocked and failed)."""
    written, failed = {}, {}
    for fmt in formats:
        path = trained.bundle.path / FORMAT_FILES[fmt]
        path.unlink(missing_ok=True)  # an old file must not pass for this export
        reasons = blocking_reasons(trained.analysis, fmt)
        if reasons:
            failed[fmt] = FormatResult(fmt, problem="; ".join(reasons), blocked=True)
            continue
        started = time.perf_counter()
        try:
            _write(fmt, trained, path, example, normalize)
        except Exception as err:  # an exporter's own failure: one line, not a traceback
            path.unlink(missing_ok=True)
            failed[fmt] = FormatResult(fmt, problem=f"{FORMAT_TITLES[fmt]} export failed: {_first_line(err)}")
            continue
        written[fmt] = (path, time.perf_counter() - started)
    return written, failed


# --- checking ----------------------------------------------------------------------------------------


@dataclass
class _Export:
    """One bundle's export on its way: what was written, what its files gave, what went wrong."""

    trained: Trained
    normalize: bool  # the exports apply the training normalisation (when there is one)
    batches: dict[str, torch.Tensor]  # what the files are fed: raw inputs when they normalise themselves
    expected: dict[str, torch.Tensor]  # the trained model on those inputs normalised as in training
    written: dict[str, tuple[Path, float]]  # format -> (file, seconds to write it)
    results: dict[str, FormatResult]  # so far: the blocked and failed formats
    outputs: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def _start(trained: Trained, formats, normalize: bool) -> _Export:
    """Write the files; the expected outputs are the trained model's on the check batches as it saw data in
    training. Files that normalise themselves get the same batches as raw inputs (mean + std * batch)."""
    normalized = check_batches(trained.analysis)
    if takes_raw_inputs(trained, normalize):
        batches = {name: trained.norm.invert(batch) for name, batch in normalized.items()}  # raw
        expected = reference_outputs(trained, {name: trained.norm.apply(raw) for name, raw in batches.items()})
    else:
        batches, expected = normalized, reference_outputs(trained, normalized)
    written, results = write_formats(trained, formats, batches["batch"], normalize)
    return _Export(trained, normalize, batches, expected, written, results)


def _write_more(export: _Export, formats) -> None:
    """Write `formats` of an export already started (_start wrote the others)."""
    written, results = write_formats(export.trained, formats, export.batches["batch"], export.normalize)
    export.written.update(written)
    export.results.update(results)


def _check_onnx(export: _Export) -> None:
    if "onnx" not in export.written:
        return
    try:
        outputs = run_onnx(export.written["onnx"][0], list(export.batches.values()))
        export.outputs["onnx"] = dict(zip(export.batches, outputs))
    except NetCanvasError as err:
        export.problems["onnx"] = str(err)


def _start_standalone(exports: list[_Export]):
    """Start one fresh process without NetCanvas that runs every model.py and model.ts of `exports`; returns
    (its jobs: key -> (export, format), the check under way), or None when there is nothing to check."""
    jobs = {
        f"b{i}_{fmt}": (export, fmt)
        for i, export in enumerate(exports)
        for fmt in STANDALONE_FORMATS
        if fmt in export.written
    }
    if not jobs:
        return None
    check = start_standalone(
        [
            Job(key, fmt, export.written[fmt][0], export.trained.bundle.path / WEIGHTS_FILE, export.batches)
            for key, (export, fmt) in jobs.items()
        ]
    )
    return jobs, check


def _finish_standalone(started) -> dict:
    """Wait for the standalone check (_start_standalone's) and file its outputs and problems; its report."""
    if started is None:
        return {}
    jobs, check = started
    outputs, failures, report = check.result()
    for key, (export, fmt) in jobs.items():
        if key in failures:
            export.problems[fmt] = f"{FORMAT_TITLES[fmt]} fails in a fresh Python without NetCanvas: {failures[key]}"
        else:
            export.outputs[fmt] = outputs[key]
    return report


def _judge(export: _Export, fmt: str, extra_seconds: float) -> FormatResult:
    path, seconds = export.written[fmt]
    seconds += extra_seconds
    if fmt in export.problems:
        path.unlink(missing_ok=True)
        return FormatResult(fmt, problem=export.problems[fmt], seconds=seconds)
    diff = max_abs_diff(export.expected, export.outputs[fmt])
    if diff > TOLERANCE:
        path.unlink(missing_ok=True)
        problem = (
            f"{FORMAT_TITLES[fmt]} output differs from the trained model by {diff:.3g} "
            f"(more than {TOLERANCE:g}) on the check batch; not offered"
        )
        return FormatResult(fmt, max_abs_diff=diff, problem=problem, seconds=seconds)
    return FormatResult(fmt, path=path, max_abs_diff=diff, seconds=seconds)


def _pytorch_readme(export: _Export) -> str:
    t = export.trained
    return readme_text(t.analysis, t.bundle.meta, t.norm, export.normalize)


def _finish(export: _Export, formats, make_zip: bool, check_seconds: float, standalone: dict) -> ExportReport:
    results = dict(export.results)
    for fmt in export.written:
        results[fmt] = _judge(export, fmt, check_seconds if fmt in STANDALONE_FORMATS else 0.0)
    trained, bundle = export.trained, export.trained.bundle
    report = ExportReport(
        bundle.path,
        safe_name(bundle.spec.name),
        {f: results[f] for f in formats},
        None,
        standalone,
        raw_inputs=takes_raw_inputs(trained, export.normalize),
    )
    write_report(report)
    small = pytorch_zip_path(bundle.path, report.name)
    small.unlink(missing_ok=True)  # an older one would hold an older model.py
    if "python" in report.results and report.results["python"].ok:
        report = dataclasses.replace(report, pytorch_zip=write_pytorch_zip(report, _pytorch_readme(export)))
    if make_zip:
        return dataclasses.replace(report, zip_path=write_zip(report))
    (bundle.path / f"{report.name}.zip").unlink(missing_ok=True)  # an older zip would hold older exports
    return report


def export_many(
    trained: list[Trained], formats=FORMATS, make_zip: bool = False, normalize: bool = True
) -> list[ExportReport]:
    """Write, run and compare each format of each bundle; model.py and model.ts of them all are checked in one
    fresh process. One report per bundle says per format what the user gets. With `normalize` (the default) every
    file applies the training normalisation itself and is checked on raw inputs; without, the files expect
    inputs that are already normalised, as the network saw them in training."""
    unknown = [f for f in formats if f not in FORMAT_FILES]
    assert not unknown, f"unknown export formats {unknown}"
    # model.ts and model.py first: the fresh process that checks them spends seconds importing torch, and it does
    # so while the ONNX files are written and checked here.
    first = [f for f in formats if f != "onnx"]
    exports = [_start(t, first, normalize) for t in trained]
    started = time.perf_counter()
    standalone = _start_standalone(exports)
    try:
        for export in exports:
            _write_more(export, [f for f in formats if f not in first])
            _check_onnx(export)
    finally:
        standalone = _finish_standalone(standalone)
    share = (time.perf_counter() - started) / max(len(exports), 1)  # each bundle's part of the one check
    return [_finish(export, formats, make_zip, share, standalone) for export in exports]


def export_trained(trained: Trained, formats=FORMATS, make_zip: bool = False, normalize: bool = True) -> ExportReport:
    (report,) = export_many([trained], formats, make_zip, normalize)
    return report


def export_bundle(path, formats=FORMATS, make_zip: bool = False, normalize: bool = True) -> ExportReport:
    """export_trained for the bundle directory at `path` (BundleError if it cannot be read)."""
    return export_trained(load_trained(path), formats, make_zip, normalize)
