"""The Python API as a user calls it: ``zoo_distill.run(target, **settings)``."""

import json

import pytest

import zoo_distill
from zoo_distill.errors import ZooDistillError

pytestmark = pytest.mark.slow  # trains a student

SETTINGS = dict(
    student="resnet10t",
    student_init="scratch",
    input_size=32,
    epochs=2,
    steps_per_epoch=2,
    batch_size=8,
    mu=1,
    seed=5,
    workers=0,
)


def test_run_returns_its_metrics_and_writes_its_run_folder(digits_task, tmp_path):
    out = tmp_path / "api-run"
    result = zoo_distill.run(digits_task.target, method="finetune", out=out, cache_dir=tmp_path / "cache", **SETTINGS)
    m = result.metrics
    assert result.run_dir == out and m["method"] == "finetune" and m["alpha"] == {}
    assert [row["epoch"] for row in m["history"]] == [1, 2] and 0 <= m["test_accuracy"] <= 1
    assert m["student"]["arch"] == "resnet10t" and m["student"]["input_size"] == [3, 32, 32]
    assert m["data"]["classes"] == ["0", "1", "2", "3"]
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] == m["test_accuracy"]
    spec = json.loads((out / "run.json").read_text())["spec"]
    assert spec["train"]["epochs"] == 2 and spec["train"]["seed"] == 5 and spec["student_init"] == "scratch"
    assert (out / "student.safetensors").is_file() and (out / "config.json").is_file()


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"epochz": 3}, "unknown setting(s) epochz"),
        ({"epochs": 0}, "--epochs"),
        ({"lam": -1}, "--method-opt lam"),
    ],
)
def test_a_bad_setting_is_a_clear_error_before_anything_is_written(digits_task, tmp_path, bad, named):
    out = tmp_path / "never"
    with pytest.raises(ZooDistillError) as caught:
        zoo_distill.run(digits_task.target, digits_task.zoo, out=out, **{**SETTINGS, **bad})
    assert named in str(caught.value) and "\n" not in str(caught.value)  # one line
    assert not out.exists()
