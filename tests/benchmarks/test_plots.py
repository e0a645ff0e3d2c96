import math

import numpy as np
import pytest
from PIL import Image

from benchmarks.harness import plots
from benchmarks.harness.plots import plot_metric_scatter, plot_target_bars, scatter_points

SCORES = {
    ("a", 5, 0): {"knn": {"x": 0.9, "y": 0.5, "z": math.nan}, "leep": {"x": -1.0, "y": -2.0, "z": None}},
    ("a", 5, 1): {"knn": {"x": 0.2, "y": math.inf}},  # one finite score left: no spread, nothing drawn
    ("a", 20, 0): {"knn": {"x": 1.0, "y": 0.0}},
}
SINGLE = {
    ("a", 5, 0): {"x": 0.8, "y": 0.6, "z": 0.7},
    ("a", 5, 1): {"x": 0.5, "y": 0.4},
    ("a", 20, 0): {"x": 0.9, "y": 0.1},
}


def test_target_bars_write_a_png_even_with_missing_cells(tmp_path):
    table = {
        "a": {"finetune": (0.71, 0.02, 3), "weighted": (0.83, 0.01, 3)},
        "b": {"finetune": (0.95, 0.0, 1)},
    }  # b has no DistillWeighted run
    path = plot_target_bars(
        table, ["finetune", "weighted"], {"weighted": "DistillWeighted"}, tmp_path / "bars.png", "title"
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 200


def test_scatter_points_leave_out_non_finite_scores():
    points = scatter_points(SCORES, SINGLE, 5)
    assert list(points) == ["knn", "leep"]
    ((split, sources, z, accuracy),) = points["knn"]  # split s1 has one finite score: left out
    assert split == ("a", 5, 0) and sources == ["x", "y"]  # z's NaN score is not drawn
    assert z == pytest.approx([1.0, -1.0]) and accuracy == pytest.approx([80.0, 60.0])
    assert points["leep"][0][1] == ["x", "y"]  # a missing (None) score is not drawn either
    assert all(np.isfinite(p[2]).all() for panel in points.values() for p in panel)


def test_metric_scatter_draws_only_finite_points(tmp_path, monkeypatch):
    drawn = {}
    save = plots._save_png

    def keep(fig, path):
        drawn.update({ax.get_title(): np.vstack([c.get_offsets() for c in ax.collections]) for ax in fig.axes})
        return save(fig, path)

    monkeypatch.setattr(plots, "_save_png", keep)
    path = plot_metric_scatter(SCORES, SINGLE, 5, tmp_path / "scatter.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300
    assert set(drawn) == {"knn", "leep"}
    np.testing.assert_allclose(drawn["knn"], [[1.0, 80.0], [-1.0, 60.0]])  # 2 of the 4 points of shot 5
    assert np.isfinite(drawn["leep"]).all() and len(drawn["leep"]) == 2
