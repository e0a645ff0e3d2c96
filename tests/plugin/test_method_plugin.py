"""A third-party method: the example of docs/plugins.md, loaded from the page, registered like an installed
plugin, trained for one step through ``zoo_distill.run``, its options checked before any image is read."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

import zoo_distill
from zoo_distill.errors import ConfigError
from zoo_distill.plugin import manager as plugins

ROOT = Path(__file__).resolve().parents[2]


def example_source() -> str:
    """The python block of the section 'A minimal method plugin' in docs/plugins.md."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text.split("## A minimal method plugin", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.fixture
def smooth_registry(tmp_path, monkeypatch):
    path = tmp_path / "zd_smooth.py"
    path.write_text(example_source())
    spec = importlib.util.spec_from_file_location("zd_smooth", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = plugins.load_plugins(extra=[("zd-smooth", module)])
    monkeypatch.setattr(plugins, "_cached", registry)
    return registry


def test_the_documented_example_is_short_and_registers_a_method(smooth_registry):
    assert len(example_source().strip().splitlines()) < 40
    method = smooth_registry.method("smooth")
    assert smooth_registry.owner_of("register_methods", "smooth").name == "zd-smooth"
    assert method.option_names() == ("smoothing",) and not method.uses_teachers
    assert smooth_registry.warnings == []


def test_a_plugin_method_trains_through_run_and_records_its_options(smooth_registry, target_dir, tmp_path):
    outcome = zoo_distill.run(
        target_dir,
        method="smooth",
        smoothing=0.2,
        out=tmp_path / "run",
        epochs=1,
        steps_per_epoch=1,
        batch_size=4,
        student="test_resnet",
        student_init="scratch",
        input_size=32,
        workers=0,
    )
    assert outcome.metrics["method"] == "smooth" and len(outcome.metrics["history"]) == 1
    assert outcome.metrics["history"][0]["loss_ce"] > 0 and "test_accuracy" in outcome.metrics
    spec = json.loads((tmp_path / "run" / "run.json").read_text())["spec"]
    assert (spec["method"], spec["method_options"]) == ("smooth", {"smoothing": 0.2})
    assert (tmp_path / "run" / "student.safetensors").exists()


def test_a_plugin_method_s_bad_option_fails_before_any_image_is_read(smooth_registry, tmp_path):
    with pytest.raises(ConfigError, match="--method-opt smoothing must be a finite number >= 0 and < 1, got 1.5"):
        zoo_distill.run(tmp_path / "no-such-target", method="smooth", smoothing=1.5, out=tmp_path / "run")
    with pytest.raises(ConfigError, match="method 'smooth' has no option --method-opt lam; known: smoothing"):
        zoo_distill.run(tmp_path / "no-such-target", method="smooth", method_options={"lam": 1.0})
