"""Which learning rule trains a graph: `auto`'s choice, and why a chosen rule cannot train a graph.

    choice = resolve_trainer("auto", analysis, n_classes=10)  # Choice("dbn", "auto → DBN: two RBMs under ...")
    issues = trainer_issues("perceptron", analysis, n_classes=2)  # [Issue(node="fc2", "... a hidden layer ...")]

`auto` reads the graph as the classic literature drew it:
- ends in an RBM -> `rbm` (contrastive divergence on that RBM);
- ends in a SOM -> `som` (Kohonen's rule);
- a chain of RBMs under a head with weights -> `dbn` (pretrain each RBM, then fine-tune all by backprop);
- Input -> Linear(1) -> Step on 2 classes -> `perceptron` (Rosenblatt's rule);
- anything else -> `backprop`.
A deep stacking network is trained end to end unless `dsn` is chosen: a Concat of predictions is also an
ordinary skip connection, so the graph alone does not say which one is meant.

Plain Python over builder.analysis.validate.Analysis (ops, producers, shapes, parameter counts): the Train page asks
before a run, engine.train.pipeline asks again with the loaded data's number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from builder.analysis.validate import Analysis
from builder.spec.issues import Issue

NAMES = {
    "backprop": "backprop",
    "perceptron": "the perceptron rule",
    "rbm": "CD-k",
    "dbn": "DBN",
    "dsn": "DSN",
    "som": "the SOM rule",
}


@dataclass(frozen=True)
class Choice:
    trainer: str  # a concrete trainer, never "auto"
    reason: str  # one line for the page: "auto → DBN: two RBMs under a classifier head"


@dataclass(frozen=True)
class Graph:
    """What the rules need to know of an analysed graph."""

    ops: dict[str, str]
    producers: dict[str, list[str]]
    weighted: set[str]  # nodes with parameters
    order: list[str]
    input_id: str
    output_id: str

    @classmethod
    def of(cls, analysis: Analysis) -> Graph:
        ops = {n.id: n.op for n in analysis.spec.nodes}
        weighted = {n for n, count in analysis.param_counts.items() if count > 0}
        return cls(ops, analysis.inputs, weighted, analysis.order, analysis.input_id, analysis.output_id)

    def consumers(self, node: str) -> list[str]:
        return [n for n in self.order if node in self.producers.get(n, [])]

    def below(self, node: str) -> str | None:
        """The nearest weighted node or the Input under `node`, through weightless one-input nodes (Flatten,
        Reshape, activations); None when a node of several inputs comes first."""
        current = node
        while True:
            inputs = self.producers.get(current, [])
            if len(inputs) != 1:
                return None
            current = inputs[0]
            if current == self.input_id or current in self.weighted:
                return current

    def of_op(self, op: str) -> list[str]:
        return [n for n in self.order if self.ops[n] == op]


def _issue(node: str | None, trainer: str, message: str) -> Issue:
    return Issue(node, "trainer", f"trainer '{trainer}': {message}", field="trainer")


# --- the checks ----------------------------------------------------------------------------------------


def _perceptron_issues(g: Graph, analysis: Analysis, n_classes: int | None) -> list[Issue]:
    out = g.output_id
    if g.ops[out] != "Step":
        return [_issue(out, "perceptron", f"the rule trains a Linear followed by a Step; the output is a {g.ops[out]}")]
    linear = g.producers[out][0]
    if g.ops[linear] != "Linear":
        return [_issue(linear, "perceptron", f"the Step must follow a Linear; it follows a {g.ops[linear]}")]
    below = g.producers[linear][0]
    if below != g.input_id:
        return [
            _issue(
                linear,
                "perceptron",
                f"the rule has no error signal for a hidden layer: '{linear}' is fed by '{below}', not by the "
                f"Input '{g.input_id}' (use backprop for a multi-layer network)",
            )
        ]
    width = analysis.shapes[linear][-1]
    if width != 1 or (n_classes is not None and n_classes != 2):
        return [_issue(linear, "perceptron", f"one unit for 2 classes; got {width} unit(s) for {n_classes} classes")]
    return []


def _single_rule_issues(g: Graph, trainer: str, op: str) -> list[Issue]:
    """rbm / som: the output is the one node of `op`, with nothing weighted below it."""
    found = g.of_op(op)
    if not found:
        article = "an" if op == "RBM" else "a"
        return [_issue(None, trainer, f"needs {article} {op} node; the graph has none")]
    node = found[-1]
    if node != g.output_id:
        later = ", ".join(g.consumers(node)) or g.output_id
        return [_issue(node, trainer, f"trains the {op} at the output; '{node}' feeds {later}")]
    below = g.below(node)
    if below != g.input_id:
        why = f"'{below}' has weights the rule would not train" if below else "it is not a chain"
        what = "use trainer 'dbn' for a stack of RBMs" if op == "RBM" else "feed the SOM from the Input"
        return [_issue(node, trainer, f"the {op} must be fed by the Input '{g.input_id}': {why}; {what}")]
    return []


def _dbn_issues(g: Graph) -> list[Issue]:
    rbms = g.of_op("RBM")
    if not rbms:
        return [_issue(None, "dbn", "needs RBM nodes to pretrain; the graph has none")]
    if g.output_id in rbms:
        return [_issue(g.output_id, "dbn", "fine-tunes a classifier head above the RBMs; add one (or use 'rbm')")]
    below = g.input_id
    for rbm in rbms:
        under = g.below(rbm)
        if under != below:
            what = f"'{under}'" if under else "several nodes"
            return [_issue(rbm, "dbn", f"each RBM must be fed by the one below ('{below}'); it is fed by {what}")]
        below = rbm
    return []


def _dsn_issues(g: Graph, n_classes: int | None, analysis: Analysis) -> list[Issue]:
    modules = dsn_modules(g, analysis, n_classes)
    if len(modules) < 2:
        width = n_classes if n_classes is not None else "the classes'"
        return [
            _issue(
                g.output_id,
                "dsn",
                f"needs modules that each end in a Linear of {width} units feeding the next module's Concat; "
                f"found {len(modules)}",
            )
        ]
    return []


def dsn_modules(g: Graph, analysis: Analysis, n_classes: int | None) -> list[str]:
    """The output node of each module of a deep stacking network, bottom first: Linears of the output's width
    whose output feeds a Concat, then the network's output."""
    width = analysis.shapes[g.output_id][-1] if analysis.shapes.get(g.output_id) else None
    if g.ops[g.output_id] != "Linear" or (n_classes is not None and width != n_classes):
        return []
    feeds_concat = [
        n
        for n in g.order
        if g.ops[n] == "Linear"
        and analysis.shapes[n][-1] == width
        and any(g.ops[c] == "Concat" for c in g.consumers(n))
    ]
    return [*feeds_concat, g.output_id]


def trainer_issues(trainer: str, analysis: Analysis, n_classes: int | None) -> list[Issue]:
    """Why `trainer` cannot train this graph (one Issue naming the node), or []."""
    g = Graph.of(analysis)
    if trainer == "perceptron":
        return _perceptron_issues(g, analysis, n_classes)
    if trainer in ("rbm", "som"):
        return _single_rule_issues(g, trainer, "RBM" if trainer == "rbm" else "SOM")
    if trainer == "dbn":
        return _dbn_issues(g)
    if trainer == "dsn":
        return _dsn_issues(g, n_classes, analysis)
    return _backprop_issues(g)


def _backprop_issues(g: Graph) -> list[Issue]:
    """A SOM has no loss gradient: its units move by Kohonen's rule alone."""
    for node in g.of_op("SOM"):
        message = (
            f"the SOM '{node}' has no loss gradient to descend (its units move by Kohonen's rule); "
            "use trainer 'som' (or auto)"
        )
        return [_issue(node, "backprop", message)]
    return []


# --- auto ----------------------------------------------------------------------------------------------


def choose_trainer(analysis: Analysis, n_classes: int | None) -> Choice:
    g = Graph.of(analysis)
    out_op = g.ops[g.output_id]
    if out_op in ("RBM", "SOM") and not trainer_issues(out_op.lower(), analysis, n_classes):
        what = "an RBM: contrastive divergence" if out_op == "RBM" else "a SOM: Kohonen's self-organising rule"
        return Choice(out_op.lower(), f"auto → {NAMES[out_op.lower()]}: the graph ends in {what}")
    rbms = g.of_op("RBM")
    if rbms and not _dbn_issues(g):
        count = "one RBM" if len(rbms) == 1 else f"{_number(len(rbms))} RBMs"
        return Choice(
            "dbn", f"auto → DBN: {count} under a classifier head (pretrained one by one by CD-k, then fine-tuned)"
        )
    if n_classes == 2 and not _perceptron_issues(g, analysis, n_classes):
        return Choice("perceptron", "auto → the perceptron rule: one Linear unit and a Step on 2 classes")
    return Choice("backprop", "auto → backprop: gradient descent on the loss through the whole graph")


def planned_epochs(trainer: str, analysis: Analysis, n_classes: int | None, epochs: int, pretrain: int | None) -> int:
    """The epochs a run of `trainer` ("auto" resolved) counts over all its phases: a DBN pretrains each RBM for
    `pretrain` (default: `epochs`) epochs before `epochs` of fine-tuning, a DSN trains each module `epochs`."""
    choice, _ = resolve_trainer(trainer, analysis, n_classes)
    g = Graph.of(analysis)
    if choice.trainer == "dbn":
        return len(g.of_op("RBM")) * (pretrain or epochs) + epochs
    if choice.trainer == "dsn":
        return max(1, len(dsn_modules(g, analysis, n_classes))) * epochs
    return epochs


def _number(n: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(n, str(n))


def resolve_trainer(trainer: str, analysis: Analysis, n_classes: int | None) -> tuple[Choice, list[Issue]]:
    """(the trainer to run and why, the issues that refuse it)."""
    if trainer == "auto":
        return choose_trainer(analysis, n_classes), []
    choice = Choice(trainer, f"{NAMES.get(trainer, trainer)}, as chosen")
    return choice, trainer_issues(trainer, analysis, n_classes)
