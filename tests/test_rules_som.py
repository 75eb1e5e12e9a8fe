"""The self-organising map (engine.train.rules.som) against MiniSom 2.3.6 on the same weights and data: schedules,
one online update, a whole sequential run, the batch rule, quantization and topographic error, U-matrix; and
that a map trained on iris organises itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from minisom import MiniSom
from sklearn.datasets import load_iris

from engine.compile.layers import SOM
from engine.train.rules.som import (
    SomSchedule,
    batch_epoch,
    component_planes,
    grid_sq_distances,
    hit_map,
    online_updates,
    quantization_error,
    topographic_error,
    u_matrix,
)

pytestmark = pytest.mark.usefixtures("single_thread_torch")

ROWS, COLS = 5, 6  # not square, so a swapped row and column shows


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    bunch = load_iris()
    x = (bunch.data - bunch.data.mean(0)) / bunch.data.std(0)  # (150, 4) standardised
    return x, bunch.target


def twin_maps(n_features: int, seed: int = 0, **minisom_args) -> tuple[SOM, MiniSom]:
    """A float64 SOM and a MiniSom with the same (MiniSom's random) weights."""
    reference = MiniSom(ROWS, COLS, n_features, random_seed=seed, **minisom_args)
    som = SOM(n_features, ROWS, COLS).double()
    som.weight.data.copy_(torch.from_numpy(reference._weights.reshape(ROWS * COLS, n_features)))
    return som, reference


def weights_of(som: SOM) -> np.ndarray:
    return som.weight.detach().numpy().reshape(ROWS, COLS, -1)


@pytest.mark.parametrize(
    ("decay", "lr_name", "sigma_name"),
    [("asymptotic", "asymptotic_decay", "asymptotic_decay"), ("linear", "linear_decay_to_zero", "linear_decay_to_one")],
)
def test_schedules_are_minisoms(decay, lr_name, sigma_name):
    reference = MiniSom(
        ROWS, COLS, 2, sigma=2.5, learning_rate=0.7, decay_function=lr_name, sigma_decay_function=sigma_name
    )
    schedule = SomSchedule(2.5, 0.7, decay, total_iterations=400)
    for t in (0, 1, 57, 200, 399):
        assert schedule.lr(t) == pytest.approx(reference._learning_rate_decay_function(0.7, t, 400))
        assert schedule.sigma(t) == pytest.approx(reference._sigma_decay_function(2.5, t, 400))


def test_exponential_schedule_ends_at_one_unit_and_one_percent():
    schedule = SomSchedule(4.0, 0.5, "exponential", total_iterations=1000)
    assert schedule.sigma(0) == 4.0 and schedule.sigma(1000) == pytest.approx(1.0)
    assert schedule.lr(1000) == pytest.approx(0.005)
    assert schedule.sigma(500) == pytest.approx(2.0)  # geometric: halfway in log
    assert SomSchedule(0.5, 0.5, "exponential", 10).sigma(10) == 0.5  # a radius under one unit stays


def test_one_online_update_is_minisoms(iris):
    x, _ = iris
    som, reference = twin_maps(4, sigma=2.0, learning_rate=0.5)
    sample, t, total = x[17], 30, 100
    reference.update(sample, reference.winner(sample), t, total)
    online_updates(som, torch.from_numpy(sample[None]), SomSchedule(2.0, 0.5, "asymptotic", total), t0=t)
    np.testing.assert_allclose(weights_of(som), reference._weights, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("decay", "minisom_decays"),
    [
        ("asymptotic", {}),
        ("linear", {"decay_function": "linear_decay_to_zero", "sigma_decay_function": "linear_decay_to_one"}),
    ],
)
def test_a_sequential_run_is_minisoms(iris, decay, minisom_decays):
    x, _ = iris
    som, reference = twin_maps(4, seed=1, sigma=3.0, learning_rate=0.5, **minisom_decays)
    total = 400  # MiniSom's train visits x[t % 150] at iteration t
    reference.train(x, total)
    schedule = SomSchedule(3.0, 0.5, decay, total)
    seq = torch.from_numpy(x[np.arange(total) % len(x)])
    sq_grid = grid_sq_distances(som)  # kept from call to call
    for t0 in range(0, total, 32):  # in steps, as a trainer calls it
        online_updates(som, seq[t0 : t0 + 32], schedule, t0=t0, sq_grid=sq_grid)
    np.testing.assert_allclose(weights_of(som), reference._weights, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("lr", [1.0, 0.4])
def test_batch_epoch_is_minisoms_offline_batch(iris, lr):
    x, _ = iris
    som, reference = twin_maps(4, seed=2, sigma=1.5, learning_rate=lr)
    reference.train_batch_offline(x, 1)  # iteration 0: sigma and lr at their start
    batch_epoch(som, torch.from_numpy(x), sigma=1.5, lr=lr)
    np.testing.assert_allclose(weights_of(som), reference._weights, rtol=1e-9, atol=1e-12)


def test_batch_epoch_keeps_a_unit_no_data_reaches():
    som = SOM(2, 1, 40).double()
    som.weight.data.copy_(torch.stack([torch.arange(40.0), torch.zeros(40)], dim=1).double())
    far_before = som.weight.data[39].clone()
    batch_epoch(som, torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=torch.float64), sigma=0.5)
    assert torch.equal(som.weight.data[39], far_before)  # exp(-39^2 / 0.5) is 0: no division by zero
    assert torch.isfinite(som.weight.data).all()
    h = np.exp(-1 / (2 * 0.5**2))  # unit 0 is the BMU of the first example, its neighbour unit 1 of the second
    expected = (np.array([0.0, 1.0]) + h * np.array([1.0, 1.0])) / (1 + h)
    np.testing.assert_allclose(som.weight.data[0].numpy(), expected)


def test_quantization_and_topographic_error_are_minisoms(iris):
    x, _ = iris
    som, reference = twin_maps(4, seed=3, sigma=2.0, learning_rate=0.5)
    reference.train_random(x, 300)  # an organised map: TE is neither 0 nor 1
    som.weight.data.copy_(torch.from_numpy(reference._weights.reshape(ROWS * COLS, 4)))
    data = torch.from_numpy(x)
    assert quantization_error(som, data).item() == pytest.approx(reference.quantization_error(x), rel=1e-12)
    te = topographic_error(som, data).item()
    assert te == pytest.approx(reference.topographic_error(x), abs=1e-12) and 0 < te < 1


def test_topographic_error_counts_diagonal_neighbours_as_adjacent():
    som = SOM(2, 3, 3).double()
    far = torch.full((9, 2), 100.0, dtype=torch.float64)
    far[0], far[4], far[8] = torch.tensor([0.0, 0.0]), torch.tensor([0.1, 0.0]), torch.tensor([0.2, 0.0])
    som.weight.data.copy_(far)
    at = torch.tensor([[0.04, 0.0]], dtype=torch.float64)  # nearest units 0 (0, 0) and 4 (1, 1): diagonal
    assert topographic_error(som, at).item() == 0.0
    som.weight.data[4] = 100.0  # now units 0 and 8 (2, 2): two cells apart
    assert topographic_error(som, at).item() == 1.0
    assert torch.isnan(topographic_error(SOM(2, 1, 1), at.float()))


def test_u_matrix_is_minisoms_distance_map(iris):
    som, reference = twin_maps(4, seed=4)
    reference.train_random(iris[0], 200)
    som.weight.data.copy_(torch.from_numpy(reference._weights.reshape(ROWS * COLS, 4)))
    ours = u_matrix(som)
    assert ours.shape == (ROWS, COLS)
    np.testing.assert_allclose(ours / ours.max(), reference.distance_map(scaling="mean"), rtol=1e-10)


def test_training_organises_the_map(iris):
    x, labels = iris
    torch.manual_seed(0)
    som = SOM(4, ROWS, COLS)
    data = torch.tensor(x, dtype=torch.float32)
    error_before = quantization_error(som, data).item()
    order = torch.randint(0, len(x), (3000,), generator=torch.Generator().manual_seed(0))
    schedule = SomSchedule(3.0, 0.5, "asymptotic", 3000)
    errors = []
    for t0 in range(0, 3000, 1000):
        online_updates(som, data[order[t0 : t0 + 1000]], schedule, t0)
        errors.append(quantization_error(som, data).item())
    assert errors[0] < 0.6 * error_before and errors[-1] < errors[0], (error_before, errors)
    grid = som.grid_positions()  # (U, 2)
    grid_apart = (grid[:, None] - grid[None]).abs().amax(dim=2)  # (U, U) Chebyshev distance on the grid
    weight_distance = torch.cdist(som.weight.detach(), som.weight.detach())  # (U, U)
    neighbours = weight_distance[grid_apart == 1].mean()
    others = weight_distance[grid_apart > 1].mean()
    assert neighbours < 0.5 * others, (neighbours, others)
    assert topographic_error(som, data).item() < 0.2


def test_hit_map_and_component_planes(iris):
    x, labels = iris
    som, _ = twin_maps(4, seed=5)
    data = torch.from_numpy(x)
    hits = hit_map(som, data, torch.from_numpy(labels), n_classes=3)
    assert hits.shape == (ROWS, COLS, 3)
    np.testing.assert_array_equal(hits.sum(axis=(0, 1)), np.bincount(labels))  # every example counted once
    bmu = (data[:, None] - som.weight.detach()[None]).norm(dim=2).argmin(dim=1)  # (N,)
    first = int(bmu[0])
    assert hits[first // COLS, first % COLS, labels[0]] == int(
        ((bmu == first) & (torch.from_numpy(labels) == labels[0])).sum()
    )
    assert hit_map(som, data, None, n_classes=3).shape == (ROWS, COLS, 1)
    planes = component_planes(som)
    assert planes.shape == (4, ROWS, COLS)
    np.testing.assert_array_equal(planes[2], weights_of(som)[:, :, 2])
