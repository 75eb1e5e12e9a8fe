"""`python -m engine autograd (SPEC | --template NAME) --out FILE.json`: the autograd graph of one training step.

Writes engine/probes/autograd_graph.py's AutogradGraph as one JSON object: operations (id, torch name, group,
forward and gradient stats), edges (from, to, shape) and groups (user node id -> op, members).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from builder.library.templates import TEMPLATES
from engine.cli.files import csv_problem, out_problem
from engine.cli.inspect_cmds import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_network_and_data_arguments,
    load_spec_or_report,
    run_or_report,
)
from engine.train.config import TrainConfig

DEFAULT_SAMPLES = 8  # engine.probes.autograd_graph.DEFAULT_SAMPLES, written out so that the parser needs no torch
SETTING_FLAGS = ("dataset", "target", "task", "seed")
MAX_SAMPLES = 4096  # the step's batch: the graph is the same at any size, its tensors are not


def add_autograd_parser(sub) -> None:
    parser = sub.add_parser("autograd", help="write the autograd graph of one training step as JSON")
    add_network_and_data_arguments(parser, "trace")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="batch size of the step")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.set_defaults(run=cmd_autograd)


def _spec_and_settings(args: argparse.Namespace):
    """(spec, TrainConfig) or (None, None) after printing why."""
    if bool(args.spec) == bool(args.template):
        print("error: give either a SPEC file or --template NAME")
        return None, None
    defaults = {}
    if args.template:
        template = TEMPLATES.get(args.template)
        if template is None:
            print(f"error: unknown template '{args.template}'; known templates: {', '.join(TEMPLATES)}")
            return None, None
        spec, defaults = template.spec(), dict(template.train)
    else:
        spec = load_spec_or_report(args.spec)
        if spec is None:
            return None, None
    flags = {f: getattr(args, f) for f in SETTING_FLAGS if getattr(args, f) is not None}
    config, problems = TrainConfig.from_dict({**defaults, **flags})
    problems += [p for p in [csv_problem(config.dataset) if config is not None else None] if p is not None]
    for problem in problems:
        print(f"error: {problem}")
    return (spec, config) if config is not None and not problems else (None, None)


def _finite(value):
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def cmd_autograd(args: argparse.Namespace) -> int:
    if not 1 <= args.samples <= MAX_SAMPLES:
        print(f"error: --samples must be in [1, {MAX_SAMPLES:,}], got {args.samples}")
        return EXIT_BAD_INPUT
    problem = out_problem("--out", args.out, "file")
    if problem is not None:
        print(f"error: {problem}")
        return EXIT_BAD_INPUT
    spec, config = _spec_and_settings(args)
    if spec is None:
        return EXIT_BAD_INPUT
    from engine.probes.autograd_graph import autograd_graph  # torch: only once the input has passed its checks

    graph = run_or_report(lambda: autograd_graph(spec, config, args.samples))
    if graph is None:
        return EXIT_BAD_INPUT
    try:
        Path(args.out).write_text(json.dumps(_finite(graph.to_dict())))
    except OSError as err:
        print(f"error: --out {args.out}: {err.strerror or err}")
        return EXIT_BAD_INPUT
    print(f"{len(graph.operations)} operations in {len(graph.groups)} groups written to {args.out}")
    return EXIT_OK
