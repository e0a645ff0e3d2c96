"""plugin/returns.py: what a metric or an aggregator returns is checked where it comes back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo_distill.plugin import Aggregator, Metric
from zoo_distill.plugin.returns import PluginOutputError, check_score, check_weights

SOURCES = ["a", "b"]


@pytest.mark.parametrize(
    "value, expected",
    [(0.5, 0.5), (2, 2.0), (np.float32(0.25), 0.25), (np.int64(3), 3.0), (np.array(0.75), 0.75), (-1e300, -1e300)],
)
def test_real_scores_are_kept_as_floats(value, expected):
    out = check_score(value)
    assert type(out) is float and out == expected


@pytest.mark.parametrize(
    "value, says",
    [
        ("0.5", "not a real number"),
        (True, "not a real number"),
        (np.bool_(True), "not a real number"),
        (None, "not a real number"),
        ([0.5], "not a real number"),
        (float("nan"), "non-finite"),
        (np.float32("nan"), "non-finite"),
        (math.inf, "non-finite"),
        (-np.inf, "non-finite"),
        (1 + 2j, "not a real number"),
    ],
)
def test_other_scores_are_refused(value, says):
    with pytest.raises(PluginOutputError, match=says):
        check_score(value)


def test_weights_over_the_sources_are_kept_in_their_order():
    assert list(check_weights({"b": 0.25, "a": 0.75}, SOURCES).items()) == [("a", 0.75), ("b", 0.25)]
    assert check_weights({"a": 1.0}, SOURCES) == {"a": 1.0, "b": 0.0}  # a source left out weighs 0
    assert check_weights({"a": np.float32(0.5), "b": np.float64(0.5)}, SOURCES) == {"a": 0.5, "b": 0.5}


def test_a_small_drift_is_renormalised():
    out = check_weights({"a": 0.5, "b": 0.50005}, SOURCES)
    assert math.isclose(sum(out.values()), 1.0, rel_tol=0, abs_tol=1e-12)


@pytest.mark.parametrize(
    "weights, says",
    [
        ([0.5, 0.5], "not a mapping"),
        (None, "not a mapping"),
        ("all", "not a mapping"),
        ({"a": 0.5, "b": 0.5, "ghost": 0.0}, "'ghost', which is not one of the ranked sources"),
        ({"c": 1.0}, "'c', which is not one of the ranked sources"),
        ({"a": 1.5, "b": -0.5}, "'b' is -0.5"),
        ({"a": float("nan"), "b": 1.0}, "'a' is nan"),
        ({"a": math.inf, "b": 0.0}, "'a' is inf"),
        ({"a": "0.5", "b": 0.5}, "'a' is '0.5'"),
        ({"a": True, "b": 0.0}, "'a' is True"),
        ({"a": None, "b": 1.0}, "'a' is None"),
        ({"a": 1.0, "b": 1.0}, "sum to 2, not 1"),
        ({"a": 0.0, "b": 0.0}, "sum to 0, not 1"),
    ],
)
def test_unusable_weights_are_refused_naming_the_source(weights, says):
    with pytest.raises(PluginOutputError, match=says.replace("(", r"\(")):
        check_weights(weights, SOURCES)


def test_the_dataclasses_check_what_fn_returns():
    metric = Metric("m", lambda features, labels, logits: "0.5")
    with pytest.raises(PluginOutputError):
        metric.score(np.zeros((2, 2)), np.array([0, 1]))
    aggregator = Aggregator("x", lambda scores: {"elsewhere": 1.0})
    with pytest.raises(PluginOutputError, match="elsewhere"):
        aggregator.weights({"a": 1.0, "b": 0.0})
    assert Aggregator("y", lambda scores: {"a": 1}).weights({"a": 1.0, "b": 0.0}) == {"a": 1.0, "b": 0.0}
