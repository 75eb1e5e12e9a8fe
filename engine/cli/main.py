"""`python -m engine ...`: the headless command line (README: Command line).

Exit codes: 0 done, 2 bad input (one clear line per problem), 3 the loss diverged. No tracebacks for user
mistakes (a NetCanvasError or an OSError that reaches main is one line too, exit 2); an unexpected internal
error prints one line, exit 1 (NETCANVAS_DEBUG=1 shows the traceback). Files named on the command line are
checked before any work (engine/cli/files.py): only regular files within their caps are read, and --out must
be a place that can be written.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from engine.cli.autograd_cmd import add_autograd_parser
from engine.cli.export_cmd import add_export_parser
from engine.cli.inspect_cmds import (
    EXIT_BAD_INPUT,
    add_network_and_data_arguments,
    cmd_datasets,
    cmd_summary,
    cmd_templates,
    cmd_validate,
    print_issues,
)
from engine.cli.train_cmd import add_rule_arguments, cmd_train
from engine.errors import NetCanvasError, SpecInvalid


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line plus a hint, exit 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see: python -m engine {self.prog.split()[-1]} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m engine", description="NetCanvas engine: validate, summarise, train, export, autograd."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("templates", help="list template names").set_defaults(run=cmd_templates)
    sub.add_parser("datasets", help="list datasets with shapes and task").set_defaults(run=cmd_datasets)
    validate = sub.add_parser("validate", help="validate a GraphSpec JSON file")
    validate.add_argument("spec")
    validate.set_defaults(run=cmd_validate)
    summary = sub.add_parser("summary", help="shapes and parameter counts per node")
    summary.add_argument("spec")
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.set_defaults(run=cmd_summary)
    train = sub.add_parser("train", help="train a spec or a template")
    _add_train(train)
    add_ddp_flag(train)  # --ddp: DistributedDataParallel under torchrun (engine/cli/train_ddp.py, loaded for it)
    add_export_parser(sub)  # export BUNDLE --format ... (engine/cli/export_cmd.py)
    add_autograd_parser(sub)  # autograd SPEC --out FILE.json (engine/cli/autograd_cmd.py)
    return parser


def _add_train(train: argparse.ArgumentParser) -> None:
    add_network_and_data_arguments(train, "train")
    train.add_argument("--epochs", type=int)
    train.add_argument("--optimizer", choices=("sgd", "momentum", "adam", "adamw", "rmsprop"))
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--val-split", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--deterministic",
        action="store_const",
        const=True,
        help="deterministic algorithms only: the same seed repeats the run exactly on a GPU too (slower there)",
    )
    train.add_argument(
        "--amp",
        choices=("off", "bf16", "fp16"),
        help="mixed precision: bf16, or fp16 with gradient scaling (its skipped steps are not divergence)",
    )
    train.add_argument("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    train.add_argument("--log-every", type=int, help="steps between step lines in --json output")
    train.add_argument(
        "--threads",
        type=int,
        help="torch's threads (default: chosen from the network's size and the free cores; the start line says why)",
    )
    train.add_argument("--out", help="write the run bundle (spec, config, weights, meta) to this directory")
    train.add_argument("--json", action="store_true", help="one JSON object per line")
    train.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on a Ray cluster as one actor: auto, host:port, ray://host:port, or local (a private Ray here)",
    )
    add_rule_arguments(train)  # --trainer and the learning rules' settings (engine/cli/train_cmd.py)
    train.set_defaults(run=cmd_train)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SpecInvalid as err:  # a user's mistake that a command did not report itself: still one line each
        print_issues(err.issues)
        return EXIT_BAD_INPUT
    except NetCanvasError as err:
        print(f"error: {err}")
        return EXIT_BAD_INPUT
    except OSError as err:  # a path the user named that the system refuses (a full disk, a vanished folder)
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}")
        return EXIT_BAD_INPUT
    except Exception as err:  # an unexpected internal error: one line, not a traceback
        if os.environ.get("NETCANVAS_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(err).__name__}: {err} (set NETCANVAS_DEBUG=1 for details)", file=sys.stderr)
        return 1


def add_ddp_flag(train_parser) -> None:
    """`--ddp` on the train command: with it, train runs engine.cli.train_ddp.cmd_train_ddp instead of cmd_train."""
    train_parser.add_argument(
        "--ddp", action="store_true", help="train with DistributedDataParallel; launch with torchrun"
    )
    train_parser.set_defaults(run=train_or_ddp)


def train_or_ddp(args) -> int:
    if args.ray is not None:
        if args.ddp:
            print("error: --ray and --ddp do not go together: a run on Ray is one actor (multi-node DDP: torchrun)")
            return EXIT_BAD_INPUT
        from engine.cli.train_ray import cmd_train_ray  # Ray: only for --ray

        return cmd_train_ray(args)
    if not args.ddp:
        return cmd_train(args)
    from engine.cli.train_ddp import cmd_train_ddp  # torch.distributed: only for --ddp

    return cmd_train_ddp(args)
