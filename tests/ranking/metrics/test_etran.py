"""ETran per source: hand-worked energy, the reference's 0.15 / 0.85 combination, ordering and invariances."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics import MetricError
from zoo_distill.ranking.metrics._lda import log_posteriors, pooled_shrinkage, span_coordinates
from zoo_distill.ranking.metrics.etran import ENERGY_WEIGHT, energy_score, etran, etran_terms


def few_labels(
    seed: int, signal: float, n_classes: int = 10, per_class: int = 5, dim: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    return rng.normal(size=(y.size, dim)) + signal * rng.normal(size=(n_classes, dim))[y], y


def test_energy_hand_worked():
    """rms of [[1, 0], [0, 1], [2, 2]] is sqrt(10 / 6); energy = mean_n log(mean_j exp(f_nj / rms))."""
    f = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    s = np.sqrt(6.0 / 10.0)
    expected = (2 * np.log((np.exp(s) + 1.0) / 2.0) + np.log(np.exp(2 * s))) / 3
    assert energy_score(f) == pytest.approx(expected, rel=1e-12)
    assert energy_score(np.zeros((4, 3))) == 0.0  # flat
    assert energy_score(np.full((4, 3), 5.0)) == pytest.approx(1.0)  # unit-rms constant features: log e


def test_energy_rewards_a_few_dominant_features_and_ignores_scale_and_order():
    rng = np.random.default_rng(0)
    spread = np.abs(rng.normal(size=(20, 64)))
    peaked = spread.copy()
    peaked[np.arange(20), rng.integers(0, 64, 20)] += 12.0  # one strong activation per image
    assert energy_score(peaked) > energy_score(spread) + 1.0
    for other in (1e200 * peaked, 1e-200 * peaked, peaked[:, ::-1]):
        assert energy_score(other) == pytest.approx(energy_score(peaked), rel=1e-12)


def test_combination_is_the_reference_weighting_of_two_unit_interval_terms():
    f, y = few_labels(1, signal=0.5, n_classes=4, per_class=8, dim=40)
    terms = etran_terms(f, y)
    z, dim = span_coordinates(f)
    log_post = log_posteriors(z, y, pooled_shrinkage(z, y, dim), dim)
    assert terms.classification == pytest.approx(np.mean(np.exp(log_post[np.arange(32), y])), rel=1e-12)
    squashed = 1.0 / (1.0 + np.exp(-terms.energy))
    assert etran(f, y) == pytest.approx(
        (1 - ENERGY_WEIGHT) * terms.classification + ENERGY_WEIGHT * squashed, rel=1e-12
    )
    assert ENERGY_WEIGHT == 0.15 and 0.0 <= etran(f, y) <= 1.0


def test_separable_beats_shuffled_with_few_labels_and_wide_features():
    f, y = few_labels(2, signal=1.0)
    good, bad = etran_terms(f, y), etran_terms(f, np.random.default_rng(3).permutation(y))
    assert good.classification > 0.99 and bad.classification < 0.1
    assert good.energy == bad.energy  # label-free
    assert etran(f, y) > etran(f, np.random.default_rng(3).permutation(y)) + 0.8


def test_more_class_structure_scores_higher():
    """Until the classification term saturates at 1 (then only the label-free energy moves)."""
    scores = [etran(*few_labels(4, signal=s, dim=512)) for s in (0.0, 0.15, 0.3, 0.45)]
    assert scores == sorted(scores) and scores[-1] > scores[0] + 0.5


def test_invariant_to_scale_and_feature_order():
    f, y = few_labels(5, signal=0.7, n_classes=4, per_class=6, dim=12)
    value = etran(f, y)
    for other in (1e150 * f, 1e-150 * f, 3.0 * f, f[:, ::-1]):
        assert etran(other, y) == pytest.approx(value, rel=1e-9)


def test_constant_features_keep_only_the_held_out_priors():
    y = np.arange(20) % 3  # 7, 7, 6 images
    terms = etran_terms(np.full((20, 8), 3.0), y)
    assert terms.classification == pytest.approx((14 * 6 / 19 + 6 * 5 / 19) / 20, rel=1e-12)
    assert terms.energy == pytest.approx(1.0)


def test_single_image_classes_only_is_a_metric_error():
    with pytest.raises(MetricError, match="single image"):
        etran(np.random.default_rng(6).normal(size=(3, 4)), np.arange(3))


def test_two_classes_and_a_singleton_are_finite():
    rng = np.random.default_rng(7)
    assert np.isfinite(etran(rng.normal(size=(10, 300)), np.arange(10) % 2))
    assert np.isfinite(etran(rng.normal(size=(7, 300)), np.array([0, 0, 0, 1, 1, 1, 2])))


def test_runs_at_n100_d2048():
    f, y = few_labels(8, signal=0.3, per_class=10)
    assert 0.0 <= etran(np.maximum(f, 0.0), y) <= 1.0  # post-ReLU-like features
