"""Probes: what a network is doing while it trains, keyed by node id (docs/ARCHITECTURE.md §2).

Step snapshots. The worker (engine.runs.worker_loop) calls the probes before training and at every event:

    probes.start(first, last, window)  # the run's steps are first+1..last; an event comes at least every `window`
    for event in trainer.run():        # at a step or epoch event (the trainer is at step `step`):
        snaps = probes.at_event(step)  # [(sampled step, snapshot)] since the last event; ONE host transfer
                                       # and arming for the steps due before the next event

Which steps are sampled: `min_snapshots` milestones spread evenly over the run, the last at its final step
(so a short run, which is short in time too, still gets them all), and besides those one step in `every`,
at most one per `min_seconds` (so a long, fast run keeps the store small): at most
min_snapshots + active seconds / min_seconds + 1 step snapshots per run.

How a step is sampled, at no cost to the steps that are not:
- module nodes: one-shot forward hooks, attached just before the sampled forward and removed by it;
- function nodes (Add, Multiply, Concat, Flatten, Reshape: call_function nodes in the fx graph, no module to
  hook): that one forward runs through `FunctionRecorder`, an fx.Interpreter that makes the same calls in the
  same order as the compiled code (same numbers) and hands over each output of a node carrying
  meta["spec_id"] (not the `_partialK` steps of a 3+-input Add);
- both compute the activation statistics on the device and put a tensor hook on the output for its gradient;
  the node's parameters get one-shot post-accumulate-grad hooks (their gradient at the sampled step).
The probes reach the sampled forward through a forward they set on the GraphModule while a sampled step is
ahead in the current window (between two events); on the other steps of that window it calls the compiled
forward straight away, and in windows with nothing to sample it is not there at all.

Per node: `lo`, `hi`, `mean`, `std`, `hist` (counts over `bins` equal bins from lo to hi, from at most
`max_values` of the batch's values), `dead` (nodes whose op record is `relu_like`, engine/compile/op_records.py:
the fraction of units that are not positive for any sample of the batch; else null), `out_grad` (L2 norm of the
loss's gradient with respect to the node's output), `grad` (L2 norm of the gradients of the node's parameters;
absent without parameters) and `weight` (L2 norm of its parameters as the forward used them), all at the
sampled step.

Epoch snapshots (engine.probes.epoch_probes): confusion matrix, weight images, decision surface.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import fx, nn

from engine.compile.fx_module import node_modules
from engine.compile.op_records import is_relu_like

STAT_NAMES = ("lo", "hi", "mean", "std", "dead")  # then the histogram counts
NO_VALUE = -1.0  # marks "not applicable" inside a packed tensor (dead fractions are >= 0)
Snapshot = tuple[int, dict]  # (the sampled step, {"nodes": {node id: {...}}})


@dataclass(frozen=True)
class ProbeSettings:
    every: int = 20  # sample one training step in this many (bench/bench_probes.py measured the cost)
    min_seconds: float = 0.25  # and at most one such step snapshot this often, so the store stays small
    min_snapshots: int = 20  # milestones: this many steps spread over every run, the last at its final step
    bins: int = 24
    max_values: int = 4096  # activation values per node that go into its histogram
    epoch_min_seconds: float = 1.0  # weight images and decision surface at most this often (and at the end)
    grid: int = 40  # decision surface: grid x grid points
    max_side: int = 40  # weight images are downsampled to at most this many rows and columns
    max_matrices: int = 8
    max_filters: int = 16
    max_points: int = 300  # validation points drawn over the decision surface
    # recurrent nodes (engine.probes.recurrent_probes): on a snapshot at most every max(recurrent_min_seconds,
    # training time so far / recurrent_spread) seconds, and on the last (their number grows as the log of the time)
    recurrent_min_seconds: float = 2.0
    recurrent_spread: int = 40


DEFAULT_PROBES = ProbeSettings()


def rounded(value: float, digits: int = 4) -> float | None:
    """A float with `digits` significant digits (compact JSON); None for NaN or inf."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def milestones(first: int, last: int, count: int) -> tuple[int, ...]:
    """`count` steps spread evenly over first+1..last, the last of them `last`; every step when there are fewer."""
    span = last - first
    return tuple(sorted({first - (-i * span // count) for i in range(1, count + 1)})) if span > 0 else ()


class Gather:
    """Device tensors collected by name and copied to the host in one transfer."""

    def __init__(self):
        self.parts: list[tuple[str, tuple[int, ...], torch.Tensor]] = []

    def add(self, name: str, tensor: torch.Tensor) -> None:
        self.parts.append((name, tuple(tensor.shape), tensor.detach().reshape(-1).float()))

    def fetch(self) -> dict[str, np.ndarray]:
        if not self.parts:
            return {}
        flat = torch.cat([t for _, _, t in self.parts]).cpu().numpy()  # the one device -> host copy
        out, start = {}, 0
        for name, shape, t in self.parts:
            out[name] = flat[start : start + t.numel()].reshape(shape)
            start += t.numel()
        return out


def activation_stats(out: torch.Tensor, bins: int, max_values: int, relu_like: bool) -> torch.Tensor:
    """[lo, hi, mean, std, dead, *counts] of a node's output, computed on its device (no host sync)."""
    x = out.detach().float()  # [B, *unit]
    flat = torch.nan_to_num(x.reshape(-1))  # [B * units]
    stride = max(1, math.ceil(flat.numel() / max_values))
    sample = flat[::stride]  # [<= max_values]
    lo, hi = sample.min(), sample.max()
    width = (hi - lo).clamp_min(1e-12)
    index = ((sample - lo) / width * bins).long().clamp(0, bins - 1)
    counts = torch.bincount(index, minlength=bins).float()  # [bins]
    if relu_like and x.dim() > 1:
        dead = 1.0 - (x.reshape(x.shape[0], -1) > 0).any(dim=0).float().mean()  # units never positive
    else:
        dead = x.new_tensor(NO_VALUE)
    stats = torch.stack([lo, hi, flat.mean(), flat.std(correction=0), dead])
    return torch.cat([stats, counts])


def group_norm(tensors: list[torch.Tensor]) -> torch.Tensor | None:
    """L2 norm of several tensors taken together, on their device; None for an empty list."""
    if not tensors:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.detach().float()) for t in tensors]))


def function_nodes(gm: nn.Module) -> list[str]:
    """Node ids of the call_function nodes a spec node compiled to (not the `_partialK` steps of an Add)."""
    graph = getattr(gm, "graph", None)
    nodes = graph.nodes if isinstance(graph, fx.Graph) else ()
    return [n.meta["spec_id"] for n in nodes if n.op == "call_function" and "spec_id" in n.meta]


class FunctionRecorder(fx.Interpreter):
    """Runs a GraphModule node by node, the same calls in the same order as its compiled code, and hands
    `record(node_id, output)` the output of each function node of the spec (see the module doc)."""

    def __init__(self, gm: fx.GraphModule, record: Callable[[str, object], None]):
        super().__init__(gm)
        self.record = record

    def run_node(self, n: fx.Node):
        value = super().run_node(n)
        if n.op == "call_function" and "spec_id" in n.meta:
            self.record(n.meta["spec_id"], value)
        return value


def grad_norm_once(param: torch.Tensor, norms: list[torch.Tensor]):
    """A hook that appends the norm of `param`'s gradient (0-d, on the device) to `norms` after the next backward
    has accumulated it, then removes itself; its handle."""
    handle = None

    def accumulated(p: torch.Tensor) -> None:
        norms.append(torch.linalg.vector_norm(p.grad.detach().float()))
        handle.remove()  # torch calls a copy of the hook list, so a hook may remove itself

    handle = param.register_post_accumulate_grad_hook(accumulated)
    return handle


@dataclass
class Sample:
    """One sampled training step's numbers, on the device until collected."""

    step: int
    acts: dict[str, torch.Tensor] = field(default_factory=dict)  # node id -> packed stats
    out_grads: dict[str, torch.Tensor] = field(default_factory=dict)  # node id -> 0-d norm
    grads: dict[str, list[torch.Tensor]] = field(default_factory=dict)  # node id -> 0-d norm per parameter
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # node id -> 0-d norm

    def parts(self) -> dict[str, dict[str, torch.Tensor]]:
        grads = {nid: torch.linalg.vector_norm(torch.stack(norms)) for nid, norms in self.grads.items() if norms}
        return {"act": self.acts, "out_grad": self.out_grads, "grad": grads, "weight": self.weights}


class StepProbes:
    """Activation and gradient probes of chosen training steps of a compiled network (see the module doc).

    Lower level than `start` / `at_event`: `arm(step, targets)` samples the training forwards of the steps
    `targets` (default: the next one), counting training forwards from `step`; `fired()` says whether one has
    run; `collect()` returns the snapshots taken so far.
    """

    def __init__(self, model: nn.Module, ops: dict[str, str], settings: ProbeSettings = DEFAULT_PROBES):
        self.settings, self.ops, self.model = settings, ops, model
        is_graph = isinstance(getattr(model, "graph", None), fx.Graph)
        self.modules = node_modules(model) if is_graph else {}
        self.functions = function_nodes(model) if is_graph else []
        in_graph = {n.meta.get("spec_id", n.name): k for k, n in enumerate(model.graph.nodes)} if is_graph else {}
        self.node_ids = sorted([*self.modules, *self.functions], key=lambda nid: in_graph[nid])  # graph order
        self.params = {nid: [p for p in m.parameters() if p.requires_grad] for nid, m in self.modules.items()}
        self.plan: tuple[int, ...] = ()  # the run's milestones (start)
        self.window = 1  # an event comes at least every `window` steps (the trainer's log_every)
        self.targets: list[int] = []  # steps still to sample in this window, ascending
        self.step_now = 0  # the step of the latest training forward, counted from the arming event
        self.current: Sample | None = None  # the sample the hooks below wait to fill
        self.samples: list[Sample] = []  # taken since the last collect
        self.handles: dict[str, object] = {}  # node id -> its forward hook's handle, until the hook fires
        self.param_handles: list = []  # post-accumulate-grad hooks of the current sample, until they fire
        self.last_time = -math.inf
        self.last_step = -(10**9)

    # --- when ------------------------------------------------------------------------------------------

    @property
    def armed(self) -> bool:
        return bool(self.targets or self.handles or self.samples)

    @property
    def acts(self) -> dict[str, torch.Tensor]:
        """The packed activation statistics of the newest sample (node id -> tensor on the device)."""
        return self.samples[-1].acts if self.samples else {}

    def due(self, step: int, now: float | None = None) -> bool:
        """Whether an event at `step` samples the next step besides the milestones: `every` steps and
        `min_seconds` since the last step planned."""
        now = time.perf_counter() if now is None else now
        s = self.settings
        return step - self.last_step >= s.every and now - self.last_time >= s.min_seconds

    def start(self, first: int, last: int, window: int) -> None:
        """Before training: the run takes steps first+1..last and an event comes at least every `window` steps.
        Fixes the milestones and arms for those that come before the first event."""
        self.plan, self.window = milestones(first, last, self.settings.min_snapshots), max(1, window)
        upcoming = self._upcoming(first, with_every=False)
        if upcoming:
            self.arm(first, upcoming)

    def at_event(self, step: int, now: float | None = None) -> list[Snapshot]:
        """At a step or epoch event (the trainer has taken `step` steps): the snapshots of the steps sampled
        since the last event (one host transfer), then arming for the steps due before the next one."""
        snapshots = self.collect() if self.samples else []
        self.step_now = step
        upcoming = self._upcoming(step, now=now)
        if upcoming:
            self.arm(step, [*self.targets, *upcoming])
        return snapshots

    def _upcoming(self, step: int, with_every: bool = True, now: float | None = None) -> list[int]:
        """Steps to sample after `step` and up to the next event: milestones, and the next step when due."""
        if not self.node_ids:
            return []  # not a compiled network: nothing to probe
        horizon = (step // self.window + 1) * self.window  # the next step event comes at this step at the latest
        steps = [m for m in self.plan if step < m <= horizon]
        if with_every and self.due(step, now):
            steps.append(step + 1)
        return steps

    # --- arming ----------------------------------------------------------------------------------------

    def arm(self, step: int, targets: Iterable[int] = ()) -> None:
        """Sample the training forwards of the steps `targets` (after `step`, the trainer's step now; by default
        the next one). Samples taken and not collected yet are kept."""
        self._detach()
        self.targets = sorted({t for t in targets if t > step}) or [step + 1]
        self.step_now = step
        self.last_step, self.last_time = self.targets[-1] - 1, time.perf_counter()
        if self.targets[0] == step + 1:
            self._attach(step + 1)  # the hooks wait for the very next training forward
        if self.targets or self.functions:
            self.model.forward = self._forward

    def disarm(self) -> None:
        """Everything off; samples not collected are dropped."""
        self._detach()
        self.targets, self.samples, self.current = [], [], None

    def _detach(self) -> None:
        """Hooks off and the compiled forward back; samples and targets stay."""
        self._detach_hooks()
        if "forward" in vars(self.model):
            del self.model.forward  # back to the compiled forward of the GraphModule's class

    def _attach(self, step: int) -> None:
        """Hooks on every module node for the training forward of `step` (the next one to come)."""
        self._detach_hooks()
        if self.targets and self.targets[0] == step:
            self.targets.pop(0)
        self.current = Sample(step)
        for node_id, module in self.modules.items():
            self.handles[node_id] = module.register_forward_hook(self._module_hook(node_id))

    def _detach_hooks(self) -> None:
        for handle in [*self.handles.values(), *self.param_handles]:
            handle.remove()
        self.handles, self.param_handles = {}, []

    def _forward(self, *args, **kwargs):
        """The GraphModule's forward while a sampled step is ahead in this window (see the module doc)."""
        model, compiled = self.model, type(self.model).forward
        if not model.training:
            return compiled(model, *args, **kwargs)  # evaluation passes are not what training sees
        self.step_now += 1
        if self.targets and self.targets[0] == self.step_now:
            self._attach(self.step_now)
        sampled = self.current is not None and self.current.step == self.step_now
        if not self.targets:
            del model.forward  # the last sample of the window: the steps after it call the compiled forward
        if sampled and self.functions and not kwargs:
            return FunctionRecorder(model, self._capture).run(*args)
        return compiled(model, *args, **kwargs)  # the module hooks, if attached, see this forward

    # --- taking a sample -------------------------------------------------------------------------------

    def _module_hook(self, node_id: str):
        def hook(module: nn.Module, inputs, output) -> None:
            if not module.training:
                return  # evaluation passes are not what training sees: wait for the next training step
            self.handles.pop(node_id).remove()  # one shot: the steps after this one run without hooks
            self._capture(node_id, output)
            self._watch_params(node_id)

        return hook

    def _capture(self, node_id: str, output) -> None:
        """Statistics of one node's output at the sampled step, and a tensor hook for its gradient."""
        sample = self.current
        if not self.samples or self.samples[-1] is not sample:
            self.samples.append(sample)
        if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.numel() == 0:
            return
        s = self.settings
        sample.acts[node_id] = activation_stats(output, s.bins, s.max_values, is_relu_like(self.ops.get(node_id)))
        if output.requires_grad:

            def grad_hook(grad: torch.Tensor) -> None:
                sample.out_grads[node_id] = torch.linalg.vector_norm(grad.detach().float())  # 0-d, on the device

            output.register_hook(grad_hook)  # a hook reads the gradient; it does not change it

    def _watch_params(self, node_id: str) -> None:
        """The weight norm now, and one-shot hooks for the gradient norms of this step's backward."""
        params, sample = self.params[node_id], self.current
        weight = group_norm(params)
        if weight is None:
            return
        sample.weights[node_id] = weight
        norms = sample.grads.setdefault(node_id, [])
        self.param_handles += [grad_norm_once(param, norms) for param in params]

    def fired(self) -> bool:
        """Whether a sampled training forward has run since the last collect (so collect has something to say)."""
        return bool(self.samples)

    # --- collecting ------------------------------------------------------------------------------------

    def collect(self) -> list[Snapshot]:
        """The snapshots taken since the last collect, oldest first, JSON-ready: (step, {"nodes": {id: {...}}}).
        One device -> host transfer for all of them."""
        gather = Gather()
        for k, sample in enumerate(self.samples):
            for kind, tensors in sample.parts().items():
                for node_id, tensor in tensors.items():
                    gather.add(f"{k}/{kind}/{node_id}", tensor)
        values = gather.fetch()
        per_sample: list[dict[str, np.ndarray]] = [{} for _ in self.samples]
        for key, array in values.items():
            k, name = key.split("/", 1)
            per_sample[int(k)][name] = array
        snapshots = [(s.step, {"nodes": self._unpack(v)}) for s, v in zip(self.samples, per_sample)]
        self.samples = []
        return snapshots

    def _unpack(self, values: dict[str, np.ndarray]) -> dict:
        nodes: dict[str, dict] = {nid: {} for nid in self.node_ids}
        for key, array in values.items():
            kind, node_id = key.split("/", 1)
            entry = nodes[node_id]
            if kind == "act":
                stats = dict(zip(STAT_NAMES, (float(v) for v in array[: len(STAT_NAMES)])))
                entry.update({k: rounded(v) for k, v in stats.items() if k != "dead"})
                entry["dead"] = rounded(stats["dead"]) if stats["dead"] != NO_VALUE else None
                entry["hist"] = [int(c) for c in array[len(STAT_NAMES) :]]
            else:
                entry[kind] = rounded(float(array))
        return {nid: entry for nid, entry in nodes.items() if entry}
