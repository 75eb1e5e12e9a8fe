"""`python -m engine export BUNDLE --format onnx|torchscript|python|all`: write exports beside the bundle and
check each against the trained model on a fixed batch (README: Command line).

One line per format: its file and the largest absolute difference from the trained model, or an error line
saying why there is no file (an op that blocks the format, or a check that failed). Exit 0 when every
asked-for format was written and checked, 2 otherwise (and for a bundle that cannot be read).

Every file takes raw inputs: it applies the normalisation the network was trained with (meta.json) itself, and is
checked on raw inputs. `--without-normalization` writes files that expect inputs already normalised, as before
(the ONNX graph without the step; model.ts with `normalize` False; model.py's load_model(normalize=False) by
default). A checked model.py also comes as <name>_pytorch.zip with its weights and a README.txt.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from builder.spec.limits import MB, cap_name, limits
from engine.cli.files import out_problem
from engine.cli.inspect_cmds import EXIT_BAD_INPUT, EXIT_OK
from engine.errors import BundleError
from engine.user_files import UserFileError, check_regular_file

if TYPE_CHECKING:
    from engine.export.exporter import ExportReport, FormatResult

# engine.export.formats.FORMATS and engine.runs.bundle's file names, written out so that the parser (and a
# refusal) need no torch; tests/test_cli.py holds them equal
FORMATS = ("onnx", "torchscript", "python")
BUNDLE_FILES = ("spec.json", "train.json", "weights.safetensors", "meta.json")
WEIGHTS_FILE = "weights.safetensors"
FORMAT_CHOICES = (*FORMATS, "all")


def add_export_parser(sub) -> None:
    export = sub.add_parser("export", help="export a run bundle to ONNX, TorchScript or model.py, checked")
    export.add_argument("bundle", help="run bundle directory (written by: python -m engine train ... --out DIR)")
    export.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        default="all",
        help="all: every format and one zip with the bundle (default: all)",
    )
    export.add_argument(
        "--without-normalization",
        action="store_true",
        help="files that expect inputs already normalised as in training (default: they take raw inputs and apply "
        "the training normalisation themselves)",
    )
    export.add_argument("--json", action="store_true", help="print one JSON object")
    export.set_defaults(run=cmd_export)


def result_line(result: FormatResult) -> str:
    from engine.export.formats import FORMAT_CHECKS

    if not result.ok:
        return f"error: {result.format}: {result.problem}"
    return (
        f"{result.format:12s} {result.path.name:11s} max abs diff {result.max_abs_diff:.3g}"
        f"  ({FORMAT_CHECKS[result.format]})"
    )


def inputs_line(report: ExportReport) -> str:
    if report.raw_inputs:
        return "raw: each file applies the training normalisation itself"
    return "as the network was trained on (this network was trained without normalisation, or it was left out)"


def report_json(report: ExportReport) -> dict:
    from engine.export.formats import TOLERANCE

    return {
        "bundle": str(report.bundle),
        "ok": report.ok,
        "tolerance": TOLERANCE,
        "formats": {fmt: r.to_dict() for fmt, r in report.results.items()},
        "zip": str(report.zip_path) if report.zip_path else None,
        "pytorch_zip": str(report.pytorch_zip) if report.pytorch_zip else None,
        "raw_inputs": report.raw_inputs,
    }


def bundle_problem(bundle: str) -> str | None:
    """Why the bundle folder cannot be exported, found before reading it: the exports are written into it, and
    each of its files must be a regular file within its cap (a JSON file within NETCANVAS_MAX_SPEC_MB, the
    weights within 8 bytes a parameter of NETCANVAS_MAX_PARAMS)."""
    problem = out_problem("BUNDLE", bundle, "folder")
    if problem is not None or not Path(bundle).is_dir():
        return problem  # a missing bundle: read_bundle says so
    caps = limits()
    for name in BUNDLE_FILES:
        if not os.path.lexists(Path(bundle) / name):
            continue  # read_bundle names every missing file at once
        big = name == WEIGHTS_FILE
        max_bytes = caps.max_params * 8 + MB if big else caps.max_spec_bytes
        cap = cap_name("max_params" if big else "max_spec_mb")
        try:
            check_regular_file(str(Path(bundle) / name), f"bundle file {name}", max_bytes, cap)
        except UserFileError as err:
            return str(err)
    return None


def cmd_export(args: argparse.Namespace) -> int:
    formats = FORMATS if args.format == "all" else (args.format,)
    problem = bundle_problem(args.bundle)
    if problem is not None:
        print(f"error: {problem}")
        return EXIT_BAD_INPUT
    from engine.export.exporter import export_bundle

    try:
        normalize = not args.without_normalization
        report = export_bundle(args.bundle, formats, make_zip=args.format == "all", normalize=normalize)
    except BundleError as err:
        print(f"error: {err}")
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(report_json(report)))
    else:
        for fmt in formats:
            print(result_line(report.results[fmt]))
        if report.pytorch_zip:
            print(f"{'python zip':12s} {report.pytorch_zip.name}  (model.py, weights.safetensors, README.txt)")
        if report.zip_path:
            print(f"{'zip':12s} {report.zip_path.name}  (the bundle and every checked export)")
        print(f"{'inputs':12s} {inputs_line(report)}")
        print(f"written to {report.bundle}" if report.ok else f"some exports failed; files are in {report.bundle}")
    return EXIT_OK if report.ok else EXIT_BAD_INPUT
