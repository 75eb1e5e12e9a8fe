"""Which rule `auto` picks for a graph and why (engine.train.choose), and the refusals that name the node."""

import pytest

from builder.analysis.validate import analyze
from builder.library.templates import TEMPLATES, graph
from builder.spec.spec import parse_spec
from engine.train.choose import choose_trainer, trainer_issues
from engine.train.config import TrainConfig
from engine.train.pipeline import planned_epochs_of, prepare_run

X64 = ("x", "Input", {"shape": [64]})


def _analysis(*layers, extra_edges=()):
    return analyze(parse_spec(graph("g", list(layers), list(extra_edges)))[0])


@pytest.mark.parametrize(
    "template, n_classes, trainer, reason",
    [
        ("rbm_digits", 10, "rbm", "auto → CD-k: the graph ends in an RBM: contrastive divergence"),
        ("som_iris", 3, "som", "auto → the SOM rule: the graph ends in a SOM: Kohonen's self-organising rule"),
        ("dbn_digits", 10, "dbn", "auto → DBN: two RBMs under a classifier head (pretrained one by one by CD-k,"),
        ("perceptron", 2, "perceptron", "auto → the perceptron rule: one Linear unit and a Step on 2 classes"),
        ("mlp_xor", 2, "backprop", "auto → backprop: gradient descent on the loss through the whole graph"),
        ("dsn_digits", 10, "backprop", "auto → backprop"),  # a Concat of predictions may be a skip: dsn is asked for
    ],
)
def test_auto_picks_the_rule_the_graph_needs_and_says_why(template, n_classes, trainer, reason):
    choice = choose_trainer(analyze(TEMPLATES[template].spec()), n_classes)
    assert choice.trainer == trainer and choice.reason.startswith(reason)


def test_a_perceptron_on_three_classes_is_left_to_backprop_and_refused_by_the_rule():
    analysis = analyze(TEMPLATES["perceptron"].spec())
    assert choose_trainer(analysis, 3).trainer == "backprop"
    [issue] = trainer_issues("perceptron", analysis, 3)
    assert issue.node == "fc" and "one unit for 2 classes; got 1 unit(s) for 3 classes" in issue.message


def test_cd_k_and_dbn_without_an_rbm_are_refused():
    analysis = analyze(TEMPLATES["mlp_digits"].spec())
    assert [str(i) for i in trainer_issues("rbm", analysis, 10)] == [
        "trainer 'rbm': needs an RBM node; the graph has none"
    ]
    assert "needs RBM nodes to pretrain" in str(trainer_issues("dbn", analysis, 10)[0])
    assert "needs a SOM node" in str(trainer_issues("som", analysis, 10)[0])


def test_an_rbm_inside_the_graph_is_refused_by_cd_k_naming_it_and_what_it_feeds():
    analysis = analyze(TEMPLATES["dbn_digits"].spec())
    [issue] = trainer_issues("rbm", analysis, 10)
    assert issue.node == "rbm2" and issue.message == "trainer 'rbm': trains the RBM at the output; 'rbm2' feeds fc"


def test_a_dbn_with_weights_between_its_rbms_is_refused_naming_the_rbm():
    analysis = _analysis(
        X64,
        ("rbm1", "RBM", {"n_hidden": 32}),
        ("mix", "Linear", {"out_features": 16}),
        ("rbm2", "RBM", {"n_hidden": 8}),
        ("fc", "Linear", {"out_features": 10}),
    )
    [issue] = trainer_issues("dbn", analysis, 10)
    assert issue.node == "rbm2" and "must be fed by the one below ('rbm1'); it is fed by 'mix'" in issue.message
    assert choose_trainer(analysis, 10).trainer == "backprop"


def test_weightless_nodes_between_the_input_and_an_rbm_are_fine():
    analysis = _analysis(("x", "Input", {"shape": [1, 8, 8]}), ("flat", "Flatten"), ("rbm", "RBM", {"n_hidden": 16}))
    assert trainer_issues("rbm", analysis, 10) == [] and choose_trainer(analysis, 10).trainer == "rbm"


@pytest.mark.parametrize("template", ["dbn_digits", "dsn_digits", "rbm_digits", "mlp_iris", "perceptron"])
def test_the_planned_epochs_of_every_phase_are_what_the_trainer_runs(template):
    config = TrainConfig(**{**TEMPLATES[template].train, "device": "cpu", "epochs": 3, "pretrain_epochs": 2})
    run = prepare_run(TEMPLATES[template].spec(), config)
    assert planned_epochs_of(TEMPLATES[template].spec(), config) == run.trainer.total_epochs
    assert run.trainer.total_epochs == {"dbn_digits": 2 * 2 + 3, "dsn_digits": 3 * 3}.get(template, 3)
