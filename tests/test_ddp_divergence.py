"""DDP when only one process sees a NaN loss: every process must stop at the same check with the same message.

Two CPU processes (gloo) train one DDP model; rank 1's shard holds a NaN sample. Its loss turns NaN one step
before rank 0's (the NaN reaches rank 0 through the averaged gradients), so without a shared vote rank 1
stops alone and rank 0 waits in the gradients' all_reduce until the process group's timeout.
"""

from __future__ import annotations

import datetime
import gc
import json

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from engine.cli.train_ddp import World, divergence_vote
from engine.data.datasets import Dataset
from engine.train.backprop import Trainer
from engine.train.config import TrainConfig

WORLD_SIZE = 2


def _shard(rank: int) -> Dataset:
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(40, 2, generator=generator)  # [40, 2]
    y = (x[:, 0] > 0).long()  # [40]
    if rank == 1:  # one bad sample on one process, in the 2nd batch of epoch 1 (the trainer's seeded order)
        x[torch.randperm(40, generator=torch.Generator().manual_seed(0))[5]] = float("nan")
    return Dataset("toy", "classification", x, y, x[:8].nan_to_num(), y[:8], 2, ("a", "b"), (2,), "float32")


def _rank_main(rank: int, store: str, results: str) -> None:
    timeout = datetime.timedelta(seconds=20)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD_SIZE, timeout=timeout)
    try:
        _train_and_write(rank, results)
        gc.collect()  # the DDP model is gone before the group: freed after it, it can hang the rank (test_ddp_equal)
    finally:
        dist.destroy_process_group()


def _train_and_write(rank: int, results: str) -> None:
    torch.manual_seed(0)
    model = DistributedDataParallel(nn.Linear(2, 2))
    config = TrainConfig(dataset="xor", batch_size=4, epochs=3, log_every=1, optimizer="sgd", lr=0.1, device="cpu")
    trainer = Trainer(model, _shard(rank), config)
    trainer.divergence_vote = divergence_vote(World(rank, rank, WORLD_SIZE), "cpu")
    events = list(trainer.run())
    with open(f"{results}.{rank}", "w") as out:
        json.dump({"last": events[-1], "status": trainer.status}, out)


def test_one_process_seeing_nan_stops_every_process_at_the_same_step(tmp_path):
    results = str(tmp_path / "result")
    mp.spawn(_rank_main, args=(str(tmp_path / "store"), results), nprocs=WORLD_SIZE, join=True)
    ends = [json.loads((tmp_path / f"result.{rank}").read_text()) for rank in range(WORLD_SIZE)]
    assert [end["status"] for end in ends] == ["diverged", "diverged"]
    steps = {end["last"]["step"] for end in ends}
    assert len(steps) == 1, f"the processes stopped at different steps: {steps}"
    assert all("on process 1 of 2" in end["last"]["message"] for end in ends), ends
    assert ends[0]["last"]["message"].startswith("loss became non-finite")  # rank 0's own loss was still finite
    assert ends[1]["last"]["message"].startswith("loss became nan at step 2 ")
