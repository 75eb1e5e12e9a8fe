"""CLI commands that need no training: templates, datasets, validate, summary.

Each returns an exit code and prints plain lines; bad input is one clear line per problem, exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from builder.analysis.summary import format_table, summary_json
from builder.analysis.validate import Analysis, analyze
from builder.library.datasets import DATASETS
from builder.library.templates import TEMPLATES
from builder.ops.opdef import fmt
from builder.spec.spec import GraphSpec
from engine.cli.files import read_spec_file
from engine.errors import NetCanvasError, SpecInvalid

T = TypeVar("T")

EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED = 0, 2, 3


def print_issues(issues, prefix: str = "error") -> None:
    for issue in issues:
        fixes = "; ".join(f.description for f in getattr(issue, "fixes", ()))
        print(f"{prefix}: {issue}" + (f" (fix: {fixes})" if fixes else ""))


def add_network_and_data_arguments(parser, verb: str) -> None:
    """SPEC or --template, and the data flags, as `train` and `autograd` take them."""
    parser.add_argument("spec", nargs="?", help="GraphSpec JSON file (or use --template)")
    parser.add_argument("--template", help=f"{verb} a built-in template (see: python -m engine templates)")
    parser.add_argument("--dataset", help="dataset name or csv:PATH (default: the template's)")
    parser.add_argument("--target", help="CSV target column (default: the last column)")
    parser.add_argument("--task", choices=("classification", "regression", "reconstruction"))


def run_or_report(work: Callable[[], T]) -> T | None:
    """work()'s result, or None after printing why: a spec's issues one a line, any other user error in one."""
    try:
        return work()
    except SpecInvalid as err:
        print_issues(err.issues)
    except NetCanvasError as err:
        print(f"error: {err}")
    return None


def load_spec_or_report(path: str) -> GraphSpec | None:
    """The spec in the file at `path` (a regular file within NETCANVAS_MAX_SPEC_MB), or None after printing why."""
    spec, issues = read_spec_file(path)
    if spec is None:
        print_issues(issues)
    return spec


def analyze_or_report(spec: GraphSpec) -> Analysis | None:
    a = analyze(spec)
    if not a.ok:
        print_issues(a.issues)
        return None
    return a


def cmd_templates(args) -> int:
    for name in TEMPLATES:
        print(name)
    return EXIT_OK


def cmd_datasets(args) -> int:
    for info in DATASETS.values():
        classes = f", {info.n_classes} classes" if info.n_classes else ""
        print(
            f"{info.name:8s} {fmt(info.feature_shape):9s} {info.input_dtype:7s} {info.task}{classes}: "
            f"{info.description}"
        )
    print("csv:PATH  a CSV file with a header row; the target is the last column unless --target names one")
    return EXIT_OK


def analyze_file_or_report(path: str) -> Analysis | None:
    """Load and analyse a spec file; None after printing every problem."""
    spec = load_spec_or_report(path)
    return None if spec is None else analyze_or_report(spec)


def cmd_validate(args) -> int:
    a = analyze_file_or_report(args.spec)
    if a is None:
        return EXIT_BAD_INPUT
    print(
        f"valid: {len(a.spec.nodes)} nodes, output {fmt(a.shapes[a.output_id])} at '{a.output_id}', "
        f"{a.total_params:,} parameters"
    )
    return EXIT_OK


def cmd_summary(args) -> int:
    a = analyze_file_or_report(args.spec)
    if a is None:
        return EXIT_BAD_INPUT
    print(json.dumps(summary_json(a)) if args.json else format_table(a))
    return EXIT_OK
