"""RunSpec: a method name and its options as plain data, made into the method's options dataclass
(and so validated) through the registry, before any image is read."""

from dataclasses import asdict

import pytest

from zoo_distill.errors import ConfigError, UnknownNameError
from zoo_distill.plugin.manager import get_registry
from zoo_distill.runs.spec import RunSpec, resolve_method, spec_from_settings
from zoo_distill.training.methods.options import DistillOptions, FixMatchOptions


def test_flat_settings_go_to_the_budget_the_spec_and_the_method_s_options():
    spec = spec_from_settings(
        "distill",
        epochs=3,
        aggregator="nearest",
        lam=2.5,
        views=4,
        temperature=0.5,
        method_options={"unlabeled_loss": "none"},
    )
    assert spec.train.epochs == 3 and spec.aggregator == "nearest"
    assert spec.aggregator_options == {"temperature": 0.5}
    assert spec.method_options == asdict(DistillOptions(lam=2.5, views=4, unlabeled_loss="none"))
    assert spec_from_settings("fixmatch", threshold=0.8).method_options == asdict(FixMatchOptions(threshold=0.8))
    assert spec_from_settings("finetune").method_options == {}


def test_unknown_settings_methods_and_options_fail_naming_them():
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) lam for method 'finetune'"):
        spec_from_settings("finetune", lam=1.0)
    with pytest.raises(UnknownNameError, match="unknown method 'mixmatch'; known: distill, finetune, fixmatch"):
        spec_from_settings("mixmatch")
    with pytest.raises(ConfigError, match="method 'fixmatch' has no option --method-opt lam; known: threshold"):
        resolve_method(RunSpec(method="fixmatch", method_options={"lam": 1.0}), get_registry())
    with pytest.raises(ConfigError, match="--method-opt threshold must be a finite number >= 0 and <= 1"):
        spec_from_settings("fixmatch", method_options={"threshold": 2})
    with pytest.raises(ConfigError, match="--method must be a non-empty name"):
        RunSpec(method="")


def test_the_spec_is_plain_data_and_its_options_are_remade_from_it():
    spec = spec_from_settings("distill", views=2)
    method, options = resolve_method(spec, get_registry())
    assert method.name == "distill" and method.uses_teachers and options == DistillOptions(views=2)
    assert all(isinstance(v, (str, int, float)) for v in spec.method_options.values())
