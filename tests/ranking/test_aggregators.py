import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo_distill.plugin.manager import get_registry
from zoo_distill.ranking.aggregators import active_weights, nearest, uniform, weighted

SCORES = {"a": 1.0, "b": 3.0, "c": 2.0}


def test_nearest_is_one_hot_on_the_best():
    assert nearest(SCORES) == {"a": 0.0, "b": 1.0, "c": 0.0}


def test_nearest_ties_go_to_the_first_in_zoo_order():
    assert nearest({"x": 2.0, "y": 2.0}) == {"x": 1.0, "y": 0.0}


def test_uniform_spreads_equally():
    assert uniform(SCORES) == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_weighted_orders_weights_like_scores():
    w = weighted(SCORES, temperature=0.5)
    assert w["b"] > w["c"] > w["a"] > 0
    assert sum(w.values()) == pytest.approx(1.0)


def test_weighted_matches_softmax_of_zscores():
    values = np.array([1.0, 3.0, 2.0])
    z = (values - values.mean()) / values.std()
    expected = np.exp(z / 0.7) / np.exp(z / 0.7).sum()
    assert list(weighted(SCORES, temperature=0.7).values()) == pytest.approx(expected.tolist())


def test_weighted_limits():
    cold = weighted(SCORES, temperature=1e-3)
    hot = weighted(SCORES, temperature=1e3)
    assert cold["b"] == pytest.approx(1.0)
    assert hot == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=1e-3)


def test_weighted_top_k_zeroes_the_rest():
    w = weighted(SCORES, temperature=1.0, top_k=2)
    assert w["a"] == 0.0 and w["b"] > w["c"] > 0


def test_weighted_is_invariant_to_score_scale_and_shift():
    shifted = {k: 10 * v - 7 for k, v in SCORES.items()}
    assert weighted(shifted) == pytest.approx(weighted(SCORES))


def test_constant_scores_give_uniform_weights():
    assert weighted({"a": 5.0, "b": 5.0}) == pytest.approx({"a": 0.5, "b": 0.5})


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        weighted({}, temperature=1.0)
    with pytest.raises(ValueError):
        weighted(SCORES, temperature=0)
    with pytest.raises(ValueError):
        nearest({"a": float("nan")})


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12), st.floats(0.05, 20), st.integers(0, 12))
def test_weights_are_a_distribution(values, temperature, top_k):
    scores = {f"s{i}": v for i, v in enumerate(values)}
    for w in (nearest(scores), uniform(scores), weighted(scores, temperature=temperature, top_k=top_k)):
        arr = np.array(list(w.values()))
        assert set(w) == set(scores)
        assert np.all(arr >= 0) and arr.sum() == pytest.approx(1.0)


def test_registered_aggregator_rejects_unknown_options():
    agg = get_registry().aggregator("weighted")
    assert agg.weights(SCORES, temperature=0.5) == pytest.approx(weighted(SCORES, temperature=0.5))
    with pytest.raises(ValueError, match="no option"):
        agg.weights(SCORES, temprature=0.5)


def test_active_weights_drop_tiny_sources_and_renormalise():
    assert active_weights({"a": 0.7, "b": 0.2995, "c": 0.0005}, 1e-3) == pytest.approx(
        {"a": 0.7 / 0.9995, "b": 0.2995 / 0.9995}
    )
    with pytest.raises(ValueError, match="every source weight is zero"):
        active_weights({"a": 0.0, "b": 0.0}, 1e-3)
