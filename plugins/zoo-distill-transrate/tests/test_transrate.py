"""TransRate against hand-worked cases, its invariances, and the plugin registration."""

from __future__ import annotations

import importlib.metadata
import math

import numpy as np
import pytest
import zd_transrate
from zd_transrate import coding_rate, transrate
from zd_transrate import plugin as transrate_plugin

from zoo_distill.ranking.metrics import MetricError

# --- hand-worked cases --------------------------------------------------------------------------


def test_two_axes_by_hand():
    # Class 0 lies on the x axis, class 1 on the y axis; already centered, rows of unit norm.
    # n = 4, d = 2, eps = 1: Z^T Z = diag(2, 2), a = d / (n eps^2) = 1/2
    #   R(Z)   = 1/2 log det(I + diag(1, 1))          = 1/2 log 4 = log 2
    #   R(Z_c) = 1/2 log det(I + (2/2) diag(2, 0))    = 1/2 log 3   for each class (n_c = 2, a_c = 1)
    #   TransRate = log 2 - (1/2 + 1/2) * 1/2 log 3
    z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    y = np.array([0, 0, 1, 1])
    expected = math.log(2) - 0.5 * math.log(3)
    assert transrate(z, y, eps=1.0, normalize=False) == pytest.approx(expected, rel=1e-12)
    assert transrate(z, y, eps=1.0) == pytest.approx(expected, rel=1e-12)  # rows already have unit norm


def test_two_axes_by_hand_with_the_default_eps():
    # Default eps^2 = 1e-4 * d = 2e-4: a = d / (n eps^2) = 2 / (4 * 2e-4) = 2500, a_c = 5000
    #   R(Z)   = 1/2 (log(1 + 2500 * 2) * 2) = log 5001
    #   R(Z_c) = 1/2 log(1 + 5000 * 2)       = 1/2 log 10001
    z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    y = np.array([0, 0, 1, 1])
    assert transrate(z, y) == pytest.approx(math.log(5001) - 0.5 * math.log(10001), rel=1e-12)


def test_unequal_classes_are_weighted_by_their_size():
    # Class 0: (2, 0); class 1: (-1, 2), (-1, -2). Mean (0, 0). n = 3, d = 2, eps = 1.
    #   Z^T Z = diag(6, 8), a = 2/3:   R(Z)   = 1/2 log((1 + 4)(1 + 16/3)) = 1/2 log(95/3)
    #   class 0 (n_c = 1, a_c = 2):    diag(4, 0) -> R = 1/2 log 9
    #   class 1 (n_c = 2, a_c = 1):    diag(2, 8) -> R = 1/2 log 27
    #   R(Z | Y) = 1/3 * 1/2 log 9 + 2/3 * 1/2 log 27 = 4/3 log 3  (a uniform 1/K average would give 5/4 log 3)
    z = np.array([[2.0, 0.0], [-1.0, 2.0], [-1.0, -2.0]])
    y = np.array([0, 1, 1])
    expected = 0.5 * math.log(95 / 3) - 4 / 3 * math.log(3)
    assert transrate(z, y, eps=1.0, normalize=False) == pytest.approx(expected, rel=1e-12)


def test_classes_with_the_same_second_moments_score_zero():
    # Both classes spread along the same diagonal: the labels add nothing to the code length.
    z = np.array([[1.0, 1.0], [3.0, 3.0], [-1.0, -1.0], [-3.0, -3.0]])
    y = np.array([0, 0, 1, 1])
    assert transrate(z, y, eps=1.0, normalize=False) == pytest.approx(0.0, abs=1e-12)
    assert transrate(z, y) == pytest.approx(0.0, abs=1e-9)


def test_coding_rate_by_hand():
    # Z = [[3, 0], [0, 4]], n = d = 2, eps = 1: a = 1, det(I + diag(9, 16)) = 170
    assert coding_rate(np.array([[3.0, 0.0], [0.0, 4.0]]), eps_sq=1.0) == pytest.approx(0.5 * math.log(170))


# --- against direct formulas --------------------------------------------------------------------


def _direct(features, labels, eps_sq, normalize):
    """The definition computed literally in the d x d space with slogdet (slow, for checking)."""
    z = features - features.mean(axis=0)
    if normalize:
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n, d = z.shape

    def rate(block):
        return 0.5 * np.linalg.slogdet(np.eye(d) + d / (block.shape[0] * eps_sq) * block.T @ block)[1]

    return rate(z) - sum((labels == c).sum() / n * rate(z[labels == c]) for c in np.unique(labels))


@pytest.mark.parametrize("n,d", [(60, 8), (12, 40)])  # N > D and D > N (the Gram-matrix shortcut)
@pytest.mark.parametrize("normalize", [True, False])
def test_matches_the_definition(n, d, normalize):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(n, d)) + 0.3
    labels = np.arange(n) % 3
    eps_sq = 1e-4 * d
    assert transrate(features, labels, normalize=normalize) == pytest.approx(
        _direct(features, labels, eps_sq, normalize), rel=1e-8
    )
    assert transrate(features, labels, eps=0.5, normalize=normalize) == pytest.approx(
        _direct(features, labels, 0.25, normalize), rel=1e-8
    )


def test_matches_the_reference_listing_for_balanced_classes():
    # The paper's short listing: R = 1/2 logdet(I + Z^T Z / (n * 1e-4)), classes averaged uniformly.
    rng = np.random.default_rng(1)
    features = rng.normal(size=(30, 6))
    labels = np.repeat(np.arange(3), 10)

    def listing_rate(z):
        n, d = z.shape
        return 0.5 * np.linalg.slogdet(np.eye(d) + 1 / (n * 1e-4) * z.T @ z)[1]

    z = features - features.mean(axis=0)
    listing = listing_rate(z) - sum(listing_rate(z[labels == c]) for c in range(3)) / 3
    assert transrate(features, labels, normalize=False) == pytest.approx(listing, rel=1e-10)


# --- invariances and sanity ---------------------------------------------------------------------


def _clusters(rng, classes=4, per_class=8, dim=16, spread=0.3):
    centers = rng.normal(size=(classes, dim)) * 3
    labels = np.repeat(np.arange(classes), per_class)
    return centers[labels] + spread * rng.normal(size=(labels.size, dim)), labels


def test_invariant_to_label_ids_and_sample_order():
    rng = np.random.default_rng(2)
    features, labels = _clusters(rng)
    base = transrate(features, labels)
    renamed = np.array([7, 3, 11, 5])[labels]
    assert transrate(features, renamed) == pytest.approx(base, rel=1e-10)
    order = rng.permutation(labels.size)
    assert transrate(features[order], labels[order]) == pytest.approx(base, rel=1e-10)


def test_invariant_to_translation_and_to_scale_when_normalized():
    rng = np.random.default_rng(3)
    features, labels = _clusters(rng)
    base = transrate(features, labels)
    assert transrate(features + 100.0, labels) == pytest.approx(base, rel=1e-8)
    assert transrate(features * 1e-3, labels) == pytest.approx(base, rel=1e-10)
    assert transrate(features * 1e150, labels) == pytest.approx(base, rel=1e-10)  # no overflow


def test_separable_scores_above_shuffled_labels():
    rng = np.random.default_rng(4)
    features, labels = _clusters(rng)
    separable = transrate(features, labels)
    shuffled = np.mean([transrate(features, rng.permutation(labels)) for _ in range(5)])
    assert separable > shuffled
    assert transrate(features, labels, normalize=False) > transrate(features, rng.permutation(labels), normalize=False)


@pytest.mark.parametrize("per_class,dim", [(2, 2048), (1, 512), (5, 2048)])
def test_finite_and_non_negative_with_few_labels_and_d_above_n(per_class, dim):
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(5), per_class)
    features = rng.normal(size=(labels.size, dim)).astype(np.float32)
    score = transrate(features, labels)
    assert np.isfinite(score) and score >= 0.0


def test_constant_features_carry_no_information():
    assert transrate(np.ones((6, 3)), np.array([0, 0, 1, 1, 2, 2])) == 0.0


def test_bad_inputs_are_metric_errors():
    with pytest.raises(MetricError, match="at least 2 target classes"):
        transrate(np.eye(3), np.zeros(3))
    with pytest.raises(MetricError, match="NaN"):
        transrate(np.array([[np.nan, 0.0], [1.0, 0.0]]), np.array([0, 1]))
    with pytest.raises(MetricError, match="eps"):
        transrate(np.eye(3), np.array([0, 1, 1]), eps=0.0)
    with pytest.raises(MetricError, match="too large"):
        transrate(np.array([[1e200, 0.0], [-1e200, 1.0]]), np.array([0, 1]), normalize=False)


# --- the plugin ---------------------------------------------------------------------------------


def test_the_hook_registers_the_metric():
    registered = []
    transrate_plugin.register_metrics(register=registered.append)
    assert [m.name for m in registered] == ["transrate"]
    metric = registered[0]
    assert metric.needs == ("features",) and "ICML 2022" in metric.reference
    features, labels = _clusters(np.random.default_rng(6))
    assert metric.score(features, labels, None) == pytest.approx(transrate(features, labels))


def test_loaded_through_the_entry_point_when_installed():
    """When installed, the ``zoo_distill`` entry point resolves to the plugin module (what zoo-distill loads)."""
    try:
        version = importlib.metadata.version("zoo-distill-transrate")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("zoo-distill-transrate is not installed (pip install -e plugins/zoo-distill-transrate)")
    points = [ep for ep in importlib.metadata.entry_points(group="zoo_distill") if ep.name == "transrate"]
    assert len(points) == 1 and points[0].dist.name == "zoo-distill-transrate"
    assert points[0].load() is transrate_plugin
    assert version == zd_transrate.__version__ == "0.1.0"
