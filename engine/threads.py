"""How many threads torch runs on in a process: chosen from the work and the free cores, unless a setting says.

    choice = threads_for_spec(spec, config)  # the CLI, a run's worker, a page job: before any torch work
    apply_threads(choice)                    # torch.set_num_threads, and the inter-op pool once per process
    choice.event()                           # {"threads": 1, "interop_threads": 1, "threads_why": "..."}

The rule (choose_threads), in order:
1. A setting wins: `--threads N` on the command line or the run's `threads` setting (TrainConfig.threads).
2. Then OMP_NUM_THREADS, when the environment sets it: whoever started the process asked for that many.
3. Otherwise from the work: a step that does fewer than 2 x GRAIN multiply-adds gets one thread, whatever the
   cores (a small network gains nothing from a second thread and loses a lot when that thread's core is taken:
   every parallel region waits for its slowest thread). A larger step gets one thread per GRAIN, up to the
   cores that are free now, and up to `cap` (a run's worker: its share of the cores among the queue's workers).

The work of a step is the forward pass of one example in multiply-adds (a weight used at every position of a
convolution or every step of a sequence counts once per use) plus the values it writes, times the batch: an
estimate from the network's analysis, known before the model is built. The free cores are the cores this
process may run on (os.sched_getaffinity, and the cgroup's CPU quota when there is one) less those other
processes keep busy, read from /proc/stat over SAMPLE_SECONDS: the load average is a minute's decaying mean, so it
still counts a neighbour that ended a minute ago and barely counts one that started ten seconds ago. A core
counts as free only when at most IDLE_SHARE of it is busy. Where /proc/stat cannot be read (not Linux), the
one-minute load average stands in. The cores are read only when the work could use more than one thread.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from builder.analysis.summary import sequence_steps
from builder.analysis.validate import Analysis, analyze
from builder.ops.opdef import numel
from builder.spec.spec import GraphSpec

# Operations a step per thread. The templates' small networks (the digits MLP, RBM, SOM, LeNet even at batch 256:
# at most 6.3 M) stay under 2 x GRAIN, Mini ResNet at batch 256 (150 M) and ResNet-18 pass it. Set from the
# issue 23 measurements on 2 cores, where a second thread gave those small networks nothing even alone; not yet
# tuned on a quiet many-core machine: bench/bench_threads.py is the check.
GRAIN = 20_000_000
SAMPLE_SECONDS = 0.1  # how long /proc/stat is watched for the busy cores
IDLE_SHARE = 0.25  # a core busier than this with other work is not free: a thread there would hold the others up
SEQUENCE_OPS = ("RNN", "LSTM", "GRU")  # fused recurrent ops: their weights are used once per step of the sequence


@dataclass(frozen=True)
class Work:
    """The size of one training step, estimated from the analysis."""

    params: int
    batch: int
    per_example: int  # multiply-adds and values written in one example's forward pass

    @property
    def per_step(self) -> int:
        return self.per_example * self.batch

    def words(self) -> str:
        return f"{_count(self.params)} params x batch {self.batch}, {_count(self.per_step)} operations a step"


@dataclass(frozen=True)
class Cores:
    """The cores this process may run on and how many of them other work keeps busy (a sum of shares)."""

    usable: int
    busy: float
    source: str  # how busy was read, in words

    @property
    def free(self) -> int:
        return max(1, min(self.usable, math.floor(self.usable - self.busy + IDLE_SHARE)))

    def words(self) -> str:
        return f"{self.usable - self.free} of {self.usable} cores busy ({self.source})"


@dataclass(frozen=True)
class ThreadChoice:
    threads: int  # torch's intra-op threads
    why: str
    interop: int = 1  # torch's inter-op threads: a run does its ops one after another, so none run beside others

    def event(self) -> dict:
        return {"threads": self.threads, "interop_threads": self.interop, "threads_why": self.why}


def choose_threads(
    work: Work | None,
    cores: Callable[[], Cores],
    setting: int | None = None,
    setting_name: str = "the threads setting",
    env: Mapping[str, str] | None = None,
    cap: int | None = None,
) -> ThreadChoice:
    """The threads for a process that runs `work` (None: unknown, e.g. a network that does not validate).
    `cores` is called only when the work could use more than one thread; `cap` bounds the automatic choice."""
    if setting is not None:
        return ThreadChoice(setting, f"{setting_name} asks for {_threads(setting)}")
    env = os.environ if env is None else env
    omp = _positive_int(env.get("OMP_NUM_THREADS", ""))
    if omp is not None:
        return ThreadChoice(omp, f"OMP_NUM_THREADS={omp} in the environment: {_threads(omp)}")
    if work is None:
        return ThreadChoice(1, "the size of the work is unknown: one thread")
    wanted = work.per_step // GRAIN
    if wanted < 2:
        return ThreadChoice(1, f"small network ({work.words()}): one thread")
    reading = cores()
    threads = min(wanted, reading.free, cap if cap is not None else reading.usable)
    capped = f", at most {_threads(cap)} for this worker" if cap is not None and cap < wanted else ""
    return ThreadChoice(threads, f"large network ({work.words()}): {_threads(threads)}; {reading.words()}{capped}")


def work_of(analysis: Analysis, config) -> Work | None:
    """The step's size for a run of `config` (a TrainConfig) on the analysed network; None if it did not
    validate. An online SOM updates on one example at a time, so its batch is 1."""
    if not analysis.ok:
        return None
    som = config.trainer == "som" or (config.trainer == "auto" and any(n.op == "SOM" for n in analysis.spec.nodes))
    batch = 1 if som and config.som_mode == "online" else config.batch_size
    return Work(analysis.total_params, batch, per_example_operations(analysis))


def per_example_operations(a: Analysis) -> int:
    """Multiply-adds and values written by one example's forward pass through `a` (block bodies and Recurrent
    cells included: a cell once per step and direction)."""
    ops = {n.id: n.op for n in a.spec.nodes}
    total = 0
    for node_id, shape in a.shapes.items():
        if node_id in a.uses:
            total += per_example_operations(a.uses[node_id].body)
        elif node_id in a.cells:
            steps = sequence_steps(a, node_id) * _directions(a.params.get(node_id, {}))
            total += steps * per_example_operations(a.cells[node_id].body)
        else:
            total += a.param_counts.get(node_id, 0) * _uses(a, node_id, ops.get(node_id, ""), shape) + numel(shape)
    return total


def _uses(a: Analysis, node_id: str, op: str, shape: tuple) -> int:
    """How often one example uses each weight of the node: every output position of a convolution (its shape
    is channels first), every step of a fused recurrent op, every position of a sequence for the rest."""
    if op.startswith("Conv") and len(shape) > 1:
        return max(1, numel(shape) // max(1, shape[0]))
    if op in SEQUENCE_OPS:
        return sequence_steps(a, node_id)
    return max(1, numel(shape) // max(1, shape[-1])) if len(shape) > 1 else 1


def _directions(params: dict) -> int:
    return 2 if params.get("bidirectional") else 1


def threads_for(analysis: Analysis | None, config, cap: int | None = None, setting_name: str = "") -> ThreadChoice:
    """The choice for a run of `config` on the analysed network, reading this machine's cores if needed."""
    work = work_of(analysis, config) if analysis is not None else None
    return choose_threads(work, read_cores, config.threads, setting_name or "the threads setting", cap=cap)


def threads_for_spec(spec: GraphSpec, config, cap: int | None = None, setting_name: str = "") -> ThreadChoice:
    """threads_for on the spec's analysis (pure Python: no torch work before the choice is applied)."""
    return threads_for(analyze(spec), config, cap, setting_name)


# --- this process ------------------------------------------------------------------------------------------

_applied: ThreadChoice | None = None
_interop_set = False


def apply_threads(choice: ThreadChoice) -> ThreadChoice:
    """Set torch's thread pools to `choice` in this process (call it before the first parallel op). The
    inter-op pool can be sized only once, before any inter-op work: a later call leaves it as it is."""
    global _applied, _interop_set
    import torch

    torch.set_num_threads(choice.threads)
    if not _interop_set:
        _interop_set = True
        try:
            torch.set_num_interop_threads(choice.interop)
        except RuntimeError:  # set before, or inter-op work has started: torch keeps the pool it has
            pass
    _applied = choice
    return choice


def applied() -> ThreadChoice:
    """The last choice apply_threads set in this process, or torch's own count when none was applied."""
    if _applied is not None:
        return _applied
    import torch

    return ThreadChoice(torch.get_num_threads(), "torch's default: no choice was applied in this process")


# --- reading the cores -------------------------------------------------------------------------------------


def read_cores(sample_seconds: float = SAMPLE_SECONDS) -> Cores:
    """The usable cores and how busy other work keeps them now (see the module's docstring)."""
    cpus = _usable_cpus()
    usable = min(len(cpus), _quota_cores() or len(cpus))
    try:
        before = _cpu_times(cpus)
        time.sleep(sample_seconds)
        after = _cpu_times(cpus)
    except (OSError, ValueError):
        return Cores(usable, min(float(usable), os.getloadavg()[0]), "1-minute load average")
    busy = 0.0
    for cpu in cpus:
        (busy0, total0), (busy1, total1) = before.get(cpu, (0, 0)), after.get(cpu, (0, 0))
        busy += (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return Cores(usable, min(float(usable), busy), f"/proc/stat over {sample_seconds:g} s")


def _usable_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _quota_cores() -> int | None:
    """The cgroup v2 CPU quota in whole cores (rounded up), None without one."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max", encoding="ascii").read().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))


def _cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]]:
    """{cpu: (busy ticks, all ticks)} from /proc/stat; busy is all but idle and iowait."""
    times = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return times


def _positive_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _threads(n: int) -> str:
    return "one thread" if n == 1 else f"{n} threads"


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} M"
    return f"{n / 1000:.1f} k" if n >= 1000 else str(n)
