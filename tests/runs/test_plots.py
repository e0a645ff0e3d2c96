import sys

import pytest
from PIL import Image

from zoo_distill.errors import ZooDistillError
from zoo_distill.runs.plots import plot_bars, plot_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    with Image.open(path) as img:
        assert img.size[0] > 300 and img.size[1] > 200
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_curves_with_components_and_accuracy(tmp_path):
    history = [
        {
            "epoch": e,
            "loss": 2.0 / e,
            "loss_kd": 1.5 / e,
            "loss_ce": 0.5 / e,
            "test_accuracy": 0.3 + 0.1 * e,
            "seconds": 1.0,
        }
        for e in range(1, 6)
    ]
    path = plot_curves(history, tmp_path / "curves.png", "distill[softmax] on toy")
    assert path == tmp_path / "curves.png"
    _assert_png(path)


@pytest.mark.parametrize(
    "history",
    [
        [{"epoch": 1, "loss": 0.7}],
        [{"epoch": 1, "loss": 0.7, "test_accuracy": 0.5}],
        [{"epoch": 1, "loss": 0.7}, {"epoch": 2, "loss": 0.5, "test_accuracy": 0.6}],
    ],
)
def test_single_epoch_and_missing_accuracy(tmp_path, history):
    _assert_png(plot_curves(history, tmp_path / "c.png", "one epoch"))


def test_existing_plot_is_replaced(tmp_path):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    plot_curves([{"epoch": 1, "loss": 1.0}], path, "x")
    _assert_png(path)


def test_bad_histories_are_refused(tmp_path):
    with pytest.raises(ZooDistillError, match="history is empty"):
        plot_curves([], tmp_path / "c.png", "x")
    with pytest.raises(ZooDistillError, match="row 1 lacks 'epoch' or 'loss'"):
        plot_curves([{"epoch": 1, "loss": 1.0}, {"epoch": 2}], tmp_path / "c.png", "x")
    assert not (tmp_path / "c.png").exists()


def test_bars(tmp_path):
    path = plot_bars(
        {"finetune": 0.61, "fixmatch": 0.66, "distill[softmax]": 0.72},
        tmp_path / "bars.png",
        "methods on toy",
        "test accuracy",
    )
    _assert_png(path)
    with pytest.raises(ZooDistillError, match="no values"):
        plot_bars({}, tmp_path / "none.png", "x", "y")


def test_plotting_does_not_touch_pyplot(tmp_path):
    """The figure lives on its own Agg canvas: no pyplot state, no backend switch for the caller."""
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot_curves([{"epoch": 1, "loss": 1.0}], tmp_path / "c.png", "x")
    if had_pyplot:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []
    else:
        assert "matplotlib.pyplot" not in sys.modules
