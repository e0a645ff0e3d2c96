"""training/init_config.py: a local --student-init's config.json is checked when the run starts."""

from __future__ import annotations

import json
import os

import pytest

from zoo_distill.errors import ConfigError
from zoo_distill.training.init_config import check_student_init, read_init_config

CFG = {
    "input_size": [3, 32, 32],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "crop_mode": "center",
}


@pytest.fixture
def init(tmp_path):
    folder = tmp_path / "init"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")  # only its presence matters here
    (folder / "config.json").write_text(
        json.dumps({"architecture": "test_resnet", "num_classes": 2, "pretrained_cfg": CFG})
    )
    return folder


def _edit(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def test_a_valid_config_is_read(init):
    weights, config = read_init_config(init)
    assert weights == init / "model.safetensors" and config["pretrained_cfg"] == CFG


@pytest.mark.parametrize(
    "key, value",
    [
        ("std", [0, 0, 0]),
        ("std", [0.5, -1, 0.5]),
        ("input_size", "foo"),
        ("input_size", [3, 0, 0]),
        ("mean", [0.5, "x", 0.5]),
        ("mean", [float("nan")] * 3),
        ("interpolation", "sinc"),
        ("crop_pct", 0),
        ("crop_mode", "zoom"),
    ],
)
def test_every_preprocessing_field_is_checked_naming_the_file_and_field(init, key, value):
    _edit(init, lambda c: c["pretrained_cfg"].__setitem__(key, value))
    with pytest.raises(ConfigError, match=f"--student-init: .*config.json: field 'pretrained_cfg.{key}'"):
        check_student_init(str(init))


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda c: c.__setitem__("pretrained_cfg", [1]), "pretrained_cfg"),
        (lambda c: c.__setitem__("num_classes", "two"), "num_classes"),
        (lambda c: c.__setitem__("architecture", 3), "architecture"),
    ],
)
def test_the_other_fields_are_checked(init, change, field):
    _edit(init, change)
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        check_student_init(str(init))


def test_not_json_not_an_object_a_fifo_and_missing_files(init, tmp_path):
    config = init / "config.json"
    config.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        check_student_init(str(init))
    config.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        check_student_init(str(init))
    config.unlink()
    os.mkfifo(config)
    with pytest.raises(ConfigError, match="FIFO"):
        check_student_init(str(init))  # at once: never waits for a writer
    config.unlink()
    check_student_init(str(init))  # no config.json: the architecture's defaults
    with pytest.raises(ConfigError, match="is not 'pretrained', 'scratch'"):
        check_student_init(str(tmp_path / "missing"))
    (init / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        check_student_init(str(init))
    check_student_init("scratch")
    check_student_init("pretrained")
