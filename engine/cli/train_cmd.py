"""`python -m engine train`: settings from the template (if any), overridden by flags; events as lines.

torch is imported only once the settings, the spec and --out have passed their checks: a refusal needs none of
it, so it comes at once (and `python -m engine validate` never loads torch).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from builder.library.templates import TEMPLATES
from engine.cli.files import csv_problem, out_problem
from engine.cli.inspect_cmds import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_OK, load_spec_or_report, run_or_report
from engine.threads import applied, apply_threads, threads_for_spec
from engine.train.config import RULE_SETTINGS, SOM_DECAYS, SOM_MODES, TRAINERS, TrainConfig
from engine.train.rule_card import help_text

if TYPE_CHECKING:
    from engine.train.pipeline import PreparedRun

RULE_FLAGS = ("trainer", *RULE_SETTINGS)  # the learning rule and its settings (engine.train.config)
FLAG_FIELDS = (
    "dataset",
    "target",
    "task",
    "epochs",
    "optimizer",
    "lr",
    "weight_decay",
    "batch_size",
    "val_split",
    "seed",
    "device",
    "log_every",
    "deterministic",
    "amp",
    "threads",
    *RULE_FLAGS,
)


EPOCHS_HELP = (
    "epochs of each phase, as the Train page's Epochs: the run's epochs for backprop, perceptron, rbm and som; "
    "dbn: the fine-tuning epochs and, unless --pretrain-epochs is given, the pretraining epochs per RBM (a "
    "template's own pretraining epochs give way: --epochs 3 on dbn_digits trains 3 + 3 + 3 = 9 epochs); dsn: "
    "the epochs of each module"
)


def add_rule_arguments(train: argparse.ArgumentParser) -> None:
    """--trainer and the learning rules' settings (engine.train.config documents each); --epochs's meaning and
    the settings each rule reads (engine.train.rule_card) in `train --help`."""
    for action in train._actions:  # --epochs is declared with the common flags (engine.cli.main)
        if "--epochs" in action.option_strings:
            action.help = EPOCHS_HELP
    train.formatter_class = argparse.RawDescriptionHelpFormatter
    train.epilog = help_text()
    train.add_argument("--trainer", choices=TRAINERS, help="the learning rule; auto picks one from the graph")
    train.add_argument(
        "--no-shuffle", dest="shuffle", action="store_const", const=False, help="the examples in their stored order"
    )
    train.add_argument("--cd-k", type=int, help="rbm, dbn: Gibbs steps of contrastive divergence")
    train.add_argument(
        "--persistent", action="store_const", const=True, help="rbm, dbn: persistent CD (the chain carries on)"
    )
    train.add_argument("--pretrain-epochs", type=int, help="dbn: epochs of CD per RBM (default: --epochs)")
    train.add_argument("--pretrain-lr", type=float, help="dbn: the CD learning rate (default: --lr)")
    train.add_argument("--som-sigma", type=float, help="som: the first neighbourhood radius in grid units")
    train.add_argument("--som-decay", choices=SOM_DECAYS, help="som: how the radius and the rate shrink")
    train.add_argument("--som-mode", choices=SOM_MODES, help="som: online (one example per update) or batch")
    train.add_argument("--label-fraction", type=float, help="dbn, dsn: the share of labelled rows (stratified)")
    train.add_argument("--input-noise", type=float, help="autoencoders: the share of inputs set to 0 (denoising)")
    train.add_argument("--sparsity", type=float, help="autoencoders: the weight of an L1 penalty on the code")


def _spec_and_defaults(args):
    """(spec, template training defaults) or (None, None) after printing why."""
    if bool(args.spec) == bool(args.template):
        print("error: give either a SPEC file or --template NAME")
        return None, None
    if args.template:
        template = TEMPLATES.get(args.template)
        if template is None:
            print(f"error: unknown template '{args.template}'; known templates: {', '.join(TEMPLATES)}")
            return None, None
        return template.spec(), dict(template.train)
    spec = load_spec_or_report(args.spec)
    return spec, ({} if spec is not None else None)


def _config(args, defaults: dict) -> tuple[TrainConfig | None, list[str]]:
    """The run's settings, or None and one line per problem, --out included (checked before any training)."""
    flags = {f: getattr(args, f) for f in FLAG_FIELDS if getattr(args, f) is not None}
    if "epochs" in flags and "pretrain_epochs" not in flags:
        defaults = {k: v for k, v in defaults.items() if k != "pretrain_epochs"}  # --epochs: every phase (EPOCHS_HELP)
    config, problems = TrainConfig.from_dict({**defaults, **flags})
    found = [csv_problem(config.dataset) if config is not None else None]
    found.append(out_problem("--out", args.out, "folder") if args.out is not None else None)
    found = [problem for problem in found if problem is not None]
    return (None, [*problems, *found]) if found else (config, problems)


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.4f}"


NOT_METRICS = ("kind", "epoch", "step", "seconds", "train_seconds", "phase", "message")


def _human_line(event: dict, epochs: int) -> str | None:
    if event["kind"] == "phase":
        return event["message"]
    if event["kind"] != "epoch":
        return None
    line = f"epoch {event['epoch']}/{epochs}"
    for name, value in event.items():
        if name not in NOT_METRICS:
            shown = str(value) if isinstance(value, int) else _fmt(value, percent=name.endswith("accuracy"))
            line += f"  {name} {shown}"
    return line + f"  ({event['seconds']:.2f} s)"


def _json_line(event: dict) -> str:
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in event.items()}
    return json.dumps(clean)


def _run(run: PreparedRun, as_json: bool) -> dict:
    """Drive the trainer, printing as we go; returns the last event."""
    trainer, last = run.trainer, {}
    head = {
        "kind": "start",
        "device": str(trainer.device),
        "message": trainer.device_message,
        "train_samples": trainer.dataset.n_train,
        "val_samples": trainer.dataset.n_val,
        "trainer": trainer.name,
        "why": run.choice.reason if run.choice is not None else "",
        **applied().event(),  # torch's threads and why (engine.threads)
    }
    print(
        _json_line(head)
        if as_json
        else f"{trainer.device_message}; {head['threads_why']}; {head['train_samples']} training and "
        f"{head['val_samples']} validation samples of '{run.config.dataset}'; {head['why']}",
        flush=True,
    )
    for event in trainer.run():
        last = event
        line = _json_line(event) if as_json else _human_line(event, trainer.total_epochs)
        if line:
            print(line, flush=True)
    return last


def checked_spec_and_config(args):
    """The network and the settings the command line asks for, or None once every problem is printed (one
    `error:` line each); the caller then exits with EXIT_BAD_INPUT."""
    spec, defaults = _spec_and_defaults(args)
    if spec is None:
        return None
    config, problems = _config(args, defaults)
    if config is None:
        for problem in problems:
            print(f"error: {problem}")
        return None
    return spec, config


def cmd_train(args) -> int:
    checked = checked_spec_and_config(args)
    if checked is None:
        return EXIT_BAD_INPUT
    spec, config = checked
    import torch

    from engine.runs.bundle import write_bundle
    from engine.train.counters import counter_text
    from engine.train.device import out_of_memory
    from engine.train.pipeline import prepare_run

    apply_threads(threads_for_spec(spec, config, setting_name="--threads"))  # before any torch work
    run = run_or_report(lambda: prepare_run(spec, config))
    if run is None:
        return EXIT_BAD_INPUT
    try:
        last = _run(run, args.json)
    except torch.OutOfMemoryError:  # the step's tensors go with the exception
        last = {"kind": "out_of_memory"}
    if last.get("kind") == "out_of_memory":
        trainer = run.trainer
        print(f"error: {out_of_memory(trainer.device, config.batch_size, trainer.step)}", flush=True)
        return EXIT_BAD_INPUT
    if not args.json:
        counter = counter_text(run.trainer.counts())  # the Train page's counter, phase by phase
        print(f"{last.get('message', '')} · epochs {counter}", flush=True)
    if args.out:
        path = write_bundle(args.out, spec, config, run.model, run.dataset, run.trainer.metrics())
        if not args.json:
            print(f"bundle written to {path}")
    return EXIT_DIVERGED if last.get("kind") == "diverged" else EXIT_OK
