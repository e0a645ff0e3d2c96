import math

from PIL import Image

from zoo_distill.zoobench.plots import plot_metric_scatter, plot_target_bars


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


def test_metric_scatter_skips_non_finite_scores(tmp_path):
    scores = {
        ("a", 5, 0): {"knn": {"x": 0.9, "y": 0.5, "z": math.nan}, "leep": {"x": -1.0, "y": -2.0}},
        ("a", 20, 0): {"knn": {"x": 1.0, "y": 0.0}},
    }
    single = {("a", 5, 0): {"x": 0.8, "y": 0.6, "z": 0.7}, ("a", 20, 0): {"x": 0.9, "y": 0.1}}
    path = plot_metric_scatter(scores, single, 5, tmp_path / "scatter.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300
