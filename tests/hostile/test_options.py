"""Every float setting rejects NaN and infinities through the Python API too, with a message that
names it: found by introspection, so a setting added later is covered without a new test."""

from __future__ import annotations

import dataclasses
import math

import pytest

from zoo_distill.errors import ConfigError
from zoo_distill.training.config import TrainConfig
from zoo_distill.training.methods.options import DistillOptions, FixMatchOptions

from .harness import S_LOST, documented

CONFIGS = (TrainConfig, DistillOptions, FixMatchOptions)
FLOAT_FIELDS = [(cls, f.name) for cls in CONFIGS for f in dataclasses.fields(cls) if f.type in (float, "float")]
NON_FINITE = (math.nan, math.inf, -math.inf)
METHOD_OPTIONS = (DistillOptions, FixMatchOptions)  # their messages name "--method-opt KEY"


def test_the_introspection_finds_the_float_settings():
    names = {name for _, name in FLOAT_FIELDS}
    assert {"lr", "weight_decay", "lam", "threshold", "lambda_u"} <= names


@documented(
    S_LOST,
    "Python API: NaN, inf or -inf for every float field of TrainConfig, DistillOptions and "
    "FixMatchOptions (found by introspection)",
    "ConfigError when the config is made, naming the option (`--lr`, `--method-opt lam`, ...) and the value.",
)
@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("cls, name", FLOAT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in FLOAT_FIELDS])
def test_every_float_setting_rejects_non_finite_values(cls, name, value):
    with pytest.raises(ConfigError) as caught:
        cls(**{name: value})
    message = str(caught.value)
    assert repr(value) in message and "finite" in message
    option = message.split(" must ")[0]
    if cls in METHOD_OPTIONS:
        assert option == f"--method-opt {name}", f"{message!r} does not name --method-opt {name}"
    else:
        assert option.lstrip("-").replace("-", "_") == name, f"{message!r} does not name {name}"  # "--lr" -> "lr"


@documented(
    S_LOST,
    "Python API: aggregator options (`temperature` NaN/inf/0, `top_k` -1 or 1.5) via "
    "`Aggregator.validate_options`, as `run` calls it before ranking",
    "ConfigError naming `--temperature` / `--top-k`; `weighted()` itself raises ValueError.",
)
@pytest.mark.parametrize(
    "options, option",
    [
        ({"temperature": math.nan}, "--temperature"),
        ({"temperature": math.inf}, "--temperature"),
        ({"temperature": 0}, "--temperature"),
        ({"top_k": -1}, "--top-k"),
        ({"top_k": 1.5}, "--top-k"),
        ({"top_k": "2"}, "--top-k"),
    ],
)
def test_weighted_options_are_checked_before_ranking(options, option):
    from zoo_distill.plugin.manager import get_registry
    from zoo_distill.ranking.aggregators import weighted

    with pytest.raises(ConfigError, match=f"^{option} must be"):
        get_registry().aggregator("weighted").validate_options(options)
    with pytest.raises(ValueError, match=option):
        weighted({"a": 1.0, "b": 2.0}, **options)


def test_top_k_keeps_the_best_sources():
    """A valid top_k still works after the checks (1 keeps the best source only)."""
    from zoo_distill.ranking.aggregators import weighted

    assert weighted({"a": 1.0, "b": 2.0, "c": 0.5}, top_k=1) == pytest.approx({"a": 0.0, "b": 1.0, "c": 0.0})
