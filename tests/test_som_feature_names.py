"""The SOM's component planes carry the dataset's feature names (issue 22): iris's names, a CSV's header
(the target column left out), and "feature k" where a dataset names none."""

import pytest

from builder.library.templates import TEMPLATES
from engine.data.datasets import load_dataset
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run
from ui.figures.rules import component_planes_figure

pytestmark = pytest.mark.usefixtures("single_thread_torch")
IRIS_NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def _som_panels(**settings) -> dict:
    template = TEMPLATES["som_iris"]
    config = TrainConfig(**{**template.train, "device": "cpu", "epochs": 1, **settings})
    run = prepare_run(template.spec(), config)
    list(run.trainer.run())
    return run.trainer.panel_data()["som"]


def test_iris_planes_are_titled_with_iriss_feature_names():
    som = _som_panels()
    assert som["feature_names"] == IRIS_NAMES
    fig = component_planes_figure(som["component_planes"], som["feature_names"])
    assert [a.text for a in fig.layout.annotations] == IRIS_NAMES


def test_a_csvs_header_names_its_features_without_the_target(tmp_path):
    path = tmp_path / "flowers.csv"
    rows = [f"{1 + k % 3},{2 + k % 5},{k % 2},{k % 7}" for k in range(40)]
    path.write_text("stem,petal,leaf,kind\n" + "\n".join(rows) + "\n")
    assert load_dataset(f"csv:{path}").feature_names == ("stem", "petal", "leaf")
    assert load_dataset(f"csv:{path}", target="leaf").feature_names == ("stem", "petal", "kind")


def test_a_dataset_without_names_gets_numbered_features_and_the_title_counts_them_all():
    assert load_dataset("digits").feature_names == ()
    planes = [[[0.0, 1.0], [1.0, 0.0]]] * 16
    fig = component_planes_figure(planes, [f"feature {k}" for k in range(64)])
    assert fig.layout.title.text.startswith("Component planes (first 16 of 64 features)")
