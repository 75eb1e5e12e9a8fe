"""What an export hands over: one result per format, export.json beside the bundle, the full zip and the small
PyTorch zip.

    <name>.zip          the bundle, every checked export and export.json, under <name>/
    <name>_pytorch.zip  model.py, weights.safetensors and README.txt under <name>_pytorch/ (only while model.py
                        passed its check); README.txt's first two lines load model.py and run it on a raw row
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.export.formats import CHECK_BATCH, FORMAT_FILES, TOLERANCE
from engine.runs.bundle import BUNDLE_FILES, WEIGHTS_FILE

REPORT_FILE = "export.json"
README_FILE = "README.txt"
PYTORCH_SUFFIX = "_pytorch"  # <name>_pytorch.zip: model.py with its weights


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
    raw_inputs: bool = False  # the exports apply the training normalisation themselves
    pytorch_zip: Path | None = None  # <name>_pytorch.zip, while model.py passed its check

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "network"


def pytorch_zip_path(bundle: Path, name: str) -> Path:
    return Path(bundle) / f"{name}{PYTORCH_SUFFIX}.zip"


# --- export.json -------------------------------------------------------------------------------------


def write_report(report: ExportReport) -> Path:
    data = {
        "tolerance": TOLERANCE,
        "check_batch": CHECK_BATCH,
        "torch_version": torch.__version__,
        "raw_inputs": report.raw_inputs,
        "formats": {fmt: result.to_dict() for fmt, result in report.results.items()},
    }
    path = report.bundle / REPORT_FILE
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def read_report(bundle_dir, name: str) -> ExportReport | None:
    """The last export of this bundle (export.json), if it is newer than the weights, its files still exist and it
    says whether they take raw inputs (an older export.json does not: its files are not offered, export again)."""
    bundle = Path(bundle_dir)
    path = bundle / REPORT_FILE
    try:
        if path.stat().st_mtime < (bundle / WEIGHTS_FILE).stat().st_mtime:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        formats = data["formats"]
        results = {fmt: _result_from_dict(fmt, bundle, raw) for fmt, raw in formats.items() if fmt in FORMAT_FILES}
        raw_inputs = bool(data["raw_inputs"])  # absent: an export from before the normalisation went inside
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if any(r.ok and (r.path is None or not r.path.is_file()) for r in results.values()):
        return None
    zip_path, small = bundle / f"{name}.zip", pytorch_zip_path(bundle, name)
    python_ok = "python" in results and results["python"].ok
    return ExportReport(
        bundle,
        name,
        results,
        zip_path if zip_path.is_file() else None,
        raw_inputs=raw_inputs,
        pytorch_zip=small if python_ok and small.is_file() else None,
    )


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


# --- the zips ----------------------------------------------------------------------------------------


def zip_members(report: ExportReport) -> list[Path]:
    exports = [r.path for r in report.results.values() if r.ok and r.path is not None]
    return [report.bundle / name for name in BUNDLE_FILES] + exports + [report.bundle / REPORT_FILE]


# Weights and compiled models are mostly float32: deflate shrinks them by ~10% at ~24 MB/s on one core (46 MB of
# safetensors: 1.9 s), seconds of a shared server's CPU per large export for a tenth of the download. They go in
# stored; text (model.py, spec.json, the report) is deflated.
STORED_SUFFIXES = (".safetensors", ".onnx", ".ts")


def compression_for(name: str) -> int:
    return zipfile.ZIP_STORED if name.endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED


def _write_zip(path: Path, members: dict[str, Path | str]) -> Path:
    """A zip at `path` of {name in the zip: file on disk, or text}, written beside and then moved in place."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, member in members.items():
            if isinstance(member, Path):
                archive.write(member, arcname, compress_type=compression_for(arcname))
            else:
                archive.writestr(arcname, member)
    tmp.replace(path)
    return path


def write_zip(report: ExportReport) -> Path:
    """One zip with the bundle, every checked export and the report, all under a folder named after the net."""
    members = {f"{report.name}/{member.name}": member for member in zip_members(report)}
    return _write_zip(report.bundle / f"{report.name}.zip", members)


def write_pytorch_zip(report: ExportReport, readme: str) -> Path:
    """<name>_pytorch.zip: the checked model.py, the weights it loads and `readme`, under <name>_pytorch/."""
    path = pytorch_zip_path(report.bundle, report.name)
    folder = path.stem
    members = {
        f"{folder}/{FORMAT_FILES['python']}": report.results["python"].path,
        f"{folder}/{WEIGHTS_FILE}": report.bundle / WEIGHTS_FILE,
        f"{folder}/{README_FILE}": readme,
    }
    return _write_zip(path, members)
