"""Two processes under DDP (gloo, CPU) train the same model as one process on the same global batches.

The DDP side runs the product's own path (engine.cli.train_ddp.prepare_ddp_run: its sharding, its seeding, its
DDP wrapper) in two spawned processes. The reference is one process: the backprop Trainer with the same seed
(so the same initial weights) and a batch twice as large, fed in stored order (shuffle off) the global batch
of every DDP step, i.e. rank 0's batch followed by rank 1's. Which rows those are is computed here from the
documented rule, not from the product: one permutation of the training rows drawn with the run's seed, cut
into strided shards of n // world rows; each epoch, every rank draws the same permutation of its shard from a
generator seeded with the run's seed, and takes its batches in that order.

DDP averages the ranks' gradients; each rank's loss is the mean over its own batch of equal size, so the
average is the gradient of the mean loss over the union: the one-process step. The two runs differ only in
the order float32 additions are made (gloo's all-reduce sums the two ranks' gradients, then divides; the one
process sums over 20 rows at once), a few ulp per step, which Adam's normalised step can grow a little over
12 steps: parameters must agree to rtol 1e-5 (atol 1e-6 for entries near zero). A real error (a rank on the
wrong rows, a sum instead of a mean, ranks starting from different weights, a rank drawing a different order)
moves them by 1e-3 or more.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from builder.library.templates import TEMPLATES
from engine.cli.train_ddp import World, prepare_ddp_run
from engine.compile.fx_module import compile_analysis
from engine.train.backprop import Trainer, seed_everything
from engine.train.config import TrainConfig
from engine.train.losses import Sink
from engine.train.pipeline import analysis_for_training, fitted_dataset

WORLD_SIZE = 2
PER_RANK_BATCH = 10  # divides the 60 rows of each iris shard: every global batch is whole
EPOCHS = 2  # 6 steps an epoch; the second epoch checks the ranks draw their next order alike
CONFIG = TrainConfig(
    **{**TEMPLATES["mlp_iris"].train, "epochs": EPOCHS, "batch_size": PER_RANK_BATCH, "device": "cpu", "seed": 3}
)


def _rank_main(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    timeout = datetime.timedelta(seconds=60)  # a rank that never joins fails the test, not the suite's time
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD_SIZE, timeout=timeout)
    try:
        _train_and_save(rank, out)
        gc.collect()  # the DDP wrapper is gone before the group (see _train_and_save)
    finally:
        dist.destroy_process_group()


def _train_and_save(rank: int, out: str) -> None:
    """One rank's run. Its DDP wrapper dies when this returns: its reducer holds the last reference to the gloo
    group, and a group freed there, after destroy_process_group, joins gloo's thread while holding the GIL that
    thread waits for (the rank never exits; seen in 1 of 5 runs in a loop, and as a CI run hung 90 minutes)."""
    run = prepare_ddp_run(TEMPLATES["mlp_iris"].spec(), CONFIG, World(rank, rank, WORLD_SIZE), "cpu")
    events = list(run.trainer.run())
    assert events[-1]["kind"] == "done", events[-1]
    torch.save({k: v.clone() for k, v in run.model.state_dict().items()}, f"{out}.{rank}")


def global_batches_in_order(n_train: int, seed: int) -> torch.Tensor:
    """The training rows of every DDP step, concatenated: each step's rank 0 batch then rank 1's."""
    per_rank = n_train // WORLD_SIZE
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))
    shards = [order[rank::WORLD_SIZE][:per_rank] for rank in range(WORLD_SIZE)]
    epoch_generator = torch.Generator().manual_seed(seed)  # each rank's trainer draws with this same seed
    rows = []
    for _ in range(EPOCHS):
        local = torch.randperm(per_rank, generator=epoch_generator)
        for start in range(0, per_rank, PER_RANK_BATCH):
            rows += [shard[local[start : start + PER_RANK_BATCH]] for shard in shards]
    return torch.cat(rows)


def one_process_model() -> dict[str, torch.Tensor]:
    analysis = analysis_for_training(TEMPLATES["mlp_iris"].spec(), CONFIG)
    dataset = fitted_dataset(analysis, CONFIG)
    rows = global_batches_in_order(dataset.n_train, CONFIG.seed)
    laid_out = dataclasses.replace(dataset, x_train=dataset.x_train[rows], y_train=dataset.y_train[rows])
    config = dataclasses.replace(CONFIG, epochs=1, batch_size=WORLD_SIZE * PER_RANK_BATCH, shuffle=False)
    seed_everything(config.seed)
    model = compile_analysis(analysis)
    trainer = Trainer(model, laid_out, config, Sink.from_analysis(analysis))
    events = list(trainer.run())
    assert events[-1]["kind"] == "done" and trainer.step == EPOCHS * 6, events[-1]
    return model.state_dict()


def test_two_gloo_processes_train_the_same_model_as_one_process_on_the_same_global_batches(tmp_path):
    reference = one_process_model()
    seed_everything(CONFIG.seed)
    start = compile_analysis(analysis_for_training(TEMPLATES["mlp_iris"].spec(), CONFIG)).state_dict()
    out = str(tmp_path / "weights")
    # forkserver, not fork: a pytest-xdist worker has threads of its own (execnet's, torch's pool), and a fork
    # taken while one of them holds a lock can leave a rank stuck before it joins the group (a CI run hung for its
    # whole 90 minutes with this test unfinished). The forkserver is one thread; the ranks import torch again.
    mp.start_processes(_rank_main, (str(tmp_path / "store"), out), nprocs=WORLD_SIZE, start_method="forkserver")
    ranks = [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(WORLD_SIZE)]
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), f"the ranks' {name} differ"  # DDP keeps them equal
    for name, want in reference.items():
        assert not torch.allclose(start[name], want), f"{name} did not move: the check would be empty"
        torch.testing.assert_close(ranks[0][name], want, rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
