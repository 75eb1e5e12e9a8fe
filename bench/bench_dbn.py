"""DBN on digits: validation accuracy with and without greedy pretraining, with all labels and with 10 %.

    python -m bench.bench_dbn            # prints a table; the numbers go into the issue notes

The same network (dbn_digits: 64 -> RBM 128 -> RBM 64 -> Linear 10), seed and fine-tuning epochs in each row;
"without" trains it by backprop from its initial weights (trainer backprop), "with" pretrains each RBM by CD-1
first (trainer dbn). label_fraction picks the labelled rows (stratified, seeded); pretraining sees every row.
Accuracy is measured on the same validation rows in every run. Seeds are averaged.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from builder.library.templates import TEMPLATES
from engine.threads import ThreadChoice, apply_threads
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run


def final_accuracy(config: TrainConfig) -> tuple[float, float]:
    """(validation accuracy at the end, seconds) of one run of dbn_digits with `config`."""
    run = prepare_run(TEMPLATES["dbn_digits"].spec(), config)
    started = time.perf_counter()
    events = list(run.trainer.run())
    assert events[-1]["kind"] == "done", events[-1]
    return events[-1]["val_accuracy"], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the template's)")
    args = parser.parse_args()
    threads = apply_threads(ThreadChoice(1, "one thread, set by this bench (engine.threads not asked)"))
    base = TrainConfig(**TEMPLATES["dbn_digits"].train, device="cpu")
    if args.epochs:
        base = dataclasses.replace(base, epochs=args.epochs)
    print(f"dbn_digits, {base.epochs} fine-tuning epochs, {base.pretrain_epochs} CD epochs per RBM, {args.seeds} seeds")
    print(f"torch threads: {threads.threads} ({threads.why})")
    print(f"{'labels':>7}  {'pretrained':>10}  {'val accuracy':>12}  {'seconds':>7}")
    for fraction in (1.0, 0.1):
        for trainer in ("backprop", "dbn"):
            runs = [
                final_accuracy(dataclasses.replace(base, trainer=trainer, label_fraction=fraction, seed=seed))
                for seed in range(args.seeds)
            ]
            accuracy = statistics.mean(a for a, _ in runs)
            seconds = statistics.mean(s for _, s in runs)
            print(f"{fraction:>7.0%}  {'yes' if trainer == 'dbn' else 'no':>10}  {accuracy:>12.1%}  {seconds:>7.1f}")


if __name__ == "__main__":
    main()
