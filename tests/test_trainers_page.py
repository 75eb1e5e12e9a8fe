"""The learning rule on the Train page (AppTest): auto says which rule it picks and why before the run, a rule
that cannot train the graph is refused naming the node, and a rule's run shows its measures and live views."""

from __future__ import annotations

import json
import time

from streamlit.testing.v1 import AppTest

from tests.test_train_page import open_train_page, runs_dir  # noqa: F401 (runs_dir: an autouse fixture)

open_page = open_train_page  # the template on the Build page, then the Train page (tests/test_train_page.py)


def texts(at: AppTest) -> str:
    parts = [
        e.value for kind in ("error", "warning", "success", "caption", "markdown", "info") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_auto_says_which_rule_it_picks_and_why_before_the_run():
    at = open_page("dbn_digits")
    rule = at.selectbox(key="ts_trainer")
    assert rule.value == "dbn"  # the template's own rule
    rule.set_value("auto").run()
    assert rule.options[0] == "auto → DBN"
    assert "auto → DBN: two RBMs under a classifier head (pretrained one by one by CD-k, then fine-tuned)" in texts(at)
    assert at.number_input(key="ts_pretrain_epochs").value == 10  # the DBN's own settings are drawn


def test_a_rule_that_cannot_train_the_graph_is_refused_naming_the_node():
    at = open_page("mlp_xor")
    at.selectbox(key="ts_trainer").set_value("perceptron").run()
    assert "node 'fc2': trainer 'perceptron': the rule trains a Linear followed by a Step" in texts(at)
    assert at.button(key="train_start").disabled


def test_a_perceptron_run_shows_its_mistakes_and_the_decision_line():
    at = open_page("perceptron")
    start = next(b for b in at.button if b.label == "Train")
    start.click().run()
    deadline = time.monotonic() + 60
    while "trained" not in texts(at):
        assert time.monotonic() < deadline, texts(at)
        time.sleep(0.3)
        at.run()
    at.run()
    assert "an epoch without mistakes" in texts(at) and not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "The rule's measures" in titles and "Decision line" in titles  # the rule's views, not the loss curves
    assert not any("gradient norm" in t for t in titles)
    assert "No gradient views: the rule learns from its mistakes" in texts(at)
    curves = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "measures" in c.proto.spec)
    mistakes = next(t for t in curves["data"] if t["name"] == "mistakes")
    assert mistakes["y"][-1] == 0 and mistakes["y"][0] > 0
