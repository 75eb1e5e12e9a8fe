"""Exports of a run bundle (docs/ARCHITECTURE.md §2, §3), each proven before it is handed over.

    report = export_bundle("runs/lenet", ["onnx", "torchscript", "python"], make_zip=True)
    for result in report.results.values():
        result.ok, result.path, result.max_abs_diff, result.problem

Every file is written beside the bundle, loaded with the runtime its consumer uses (onnxruntime for ONNX;
a fresh Python process without NetCanvas for model.ts and model.py), run on a fixed batch and compared
with the trained model. A largest absolute difference above TOLERANCE is a problem, not a download: the
file is removed. An op setting a format cannot express (the `blocks` of its record in
engine/compile/op_records.py, read by formats.blocking_reasons) is reported as "op 'node' blocks FORMAT
because ...", and any other failure of an exporter as one line; nothing raises but BundleError for a
bundle that cannot be read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import fx

from builder.validate import Analysis, analyze
from engine.compile.fx_module import compile_analysis
from engine.errors import BundleError, NetCanvasError
from engine.export.formats import (
    CHECK_BATCH,
    FORMAT_FILES,
    FORMAT_TITLES,
    FORMATS,
    TOLERANCE,
    blocking_reasons,
    check_batches,
    max_abs_diff,
)
from engine.export.onnx_format import run_onnx, write_onnx
from engine.export.python_source import model_source
from engine.export.standalone_check import Job, run_standalone
from engine.runs.bundle import BUNDLE_FILES, WEIGHTS_FILE, Bundle, read_bundle

REPORT_FILE = "export.json"
STANDALONE_FORMATS = ("torchscript", "python")  # checked in a fresh process without the project


@dataclass(frozen=True)
class Trained:
    """A bundle's network, compiled and holding the trained weights, in eval mode."""

    bundle: Bundle
    analysis: Analysis
    model: fx.GraphModule


@dataclass(frozen=True)
class FormatResult:
    format: str
    path: Path | None = None  # the checked file; None when there is nothing to download
    max_abs_diff: float | None = None
    problem: str | None = None  # one line: why there is no download
    blocked: bool = False  # an op of the network cannot be expressed in this format (problem names it)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict:
        diff = self.max_abs_diff
        return {
            "file": self.path.name if self.path else None,
            "max_abs_diff": diff if diff is None or math.isfinite(diff) else None,
            "problem": self.problem,
            "blocked": self.blocked,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class ExportReport:
    bundle: Path
    name: str  # the network's name, safe for file names
    results: dict[str, FormatResult] = field(default_factory=dict)
    zip_path: Path | None = None
    standalone: dict = field(default_factory=dict, compare=False)  # the fresh process's report (sys.path...)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "network"


# --- the trained model -------------------------------------------------------------------------------


def _weights_problems(analysis: Analysis, weights: dict[str, torch.Tensor]) -> list[str]:
    """How `weights` differ from the state dict the spec compiles to, found on the meta device: the network is
    built without allocating a byte, so a bundle whose spec and weights disagree costs nothing to refuse."""
    with torch.device("meta"):
        wanted = compile_analysis(analysis).state_dict()
    problems = [f"{key} is missing" for key in wanted if key not in weights]
    problems += [f"{key} is not in the network" for key in weights if key not in wanted]
    problems += [
        f"{key} has shape {list(weights[key].shape)}, the network needs {list(value.shape)}"
        for key, value in wanted.items()
        if key in weights and weights[key].shape != value.shape
    ]
    return problems


def load_trained(path) -> Trained:
    """Read a bundle, compile its spec and load its weights (strictly); BundleError naming the file if not."""
    bundle = read_bundle(path)
    analysis = analyze(bundle.spec)
    if not analysis.ok:
        first = next(i for i in analysis.issues if i.severity == "error")
        raise BundleError(f"bundle '{bundle.path}': spec.json does not validate: {first}")
    problems = _weights_problems(analysis, bundle.state_dict)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise BundleError(f"bundle '{bundle.path}': {WEIGHTS_FILE} does not fit spec.json: {shown}")
    model = compile_analysis(analysis)
    model.load_state_dict(bundle.state_dict, strict=True)
    return Trained(bundle, analysis, model.eval())


@torch.no_grad()
def reference_outputs(trained: Trained, batches: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: trained.model(batch) for name, batch in batches.items()}


# --- writing -----------------------------------------------------------------------------------------


def _write(fmt: str, trained: Trained, path: Path, example: torch.Tensor) -> None:
    a = trained.analysis
    if fmt == "onnx":
        write_onnx(trained.model, example, path, a.input_id, a.output_id)
    elif fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's notes on annotations concern torch, not the user
            torch.jit.save(torch.jit.script(trained.model), str(path))
    else:
        path.write_text(model_source(trained.model, a, trained.bundle.meta), encoding="utf-8")


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def write_formats(trained: Trained, formats, example: torch.Tensor):
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
            _write(fmt, trained, path, example)
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
    batches: dict[str, torch.Tensor]
    expected: dict[str, torch.Tensor]
    written: dict[str, tuple[Path, float]]  # format -> (file, seconds to write it)
    results: dict[str, FormatResult]  # so far: the blocked and failed formats
    outputs: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def _start(trained: Trained, formats) -> _Export:
    batches = check_batches(trained.analysis)
    expected = reference_outputs(trained, batches)
    written, results = write_formats(trained, formats, batches["batch"])
    return _Export(trained, batches, expected, written, results)


def _check_onnx(export: _Export) -> None:
    if "onnx" not in export.written:
        return
    try:
        outputs = run_onnx(export.written["onnx"][0], list(export.batches.values()))
        export.outputs["onnx"] = dict(zip(export.batches, outputs))
    except NetCanvasError as err:
        export.problems["onnx"] = str(err)


def _check_standalone(exports: list[_Export]) -> dict:
    """Run every model.py and model.ts of `exports` in one fresh process without NetCanvas; its report."""
    jobs = {
        f"b{i}_{fmt}": (export, fmt)
        for i, export in enumerate(exports)
        for fmt in STANDALONE_FORMATS
        if fmt in export.written
    }
    if not jobs:
        return {}
    outputs, failures, report = run_standalone(
        [
            Job(key, fmt, export.written[fmt][0], export.trained.bundle.path / WEIGHTS_FILE, export.batches)
            for key, (export, fmt) in jobs.items()
        ]
    )
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


def _finish(export: _Export, formats, make_zip: bool, check_seconds: float, standalone: dict) -> ExportReport:
    results = dict(export.results)
    for fmt in export.written:
        results[fmt] = _judge(export, fmt, check_seconds if fmt in STANDALONE_FORMATS else 0.0)
    bundle = export.trained.bundle
    report = ExportReport(bundle.path, safe_name(bundle.spec.name), {f: results[f] for f in formats}, None, standalone)
    write_report(report)
    if make_zip:
        return dataclasses.replace(report, zip_path=write_zip(report))
    (bundle.path / f"{report.name}.zip").unlink(missing_ok=True)  # an older zip would hold older exports
    return report


def export_many(trained: list[Trained], formats=FORMATS, make_zip: bool = False) -> list[ExportReport]:
    """Write, run and compare each format of each bundle; model.py and model.ts of them all are checked in one
    fresh process. One report per bundle says per format what the user gets."""
    unknown = [f for f in formats if f not in FORMAT_FILES]
    assert not unknown, f"unknown export formats {unknown}"
    exports = [_start(t, formats) for t in trained]
    for export in exports:
        _check_onnx(export)
    started = time.perf_counter()
    standalone = _check_standalone(exports)
    share = (time.perf_counter() - started) / max(len(exports), 1)  # each bundle's part of the one check
    return [_finish(export, formats, make_zip, share, standalone) for export in exports]


def export_trained(trained: Trained, formats=FORMATS, make_zip: bool = False) -> ExportReport:
    (report,) = export_many([trained], formats, make_zip)
    return report


def export_bundle(path, formats=FORMATS, make_zip: bool = False) -> ExportReport:
    """export_trained for the bundle directory at `path` (BundleError if it cannot be read)."""
    return export_trained(load_trained(path), formats, make_zip)


# --- report and zip ----------------------------------------------------------------------------------


def write_report(report: ExportReport) -> Path:
    data = {
        "tolerance": TOLERANCE,
        "check_batch": CHECK_BATCH,
        "torch_version": torch.__version__,
        "formats": {fmt: result.to_dict() for fmt, result in report.results.items()},
    }
    path = report.bundle / REPORT_FILE
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def read_report(bundle_dir, name: str) -> ExportReport | None:
    """The last export of this bundle (export.json), if it is newer than the weights and its files still exist."""
    bundle = Path(bundle_dir)
    path = bundle / REPORT_FILE
    try:
        if path.stat().st_mtime < (bundle / WEIGHTS_FILE).stat().st_mtime:
            return None
        formats = json.loads(path.read_text(encoding="utf-8"))["formats"]
        results = {fmt: _result_from_dict(fmt, bundle, raw) for fmt, raw in formats.items() if fmt in FORMAT_FILES}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if any(r.ok and (r.path is None or not r.path.is_file()) for r in results.values()):
        return None
    zip_path = bundle / f"{name}.zip"
    return ExportReport(bundle, name, results, zip_path if zip_path.is_file() else None)


def _result_from_dict(fmt: str, bundle: Path, raw: dict) -> FormatResult:
    diff = raw["max_abs_diff"]
    return FormatResult(
        fmt,
        path=bundle / raw["file"] if raw["file"] else None,
        max_abs_diff=float(diff) if diff is not None else None,
        problem=raw["problem"],
        blocked=bool(raw["blocked"]),
        seconds=float(raw["seconds"]),
    )


def zip_members(report: ExportReport) -> list[Path]:
    exports = [r.path for r in report.results.values() if r.ok and r.path is not None]
    return [report.bundle / name for name in BUNDLE_FILES] + exports + [report.bundle / REPORT_FILE]


def write_zip(report: ExportReport) -> Path:
    """One zip with the bundle, every checked export and the report, all under a folder named after the net."""
    path = report.bundle / f"{report.name}.zip"
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in zip_members(report):
            archive.write(member, f"{report.name}/{member.name}")
    tmp.replace(path)
    return path
