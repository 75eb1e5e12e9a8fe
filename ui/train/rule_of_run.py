"""The rule card of what the Train page shows (engine.train.rule_card): the rule line of the settings in the
sidebar, and for a run, its card and what it has ("classes", "2d_input", "step_probes", "rule_views"), which
decide the tabs it offers. Glue only: no drawing."""

from __future__ import annotations

from dataclasses import dataclass

from builder.analysis.validate import Analysis, analyze
from builder.library.datasets import DATASETS
from builder.spec.spec import parse_spec
from engine.runs.store import RunRecord
from engine.train.rule_card import RuleCard, ViewSpec, layers_of, offered_views, rule_line, run_cards, run_task


@dataclass(frozen=True)
class RunRule:
    card: RuleCard
    has: frozenset[str]
    line: str  # what the rule updates and how, with the run's settings

    @property
    def views(self) -> list[ViewSpec]:
        return offered_views(self.card, set(self.has))


def _n_classes(config: dict) -> int | None:
    dataset = DATASETS.get(str(config.get("dataset")))
    return dataset.n_classes if dataset is not None else None


def settings_line(analysis: Analysis, config: dict, card: RuleCard) -> str:
    """The rule line of the settings in the sidebar (before any run)."""
    return rule_line(card, config, layers_of(analysis, _n_classes(config)))


def run_rule(record: RunRecord) -> RunRule | None:
    """The card of `record`'s rule and what the run has; None for a spec that does not parse any more."""
    spec, _ = parse_spec(record.spec)
    if spec is None:
        return None
    analysis = analyze(spec)
    config, progress = record.config, record.progress
    card = run_cards(analysis, config)[0]
    task = progress.get("task") or run_task(config)
    has = set()
    if task == "classification":
        has.add("classes")
    if analysis.ok and list(analysis.shapes.get(analysis.input_id) or []) == [2]:
        has.add("2d_input")
    if progress.get("step_probes", any(v.name == "gradients" for v in card.views)):
        has.add("step_probes")
    if progress.get("rule_views", any(v.name == "rule_views" for v in card.views)):
        has.add("rule_views")
    line = rule_line(card, {**config, "epochs": config.get("epochs", 10)}, layers_of(analysis, _n_classes(config)))
    return RunRule(card, frozenset(has), line)
