"""The Train page's Dataset select: each option's label is short enough for the sidebar's closed field (one line,
never cut with '…'), and the chosen dataset's whole description is shown under it."""

from __future__ import annotations

from builder.datasets import DATASETS
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
