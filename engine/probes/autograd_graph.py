"""The autograd graph of one training step, grouped by the user's nodes (the Train page's "Autograd graph").

One forward of the compiled spec runs through `_RecordingInterpreter`: after each fx node that carries
`meta["spec_id"]`, the grad_fn graph is walked back from that node's output, and every grad_fn not yet
claimed is claimed by that node. The grad_fns of its inputs were claimed by earlier nodes, so a node gets
exactly the operations created while it ran: its output's grad_fn, a module's internal ops (TBackward inside
a Linear, an LSTM's gates) and the AccumulateGrad leaves of its parameters. What is left after the loss is
computed belongs to the group "loss". Every walk is iterative and visits each grad_fn once.

Teardown. The walk gives every grad_fn a Python object, and the hooks tie each grad_fn's life to it, so when
the graph is dropped, torch deletes it through those objects, one C stack frame chain per grad_fn along the
longest path: a gate-level LSTM over ~8,000 steps (~230,000 grad_fns) overflowed the 8 MB stack and ended the
process with SIGSEGV. `_release` drops the grad_fns consumers first while the list still holds every
producer, so each deletion frees one node and no chain forms. A step past MAX_OPERATIONS grad_fns (a
Recurrent over thousands of steps: ~29 per step of an LSTM cell) is refused during the forward, naming the
node where it passed the cap, since nobody can read a graph that size.

The backward then runs with a hook on every grad_fn, which records the gradient of the loss with respect
to that operation's forward outputs; an AccumulateGrad leaf reports its parameter's `.grad`.

    graph = autograd_graph(spec, config)                      # the run's data, a small batch
    graph = trace_step(model, x, target, objective.loss)      # or a given module and batch
    json.dumps(graph.to_dict())
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import fx

from builder.spec.spec import GraphSpec
from engine.compile.torch_cells import gate_by_gate
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

LOSS_GROUP = "loss"
DEFAULT_SAMPLES = 8
# grad_fns in one step's graph; more is refused (an LSTM cell over ~690 steps; templates: <= 601)
MAX_OPERATIONS = 20_000


@dataclass
class Operation:
    id: str  # "op0", "op1", ...
    name: str  # torch's name, e.g. "AddmmBackward0"
    group: str  # the user node id, or "loss"
    level: int  # forward depth: 0 for leaves, 1 + the deepest input otherwise (lays ops left to right)
    forward: dict | None = None  # {shape, mean, std, min, max} where a forward value is known
    gradient: dict | None = None  # {norm, mean, std} of the loss's gradient w.r.t. the op's forward output
    param: str | None = None  # "fc1.weight" for an AccumulateGrad leaf


@dataclass
class Edge:
    source: str  # op id of the producer (forward direction)
    target: str  # op id of the consumer
    shape: list[int]  # the tensor passed along, batch dimension included


@dataclass
class Group:
    node_id: str
    op: str  # the user node's op ("Conv2d"), or "loss"
    members: list[str] = field(default_factory=list)  # op ids
    grad_norm: float | None = None  # the largest gradient norm among the members


@dataclass
class AutogradGraph:
    operations: list[Operation]
    edges: list[Edge]
    groups: dict[str, Group]  # in forward order, "loss" last
    loss: float
    batch_size: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AutogradGraph:
        """The graph from its to_dict() (as it comes back as JSON from a page job)."""
        return cls(
            [Operation(**op) for op in data["operations"]],
            [Edge(**edge) for edge in data["edges"]],
            {node_id: Group(**group) for node_id, group in data["groups"].items()},
            data["loss"],
            data["batch_size"],
        )


def tensor_stats(t: torch.Tensor) -> dict:
    values = t.detach().float()
    if values.numel() > 1:
        std, mean = (v.item() for v in torch.std_mean(values))
    else:
        std, mean = 0.0, values.mean().item()
    low, high = torch.aminmax(values)
    return {"shape": list(t.shape), "mean": mean, "std": std, "min": low.item(), "max": high.item()}


def gradient_stats(grads: Iterable[torch.Tensor | None]) -> dict | None:
    """Norm, mean and std over all the given gradients taken as one vector (one pass over each)."""
    present = [g.detach().float() for g in grads if g is not None]
    count = sum(g.numel() for g in present)
    if count == 0:
        return None
    total = sum(g.sum().item() for g in present)
    squares = sum(torch.linalg.vector_norm(g).item() ** 2 for g in present)
    mean = total / count
    variance = max(squares - count * mean * mean, 0.0) / max(count - 1, 1)
    return {"norm": math.sqrt(squares), "mean": mean, "std": math.sqrt(variance)}


def _claim(start, owner: str, owners: dict) -> None:
    """Claim for `owner` every grad_fn reachable from `start` that no one has claimed (iterative walk)."""
    stack = [start] if start is not None and start not in owners else []
    while stack:
        fn = stack.pop()
        if fn in owners:
            continue
        owners[fn] = owner
        stack.extend(nxt for nxt, _ in fn.next_functions if nxt is not None and nxt not in owners)


class _RecordingInterpreter(fx.Interpreter):
    """Runs the module and claims, after each user node, the grad_fns its output brought in."""

    def __init__(self, module: fx.GraphModule, owners: dict, max_operations: int = MAX_OPERATIONS):
        super().__init__(module)
        self.extra_traceback = False  # our ConfigError keeps its one-line message
        self.owners = owners  # grad_fn -> user node id, in claiming order
        self.max_operations = max_operations
        self.outputs: dict = {}  # grad_fn of a user node's output -> that output (its forward value)
        self.node_ops: dict[str, str] = {}  # user node id -> op name, forward order

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        spec_id = n.meta.get("spec_id")
        if spec_id is not None and isinstance(result, torch.Tensor):
            self.node_ops[spec_id] = n.meta.get("spec_op", n.op)
            if result.grad_fn is not None:
                self.outputs.setdefault(result.grad_fn, result)
                _claim(result.grad_fn, spec_id, self.owners)
            if len(self.owners) > self.max_operations:
                del result  # raised without the value: nothing outside `owners` holds the graph (see _release)
                raise ConfigError(self._too_big(spec_id))
        return result

    def _too_big(self, spec_id: str) -> str:
        return (
            f"the autograd graph of one step passes {self.max_operations:,} operations at node '{spec_id}' "
            f"({self.node_ops[spec_id]}: {len(self.owners):,} so far), too many to draw; shorten the input "
            "sequence or make the network smaller to see it"
        )


def _levels(fns: list, index: dict) -> list[int]:
    """Forward depth of each grad_fn (Kahn's order over the forward edges, so any order of `fns` will do)."""
    users = {i: [] for i in range(len(fns))}
    pending = [0] * len(fns)
    for i, fn in enumerate(fns):
        for nxt, _ in fn.next_functions:
            if nxt is not None and nxt in index:
                users[index[nxt]].append(i)
                pending[i] += 1
    level = [0] * len(fns)
    ready = [i for i in range(len(fns)) if pending[i] == 0]
    while ready:
        i = ready.pop()
        for user in users[i]:
            level[user] = max(level[user], level[i] + 1)
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    return level


def _edges(fns: list, index: dict) -> list[Edge]:
    edges = []
    for i, fn in enumerate(fns):
        for nxt, slot in fn.next_functions:
            if nxt is not None and nxt in index:
                edges.append(Edge(f"op{index[nxt]}", f"op{i}", _output_shape(nxt, slot)))
    return edges


def _output_shape(fn, slot: int) -> list[int]:
    if type(fn).__name__ == "AccumulateGrad":
        return list(fn.variable.shape)
    metadata = fn._input_metadata  # the forward outputs' shapes (the backward's inputs)
    return list(metadata[slot].shape) if slot < len(metadata) else []


def _hook_gradients(fns: list) -> tuple[dict, list]:
    """Hooks on every non-leaf grad_fn that keep the gradient stats of its forward outputs."""
    grads: dict = {}
    handles = []
    for fn in fns:
        if type(fn).__name__ == "AccumulateGrad":
            continue

        def hook(grad_inputs, grad_outputs, fn=fn):
            grads[fn] = gradient_stats(grad_outputs)

        handles.append(fn.register_hook(hook))
    return grads, handles


def _param_names(model: torch.nn.Module) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def trace_step(
    model: fx.GraphModule,
    x: torch.Tensor,
    target: torch.Tensor,
    loss_fn: Callable,
    max_operations: int = MAX_OPERATIONS,
) -> AutogradGraph:
    """One forward and backward of `model` on the batch (x, target); the grad_fn graph, grouped. ConfigError when
    the step has more than `max_operations` grad_fns."""
    model.zero_grad(set_to_none=True)
    owners: dict = {}  # grad_fn -> group; holds every grad_fn until _release drops them in a safe order
    try:
        return _trace(model, x, target, loss_fn, owners, max_operations)
    finally:
        _release(owners)


def _trace(model, x, target, loss_fn, owners: dict, max_operations: int) -> AutogradGraph:
    interpreter = _RecordingInterpreter(model, owners, max_operations)
    try:
        with gate_by_gate():  # a gate-level LSTM / GRU shows its gates' operations, not torch's one fused op
            loss = loss_fn(interpreter.run(x), target)
        _claim(loss.grad_fn, LOSS_GROUP, owners)
        fns = list(owners)
        index = {fn: i for i, fn in enumerate(fns)}
        grads, handles = _hook_gradients(fns)
        try:
            loss.backward()
        finally:
            for handle in handles:
                handle.remove()
        names = _param_names(model)
        levels = _levels(fns, index)
        outputs = interpreter.outputs
        operations = [_operation(i, fn, owners[fn], levels[i], grads, outputs, names) for i, fn in enumerate(fns)]
        groups = _groups(operations, interpreter.node_ops)
        return AutogradGraph(operations, _edges(fns, index), groups, loss.item(), len(x))
    finally:
        interpreter.outputs.clear()  # the forward values hold grad_fns too: they go before the grad_fns
        interpreter.env.clear()


def _release(owners: dict) -> None:
    """Drop the grad_fns consumers first (highest forward level first): each one's producers are still held,
    so deleting it deletes no one else, and torch's teardown never recurses down a long chain (see the doc)."""
    fns = list(owners)
    owners.clear()
    levels = _levels(fns, {fn: i for i, fn in enumerate(fns)})
    order = sorted(range(len(fns)), key=levels.__getitem__)  # producers first; popped from the end
    ordered = [fns[i] for i in order]
    del fns
    while ordered:
        ordered.pop()


def _operation(i: int, fn, owner: str, level: int, grads: dict, outputs: dict, names: dict) -> Operation:
    op = Operation(f"op{i}", type(fn).__name__, owner, level)
    if op.name == "AccumulateGrad":
        param = fn.variable
        op.param = names.get(id(param))
        op.forward = tensor_stats(param)
        op.gradient = gradient_stats([param.grad])
    else:
        op.gradient = grads.get(fn)
        if fn in outputs:
            op.forward = tensor_stats(outputs[fn])
    return op


def _groups(operations: list[Operation], node_ops: dict[str, str]) -> dict[str, Group]:
    groups = {node_id: Group(node_id, op) for node_id, op in node_ops.items()}
    groups[LOSS_GROUP] = Group(LOSS_GROUP, "loss")
    for op in operations:
        group = groups[op.group]
        group.members.append(op.id)
        norm = op.gradient["norm"] if op.gradient else None
        if norm is not None and (group.grad_norm is None or norm > group.grad_norm):
            group.grad_norm = norm
    return {node_id: group for node_id, group in groups.items() if group.members}


def autograd_graph(spec: GraphSpec, config: TrainConfig, n_samples: int = DEFAULT_SAMPLES) -> AutogradGraph:
    """The graph of one training step of `spec` on the first `n_samples` of the run's training data, on the CPU.
    Raises the NetCanvasError subclasses of prepare_run for a bad spec, settings or data."""
    run = prepare_run(spec, dataclasses.replace(config, device="cpu"))
    trainer = run.trainer
    if getattr(trainer, "objective", None) is None:  # the perceptron rule, CD-k, the SOM: no loss, no backward
        raise ConfigError(
            f"the learning rule '{trainer.name}' changes the weights directly, without a loss or a backward pass, "
            "so its step has no autograd graph; choose the learning rule backprop to see one"
        )
    x = trainer.x_train[:n_samples]
    target = x if trainer.objective.targets_are_inputs else trainer.y_train[:n_samples]
    return trace_step(run.model, x, target, trainer.objective.loss)
