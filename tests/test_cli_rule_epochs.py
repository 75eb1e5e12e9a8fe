"""`train --epochs` means what the Train page's Epochs means, phase by phase (engine.cli.train_cmd, EPOCHS_HELP):
on dbn_digits (two RBMs, pretraining epochs 10 in the template) `--epochs 1` trains one epoch per phase, not
the template's 10 per RBM plus 1; `--pretrain-epochs` still sets pretraining on its own; `train --help` says it."""

from __future__ import annotations

import json

import torch

from engine.cli.main import main


def epoch_events(capsys, *argv) -> tuple[int, list[dict]]:
    torch.set_num_threads(1)
    code = main(["train", "--template", "dbn_digits", "--device", "cpu", "--batch-size", "512", "--json", *argv])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return code, [e for e in lines if e.get("kind") == "epoch"]


def test_epochs_on_dbn_digits_sets_every_phase(capsys):
    code, epochs = epoch_events(capsys, "--epochs", "1")
    assert code == 0 and [e["epoch"] for e in epochs] == [1, 2, 3]  # rbm1, rbm2, fine-tuning: one epoch each


def test_pretrain_epochs_still_sets_pretraining_alone(capsys):
    code, epochs = epoch_events(capsys, "--epochs", "1", "--pretrain-epochs", "2")
    assert code == 0 and len(epochs) == 2 + 2 + 1


def test_train_help_says_what_epochs_means(capsys):
    try:
        main(["train", "--help"])
    except SystemExit:
        pass
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps the help, at spaces and hyphens

    def said(text: str) -> bool:
        return "".join(text.split()) in shown

    assert said("dbn: the fine-tuning epochs and, unless --pretrain-epochs is given, the pretraining epochs per RBM")
    assert said("som: lr, epochs, batch_size, som_sigma, som_decay, som_mode, shuffle")
