"""The Train page's sidebar selects: each option's label is short enough for the closed field (one line, never cut
with '…'), and what a short label leaves out (the dataset's description, the rule's) is shown under it."""

from __future__ import annotations

import pytest

from builder.library.datasets import DATASETS
from tests.test_train_page import open_train_page

SIDEBAR_CHARACTERS = 28  # what the closed field of a sidebar select shows on one line at the default width


def test_dataset_options_fit_the_closed_field_and_the_description_is_shown_whole():
    at = open_train_page("mlp_iris")
    select = at.selectbox(key="ts_dataset")
    labels = list(select.options)
    assert len(labels) == len(DATASETS) + 1
    too_long = [label for label in labels if len(label) > SIDEBAR_CHARACTERS]
    assert not too_long, f"cut in the closed field: {too_long}"
    captions = [c.value for c in at.sidebar.caption]
    assert DATASETS[select.value].description in captions


@pytest.mark.parametrize("template", ["mlp_iris", "dbn_digits", "som_iris", "perceptron_xor"])
def test_every_sidebar_select_option_fits_its_closed_field(template):
    at = open_train_page(template)
    too_long = {
        select.label: [label for label in select.options if len(label) > SIDEBAR_CHARACTERS]
        for select in at.sidebar.selectbox
    }
    assert not {name: labels for name, labels in too_long.items() if labels}, "cut in the closed field"


def test_a_chosen_rule_is_described_under_its_short_label():
    at = open_train_page("dbn_digits")
    at.selectbox(key="ts_trainer").set_value("dbn").run()
    assert "Pretrains the RBMs one by one by CD, then fine-tunes the whole stack by backprop." in [
        c.value for c in at.sidebar.caption
    ]
