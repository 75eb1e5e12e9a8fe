"""Every template's gallery tags are there and true: the rule tag is the trainer the engine builds for it, the
task the one it trains for; and the gallery's filter."""

import dataclasses

import pytest

from builder.library.datasets import DATASETS
from builder.library.template_tags import RULE_LABELS, UNSUPERVISED_TASKS, matching, template_tags
from builder.library.templates import TEMPLATES
from engine.train.choose import resolve_trainer
from engine.train.config import TrainConfig
from engine.train.pipeline import analysis_for_training, fitted_dataset, objective_of

SAYS_WHAT_IT_LEARNS = {
    "classification",
    "regression",
    "reconstruction",
    "clustering",
    "generative",
}  # not "unsupervised"


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_has_a_dataset_a_task_and_a_rule(name):
    tags = template_tags(TEMPLATES[name])
    assert tags.dataset == TEMPLATES[name].train["dataset"]
    assert tags.task in SAYS_WHAT_IT_LEARNS and tags.rule in RULE_LABELS and tags.rule_label


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_rule_and_task_tags_agree_with_what_the_engine_trains(name):
    template = TEMPLATES[name]
    config = TrainConfig(**template.train)
    analysis = analysis_for_training(template.spec(), config)
    task, _, choice = objective_of(analysis, config, fitted_dataset(analysis, config))
    tags = template_tags(template)
    assert tags.rule == choice.trainer, choice.reason
    expected = UNSUPERVISED_TASKS.get(choice.trainer, task) if task == "unsupervised" else task
    assert tags.task == expected  # (it read `assert a == b if ... else task`: only `assert task` for most)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_under_auto_the_rule_tag_is_autos_pick(name):
    """The template's graph with its trainer left on auto: the tag reads the graph as engine.train.choose does."""
    template = TEMPLATES[name]
    on_auto = dataclasses.replace(template, train={**template.train, "trainer": "auto"})
    analysis = analysis_for_training(template.spec(), TrainConfig(**on_auto.train))
    choice, _ = resolve_trainer("auto", analysis, DATASETS[template.train["dataset"]].n_classes)
    assert template_tags(on_auto).rule == choice.trainer, choice.reason


def test_the_filter_narrows_by_each_tag_and_by_words():
    everything = matching(TEMPLATES)
    assert everything == list(TEMPLATES)
    assert matching(TEMPLATES, rule="som") == ["som_iris", "som_digits"]
    assert matching(TEMPLATES, dataset="iris", rule="som") == ["som_iris"]
    assert matching(TEMPLATES, task="regression") == [n for n in TEMPLATES if TEMPLATES[n].train["dataset"] == "sine"]
    assert matching(TEMPLATES, text="LeNet") == ["lenet"]
    assert matching(TEMPLATES, text="kohonen IRIS") == ["som_iris"]  # every word, any case, in any field
    assert matching(TEMPLATES, text="contrastive", dataset="digits") == ["rbm_digits", "dbn_digits"]
    assert matching(TEMPLATES, dataset="xor", rule="som") == []
