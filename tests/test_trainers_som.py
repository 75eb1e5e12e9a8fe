"""Kohonen's rule on a graph's SOM (engine.train.som_trainer): the map organises and its error falls."""

import dataclasses

import pytest
import torch

from builder.library.templates import TEMPLATES, graph
from builder.spec.spec import parse_spec
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.pipeline import prepare_run

pytestmark = pytest.mark.usefixtures("single_thread_torch")


def _run(name: str, **settings):
    template = TEMPLATES[name]
    run = prepare_run(template.spec(), TrainConfig(**{**template.train, "device": "cpu", **settings}))
    return run, [e for e in run.trainer.run() if e["kind"] in ("step", "epoch", "done")]


@pytest.mark.parametrize("mode", ["online", "batch"])
def test_the_quantization_error_falls_and_grid_neighbours_end_closer_than_far_units(mode):
    run, events = _run("som_iris", som_mode=mode, epochs=10)
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert events[-1]["kind"] == "done" and epochs[-1]["quantization_error"] < 0.8 * epochs[0]["quantization_error"]
    assert 0 <= epochs[-1]["topographic_error"] <= 0.2
    som = run.model.som
    w = som.weight.detach()  # [49, 4]
    grid = som.grid_positions()  # [49, 2]
    apart = torch.cdist(grid, grid)  # [49, 49] grid distances
    gap = torch.cdist(w, w)  # [49, 49] weight distances
    neighbours, far = gap[apart == 1].mean(), gap[apart >= 4].mean()
    assert neighbours < 0.5 * far, (neighbours, far)


def test_online_steps_report_their_error_and_the_panels_hold_the_map():
    run, events = _run("som_iris", epochs=2, log_every=3)
    steps = [e for e in events if e["kind"] == "step"]
    assert steps and all(e["quantization_error"] > 0 for e in steps) and steps[0]["step"] == 3
    assert run.trainer.optimizer is None and run.trainer.metrics()["trainer"] == "som"
    som = run.trainer.panel_data()["som"]
    assert (som["rows"], som["cols"]) == (7, 7) and len(som["u_matrix"]) == 7 and len(som["u_matrix"][0]) == 7
    hits = torch.tensor(som["hit_map"])  # [7, 7, 3]: the training rows by best unit and species
    assert hits.shape == (7, 7, 3) and int(hits.sum()) == run.dataset.n_train and som["class_names"][0] == "setosa"
    assert len(som["component_planes"]) == 4 and "grid" not in som  # 4 features: no grid over 2-D points


def test_on_two_features_the_panels_carry_the_grid_and_the_points():
    spec = parse_spec(graph("som_moons", [("x", "Input", {"shape": [2]}), ("som", "SOM", {"rows": 4, "cols": 5})]))[0]
    config = TrainConfig(dataset="moons", trainer="auto", task="unsupervised", lr=0.5, epochs=2, device="cpu")
    run = prepare_run(spec, config)
    assert run.choice.trainer == "som" and run.choice.reason.startswith("auto → the SOM rule")
    list(run.trainer.run())
    som = run.trainer.panel_data()["som"]
    assert len(som["grid"]) == 20 and len(som["grid"][0]) == 2 and len(som["points"]) == len(som["point_labels"])


def test_a_som_not_fed_by_the_input_is_refused_naming_it():
    spec = parse_spec(
        graph(
            "som_after_linear",
            [
                ("x", "Input", {"shape": [4]}),
                ("fc", "Linear", {"out_features": 3}),
                ("som", "SOM", {"rows": 1, "cols": 3}),
            ],
        )
    )[0]
    config = TrainConfig(dataset="iris", trainer="som", device="cpu")
    with pytest.raises(ConfigError, match="node 'som': trainer 'som': the SOM must be fed by the Input 'x': 'fc' has"):
        prepare_run(spec, config)
    # auto does not pick the SOM rule for it: backprop trains the SOM as a prototype layer
    assert prepare_run(spec, dataclasses.replace(config, trainer="auto")).choice.trainer == "backprop"
