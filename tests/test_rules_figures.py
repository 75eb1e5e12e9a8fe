"""The learning rules' live figures (ui/figures/rules.py) build from small arrays with the traces, cells and
titles they promise; each exports to a PNG through kaleido and Chromium (a dev dependency: no skip), of the size
the figure asks for (no pixel comparison)."""

from __future__ import annotations

import struct

import numpy as np

from ui.figures.rules import (
    PAIR_GAP,
    TILE_GAP,
    class_colour,
    code_scatter_figure,
    component_planes_figure,
    hit_map_figure,
    reconstruction_grid_figure,
    samples_figure,
    som_grid_over_points_figure,
    u_matrix_figure,
    weight_images_figure,
)

RNG = np.random.default_rng(0)


def tile(canvas: np.ndarray, k: int, shape: tuple[int, int], columns: int = 8) -> np.ndarray:
    h, w = shape
    top, left = (k // columns) * (h + TILE_GAP), (k % columns) * (w + TILE_GAP)
    return canvas[top : top + h, left : left + w]


def test_weight_images_one_mosaic_each_unit_on_its_own_scale():
    images = RNG.normal(size=(70, 8, 8))
    images[3] *= 100  # a strong unit does not wash the others out
    fig = weight_images_figure(images, max_units=64)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    canvas = np.asarray(fig.data[0].z, dtype=float)
    assert canvas.shape == (8 * 9 - 1, 8 * 9 - 1)  # 64 tiles of 8 x 8, 8 a row, one empty cell between
    for k in (0, 3, 63):
        np.testing.assert_allclose(tile(canvas, k, (8, 8)), images[k] / np.abs(images[k]).max())
    assert np.isnan(canvas[8, :]).all()  # the gap row between the first two rows of tiles
    assert fig.layout.title.text == "Hidden units' weights (64 of 70)"
    assert weight_images_figure(images[:5]).layout.title.text == "Hidden units' weights"


def test_reconstruction_grid_puts_each_input_beside_its_reconstruction():
    inputs, recons = RNG.random((6, 64)), RNG.random((6, 64))
    fig = reconstruction_grid_figure(inputs, recons, (8, 8))
    canvas = np.asarray(fig.data[0].z, dtype=float)
    pair_width = 8 + TILE_GAP + 8
    assert canvas.shape == (2 * 8 + PAIR_GAP, 4 * pair_width + 3 * PAIR_GAP)  # 6 pairs: a row of 4, then 2
    top, left = 8 + PAIR_GAP, 1 * (pair_width + PAIR_GAP)  # pair 5: second row, second column
    np.testing.assert_allclose(canvas[top : top + 8, left : left + 8], inputs[5].reshape(8, 8))
    np.testing.assert_allclose(canvas[top : top + 8, left + 8 + TILE_GAP : left + pair_width], recons[5].reshape(8, 8))
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["input", "reconstruction"] * 4
    assert fig.layout.title.text == "Inputs and their reconstructions"


def test_samples_figure():
    fig = samples_figure(RNG.random((10, 16)), (4, 4))
    canvas = np.asarray(fig.data[0].z, dtype=float)
    assert len(fig.data) == 1 and canvas.shape == (2 * 5 - 1, 8 * 5 - 1)
    assert fig.layout.title.text == "Samples from a Gibbs chain"


def test_u_matrix_figure_keeps_row_zero_at_the_top():
    u = RNG.random((5, 7))
    fig = u_matrix_figure(u)
    assert len(fig.data) == 1 and np.asarray(fig.data[0].z).shape == (5, 7)
    assert list(fig.layout.yaxis.range) == [4.5, -0.5]
    assert fig.layout.title.text.startswith("U-matrix")


def test_hit_map_colours_each_cell_by_its_majority_class():
    hits = np.zeros((2, 3, 3), dtype=int)
    hits[0, 0] = [5, 1, 0]  # class 0, 6 hits
    hits[0, 2] = [0, 2, 9]  # class 2, 11 hits: the largest dot
    hits[1, 1] = [0, 4, 0]
    fig = hit_map_figure(hits, ["setosa", "versicolor", "virginica"])
    assert [t.name for t in fig.data] == ["setosa", "versicolor", "virginica", "no hits"]
    setosa, versicolor, virginica, empty = fig.data
    assert (list(setosa.x), list(setosa.y)) == ([0], [0])
    assert (list(virginica.x), list(virginica.y)) == ([2], [0])
    assert virginica.marker.size[0] > versicolor.marker.size[0] > 0
    assert setosa.marker.color == class_colour(0) and virginica.marker.color == class_colour(2)
    assert virginica.marker.opacity[0] < versicolor.marker.opacity[0]  # 9 of 11 is less pure than 4 of 4
    assert len(empty.x) == 3  # the three cells without hits
    assert fig.layout.title.text.startswith("Hit map")


def test_component_planes_one_heatmap_per_feature_titled():
    planes = RNG.random((4, 5, 6))
    fig = component_planes_figure(planes, ["sepal length", "sepal width", "petal length", "petal width"])
    assert len(fig.data) == 4
    np.testing.assert_allclose(np.asarray(fig.data[2].z, dtype=float), planes[2])
    assert [a.text for a in fig.layout.annotations] == ["sepal length", "sepal width", "petal length", "petal width"]
    many = component_planes_figure(RNG.random((64, 3, 3)), [f"pixel {k}" for k in range(64)])
    assert len(many.data) == 16 and many.layout.title.text == "Component planes (first 16 of 64 features)"


def test_som_grid_over_points_draws_the_lattice():
    rows, cols = 3, 4
    weights = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), axis=-1).reshape(-1, 2).astype(float)  # (12, 2)
    points, labels = RNG.random((30, 2)) * 3, RNG.integers(0, 2, 30)
    fig = som_grid_over_points_figure(weights, rows, cols, points, labels, ["a", "b"])
    assert [t.name for t in fig.data] == ["a", "b", "map lattice", "units"]
    lattice = fig.data[2]
    assert sum(v is None for v in lattice.x) == rows + cols  # one line per grid row and per grid column
    assert len(lattice.x) == rows * (cols + 1) + cols * (rows + 1)
    assert len(fig.data[3].x) == 12 and len(fig.data[0].x) + len(fig.data[1].x) == 30
    assert fig.layout.title.text == "The map over the data"
    unlabelled = som_grid_over_points_figure(weights, rows, cols, points, None)
    assert [t.name for t in unlabelled.data] == ["class 0", "map lattice", "units"]


def test_code_scatter_one_trace_per_class():
    codes, labels = RNG.normal(size=(40, 2)), np.repeat(np.arange(4), 10)
    fig = code_scatter_figure(codes, labels, ["0", "1", "2", "3"])
    assert [len(t.x) for t in fig.data] == [10, 10, 10, 10]
    np.testing.assert_allclose(np.asarray(fig.data[1].y, dtype=float), codes[10:20, 1])
    assert fig.layout.title.text.startswith("Codes")


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def test_each_figure_exports_to_a_png_of_its_size(tmp_path):
    import kaleido  # noqa: F401  a dev dependency (requirements-dev.txt): missing, this test fails, never skips

    figures = {
        "weights": weight_images_figure(RNG.normal(size=(16, 8, 8))),
        "recon": reconstruction_grid_figure(RNG.random((4, 64)), RNG.random((4, 64)), (8, 8)),
        "umatrix": u_matrix_figure(RNG.random((5, 5))),
        "hits": hit_map_figure(RNG.integers(0, 4, (4, 4, 3)), ["a", "b", "c"]),
    }
    for name, fig in figures.items():
        fig.write_image(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert png_size(tmp_path / f"{name}.png") == (fig.layout.width or 700, fig.layout.height or 500), name
