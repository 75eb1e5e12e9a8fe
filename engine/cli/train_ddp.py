"""Training one spec on several processes with DistributedDataParallel, launched by torchrun:

    torchrun --nproc_per_node=2 -m engine train --template mlp_iris --ddp --out runs/iris
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=4 \\
        -m engine train net.json --ddp --out runs/net            # and node_rank=1 on the second machine

Every process builds the same model from the same seed, loads the same data and takes its own shard of the
training set: the same seeded permutation on every rank, cut into equal strided shards (like
DistributedSampler with drop_last), so every rank takes the same number of steps. DDP averages the gradients,
so the weights stay identical; validation runs on the whole validation set everywhere. The backend is nccl
on CUDA (one GPU per process: cuda:LOCAL_RANK) and gloo on the CPU. Rank 0 prints the events (losses
averaged over the ranks) and writes the bundle; the others stay quiet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from builder.spec.spec import GraphSpec
from engine.cli import train_cmd as cli_train
from engine.cli.inspect_cmds import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_OK, print_issues
from engine.compile.fx_module import compile_analysis
from engine.data.datasets import Dataset
from engine.errors import ConfigError, DataError, NetCanvasError, SpecInvalid
from engine.runs.bundle import write_bundle
from engine.train.backprop import Trainer, seed_everything
from engine.train.config import TrainConfig
from engine.train.losses import Sink
from engine.train.pipeline import PreparedRun, analysis_for_training, fitted_dataset

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = datetime.timedelta(minutes=5)  # a rank that waits longer for the others gives up with an error
LAUNCH_HINT = "launch it with: torchrun --nproc_per_node=N -m engine train ... --ddp"


@dataclass(frozen=True)
class World:
    rank: int
    local_rank: int
    size: int


def world_from_env(env=os.environ) -> World:
    """The process's place in the torchrun job; ConfigError if torchrun did not start it."""
    missing = [name for name in TORCHRUN_VARIABLES if name not in env]
    if missing:
        raise ConfigError(f"--ddp needs the variables torchrun sets ({', '.join(missing)} unset); {LAUNCH_HINT}")
    return World(int(env["RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"]))


def backend_and_device(device: str, world: World) -> tuple[str, str]:
    """(process group backend, this rank's device): nccl on cuda:LOCAL_RANK, else gloo on the CPU."""
    if device == "mps":
        raise ConfigError("--ddp runs on cuda or cpu; device 'mps' cannot be shared between processes")
    wants_cuda = device == "cuda" or device.startswith("cuda:") or (device == "auto" and torch.cuda.is_available())
    if not wants_cuda:
        return "gloo", "cpu"
    if not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' was asked for but no CUDA GPU is available; use --device cpu")
    if world.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"this machine runs {world.local_rank + 1}+ processes but has {torch.cuda.device_count()} GPU(s); "
            "use --nproc_per_node at most the number of GPUs"
        )
    return "nccl", f"cuda:{world.local_rank}"


def shard_indices(n: int, world: World, seed: int) -> torch.Tensor:
    """This rank's training samples: a strided cut of one seeded permutation, equal in size on every rank."""
    per_rank = n // world.size
    if per_rank == 0:
        raise DataError(f"the training set has {n} samples, fewer than the {world.size} processes; use fewer")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[world.rank : per_rank * world.size : world.size]


def shard_dataset(dataset: Dataset, world: World, seed: int) -> Dataset:
    idx = shard_indices(dataset.n_train, world, seed)
    return dataclasses.replace(dataset, x_train=dataset.x_train[idx], y_train=dataset.y_train[idx])


def unused_parameters(model: torch.nn.Module, sample: torch.Tensor) -> list[str]:
    """Names of the parameters a backward pass from the output does not reach (an RBM's visible bias is used
    only by its own learning rule). Found with one eval-mode pass on `sample`, leaving no gradient behind."""
    was_training = model.training
    model.eval()
    try:
        out = model(sample)
        out.float().sum().backward()
        return [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)


def prepare_ddp_run(spec: GraphSpec, config: TrainConfig, world: World, device: str) -> PreparedRun:
    """As engine.train.pipeline.prepare_run, with this rank's shard of the data and the model wrapped in DDP.
    PreparedRun.model is the plain model (its state dict is what the bundle stores)."""
    analysis = analysis_for_training(spec, config)
    dataset = shard_dataset(fitted_dataset(analysis, config), world, config.seed)
    seed_everything(config.seed, config.deterministic)
    model = compile_analysis(analysis).to(device)
    unused = unused_parameters(model, dataset.x_train[:2].to(device))
    wrapped = DistributedDataParallel(
        model,
        device_ids=[torch.device(device).index] if device != "cpu" else None,
        find_unused_parameters=bool(unused),  # else DDP fails on the second step (an RBM's v_bias, say)
    )
    local = dataclasses.replace(config, device=device)
    trainer = Trainer(wrapped, dataset, local, Sink.from_analysis(analysis))
    trainer.divergence_vote = divergence_vote(world, device)
    return PreparedRun(spec, analysis, config, dataset, model, trainer)


DDP_RULE = "train --ddp trains by backprop; trainer '{}' runs in one process: drop --ddp, or pass --trainer backprop"
NO_BAD_STEP = 2**62  # "this process saw no bad loss" in the divergence vote


def divergence_vote(world: World, device: str):
    """The Trainer's divergence_vote for this process: the earliest step at which any process saw a NaN or
    infinite loss, so that every process stops at the same check. (Alone, a rank that stopped would leave the
    others blocked in the gradients' all_reduce until the timeout.) One all_reduce of one number per check."""

    def vote(bad_step: int | None) -> tuple[int | None, str]:
        mine = NO_BAD_STEP if bad_step is None else bad_step * world.size + world.rank
        earliest = torch.tensor([mine], dtype=torch.int64, device=device)
        dist.all_reduce(earliest, op=dist.ReduceOp.MIN)
        code = int(earliest.item())
        if code == NO_BAD_STEP:
            return None, ""
        return code // world.size, f" on process {code % world.size} of {world.size}"

    return vote


def mean_over_ranks(value: float | None, device: str) -> float | None:
    if value is None:
        return None
    total = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()


def _averaged(event: dict, world: World, device: str, epoch_loss: float | None) -> dict:
    """The event with its loss averaged over the ranks (step, epoch); done repeats the last epoch's."""
    if event["kind"] in ("step", "epoch"):
        return {**event, "loss": mean_over_ranks(event["loss"], device)}
    if event["kind"] != "done":
        return event
    message = (
        f"trained {event['epoch']} epochs ({event['step']} steps) on {world.size} processes in "
        f"{event['seconds']:.1f} s: loss {cli_train._fmt(epoch_loss)}, val_loss {cli_train._fmt(event['val_loss'])}"
    )
    return {**event, "loss": epoch_loss, "message": message}


def _drive(run: PreparedRun, world: World, backend: str, device: str, as_json: bool) -> tuple[dict, float | None]:
    """Run the trainer, printing its events with losses averaged over the ranks; (last event, last epoch loss)."""
    trainer, last, epoch_loss = run.trainer, {}, None
    head = {
        "kind": "start",
        "device": device,
        "message": f"DDP: {world.size} processes ({backend}); {trainer.device_message} on rank 0",
        "train_samples": trainer.dataset.n_train * world.size,
        "val_samples": trainer.dataset.n_val,
        "processes": world.size,
    }
    text = f"{head['message']}; each trains on {trainer.dataset.n_train} samples of '{run.config.dataset}'"
    print(cli_train._json_line(head) if as_json else text, flush=True)
    for event in trainer.run():
        last = _averaged(event, world, device, epoch_loss)
        epoch_loss = last["loss"] if last["kind"] == "epoch" else epoch_loss
        line = cli_train._json_line(last) if as_json else cli_train._human_line(last, run.config.epochs)
        if line:
            print(line, flush=True)
    return last, epoch_loss


def _train(args, world: World) -> int:
    spec, defaults = cli_train._spec_and_defaults(args)
    if spec is None:
        return EXIT_BAD_INPUT
    config, problems = cli_train._config(args, defaults)
    if config is not None and config.trainer not in ("auto", "backprop"):  # auto means backprop here
        problems, config = [DDP_RULE.format(config.trainer)], None
    if config is None:
        for problem in problems:
            print(f"error: {problem}")
        return EXIT_BAD_INPUT
    backend, device = backend_and_device(config.device, world)
    bound = {}
    if backend == "nccl":  # each rank on its own GPU before the group forms (else all start on cuda:0)
        torch.cuda.set_device(device)
        bound = {"device_id": torch.device(device)}
    dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=TIMEOUT, **bound)
    try:
        run = prepare_ddp_run(spec, config, world, device)
        last, epoch_loss = _drive(run, world, backend, device, args.json)
        if not args.json:
            print(last.get("message", ""), flush=True)
        if args.out and world.rank == 0:
            metrics = {**run.trainer.metrics(), "loss": epoch_loss, "processes": world.size}
            path = write_bundle(args.out, spec, config, run.model, run.dataset, metrics)
            if not args.json:
                print(f"bundle written to {path}")
        dist.barrier()  # every rank done (rank 0's bundle written) before any rank takes the group down
        del run  # the DDP wrapper's reducer holds the group's work objects: gone before the group
    finally:
        dist.destroy_process_group()
    return EXIT_DIVERGED if last.get("kind") == "diverged" else EXIT_OK


@contextlib.contextmanager
def printing_on_rank_zero(world: World):
    """Rank 0 prints; the other ranks' stdout goes nowhere (they would repeat rank 0's lines)."""
    if world.rank == 0:
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def cmd_train_ddp(args) -> int:
    """`train ... --ddp` under torchrun; every rank runs this, only rank 0 prints."""
    try:
        world = world_from_env()
    except ConfigError as err:
        print(f"error: {err}")
        return EXIT_BAD_INPUT
    with printing_on_rank_zero(world):
        try:
            return _train(args, world)
        except SpecInvalid as err:
            print_issues(err.issues)
        except NetCanvasError as err:
            print(f"error: {err}")
        return EXIT_BAD_INPUT
