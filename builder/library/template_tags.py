"""The gallery's tags of a template (dataset, task, learning rule), read from what the template really uses, and
the gallery's filter.

    tags = template_tags(TEMPLATES["dbn_digits"])   # TemplateTags("digits", "classification", "dbn")
    tags.rule_label                                 # "CD-k pretraining, then backprop"
    matching(TEMPLATES, rule="som", text="iris")     # ["som_iris"]

- dataset: the template's training dataset (`train["dataset"]`).
- task: `train["task"]` or the dataset's own task; an unsupervised rule says what it learns instead
  (a SOM clusters, an RBM models the data's distribution: "generative").
- rule: `train["trainer"]` when the template names one; under "auto" the rule engine.train.choose picks for
  the graph's shape (an RBM or SOM at the output, a stack of RBMs, one Linear unit and a Step on two
  classes, else backprop). tests/test_template_tags.py checks for every template that this is the trainer the
  engine really builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from builder.library.datasets import DATASETS, dataset_label
from builder.library.templates import Template
from builder.spec.spec import GraphSpec

RULE_LABELS = {
    "backprop": "backprop",
    "perceptron": "perceptron rule",
    "rbm": "contrastive divergence",
    "dbn": "CD-k pretraining, then backprop",
    "dsn": "deep stacking",
    "som": "SOM rule",
}
UNSUPERVISED_TASKS = {"som": "clustering", "rbm": "generative"}  # what an unsupervised rule learns


@dataclass(frozen=True)
class TemplateTags:
    dataset: str  # "digits"
    task: str  # "classification", "regression", "reconstruction", "clustering", "generative"
    rule: str  # a trainer name of engine.train.config.TRAINERS, never "auto"

    @property
    def rule_label(self) -> str:
        return RULE_LABELS.get(self.rule, self.rule)

    def words(self) -> str:
        return f"{self.dataset} {self.task} {self.rule} {self.rule_label}"


def _auto_rule(spec: GraphSpec, n_classes: int | None) -> str:
    """The rule `auto` picks for a well-formed graph of this shape (engine.train.choose.choose_trainer)."""
    ops = {n.id: n.op for n in spec.nodes}
    targets = {e.source for e in spec.edges}
    outputs = [n.id for n in spec.nodes if n.id not in targets]
    out_op = ops[outputs[0]] if len(outputs) == 1 else None
    if out_op in ("RBM", "SOM"):
        return out_op.lower()
    if "RBM" in ops.values():
        return "dbn"
    sources = {e.target: e.source for e in spec.edges}
    linear = sources.get(outputs[0]) if outputs else None
    if out_op == "Step" and ops.get(linear) == "Linear" and ops.get(sources.get(linear)) == "Input" and n_classes == 2:
        return "perceptron"
    return "backprop"


def template_tags(template: Template) -> TemplateTags:
    dataset = template.train["dataset"]
    info = DATASETS.get(dataset)
    rule = template.train.get("trainer", "auto")
    if rule == "auto":
        rule = _auto_rule(template.spec(), info.n_classes if info else None)
    task = template.train.get("task") or (info.task if info else "classification")
    if task == "unsupervised":
        task = UNSUPERVISED_TASKS.get(rule, task)
    return TemplateTags(dataset_label(dataset), task, rule)


def matching(
    templates: Mapping[str, Template],
    dataset: str | None = None,
    task: str | None = None,
    rule: str | None = None,
    text: str = "",
) -> list[str]:
    """Names of the templates with every tag given (None: any) whose title, description, name or tags contain
    every word of `text` (case-insensitive), in the templates' order."""
    words = text.lower().split()
    found = []
    for name, template in templates.items():
        tags = template_tags(template)
        wanted = {"dataset": dataset, "task": task, "rule": rule}
        if any(value is not None and getattr(tags, key) != value for key, value in wanted.items()):
            continue
        haystack = f"{name} {template.title} {template.description} {tags.words()}".lower()
        if all(word in haystack for word in words):
            found.append(name)
    return found
