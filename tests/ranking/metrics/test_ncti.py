"""NCTI per source: hand-worked terms, neural collapse scores 3, geometry and class structure order it."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics import MetricError
from zoo_distill.ranking.metrics.ncti import ncti, ncti_terms

TRIANGLE = 3.0 * np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2], [-0.5, -np.sqrt(3) / 2]])  # a 3-class simplex ETF
LINE = 3.0 * np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])


def few_labels(
    seed: int, signal: float, n_classes: int = 10, per_class: int = 5, dim: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    return rng.normal(size=(y.size, dim)) + signal * rng.normal(size=(n_classes, dim))[y], y


def _sigmoid_gap(own: float, other: float) -> float:
    return 1.0 / (1.0 + np.exp(other - own))


def test_hand_worked_one_dimension():
    """x = 0, 2 | 3, 7: S_b = 4, S_w = 2.5, S_t = 6.5; Fisher theta = S_b / S_w; held-out posteriors by hand."""
    f = np.array([[0.0], [2.0], [3.0], [7.0]])
    y = np.array([0, 0, 1, 1])
    terms = ncti_terms(f, y)
    assert terms.collapse == pytest.approx(4.0 / 6.5, rel=1e-12)
    assert terms.etf == pytest.approx(1.0 - 1.0 / np.sqrt(1.0 + 4.0 / 2.5), rel=1e-7)  # no shrinkage in 1-D
    ncc = np.mean(
        [  # own vs other class: log prior - (x - mean)^2 / (2 S_w) with x held out
            _sigmoid_gap(np.log(1 / 3) - 4 / (16 / 3), np.log(2 / 3) - 25 / (16 / 3)),
            _sigmoid_gap(np.log(1 / 3) - 4 / (16 / 3), np.log(2 / 3) - 9 / (16 / 3)),
            _sigmoid_gap(np.log(1 / 3) - 16 / (4 / 3), np.log(2 / 3) - 4 / (4 / 3)),
            _sigmoid_gap(np.log(1 / 3) - 16 / (4 / 3), np.log(2 / 3) - 36 / (4 / 3)),
        ]
    )
    assert terms.ncc == pytest.approx(ncc, rel=1e-6)
    assert ncti(f, y) == pytest.approx(terms.collapse + terms.etf + terms.ncc, rel=1e-12)


def test_exact_neural_collapse_scores_three():
    """Every image on its class mean, the means a simplex ETF: each term is (numerically) 1."""
    y = np.repeat(np.arange(3), 4)
    terms = ncti_terms(TRIANGLE[y], y)
    assert terms.collapse == pytest.approx(1.0, abs=1e-12)
    assert terms.ncc == pytest.approx(1.0, abs=1e-12)
    assert terms.etf == pytest.approx(1.0, abs=1e-3)  # limited only by the variance floor
    assert ncti(TRIANGLE[y], y) == pytest.approx(3.0, abs=1e-3)


def test_simplex_geometry_beats_class_means_on_a_line():
    """Same spread, same noise: only the ETF term tells a simplex (two separating directions) from a line (one)."""
    y = np.repeat(np.arange(3), 20)
    noise = 0.3 * np.random.default_rng(0).normal(size=(60, 2))
    simplex, line = ncti_terms(TRIANGLE[y] + noise, y), ncti_terms(LINE[y] + noise, y)
    assert simplex.etf > 0.8 and line.etf < 0.5  # the line keeps about 1 / (C - 1) of it
    assert simplex.collapse == pytest.approx(line.collapse, abs=0.02)
    assert simplex.ncc == pytest.approx(line.ncc, abs=0.01)


def test_separable_beats_shuffled_with_few_labels_and_wide_features():
    f, y = few_labels(1, signal=1.0)
    good = ncti_terms(f, y)
    bad = ncti_terms(f, np.random.default_rng(2).permutation(y))
    assert good.total > bad.total + 1.0
    assert good.collapse > bad.collapse and good.etf > bad.etf and good.ncc > bad.ncc
    assert bad.collapse == pytest.approx(9 / 49, abs=0.05)  # ~(C - 1) / (N - 1) for unrelated labels


def test_more_class_structure_scores_higher():
    scores = [ncti(*few_labels(3, signal=s, dim=512)) for s in (0.0, 0.3, 0.6, 1.2)]
    assert scores == sorted(scores) and scores[-1] > scores[0] + 1.0


def test_terms_stay_in_the_unit_interval():
    rng = np.random.default_rng(4)
    for n, d, c in [(12, 3, 2), (30, 200, 6), (9, 1, 3)]:
        terms = ncti_terms(rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d), np.arange(n) % c)
        assert all(0.0 <= t <= 1.0 for t in (terms.collapse, terms.etf, terms.ncc)), terms


def test_invariant_to_scale_shift_rotation_and_feature_order():
    f, y = few_labels(5, signal=0.7, n_classes=4, per_class=6, dim=12)
    value = ncti(f, y)
    rotation, _ = np.linalg.qr(np.random.default_rng(6).normal(size=(12, 12)))
    for other in (1e150 * f, 1e-150 * f, 3.0 * f - 7.0, f @ rotation, f[:, ::-1]):
        assert ncti(other, y) == pytest.approx(value, rel=1e-8)


def test_constant_features_keep_only_the_held_out_priors():
    y = np.arange(20) % 3  # 7, 7, 6 images
    terms = ncti_terms(np.full((20, 8), 3.0), y)
    assert terms.collapse == 0.0 and terms.etf == 0.0
    assert terms.ncc == pytest.approx((14 * 6 / 19 + 6 * 5 / 19) / 20, rel=1e-12)


def test_single_image_classes_only_is_a_metric_error():
    with pytest.raises(MetricError, match="single image"):
        ncti(np.random.default_rng(7).normal(size=(5, 3)), np.arange(5))


def test_two_classes_and_a_singleton_are_finite():
    rng = np.random.default_rng(8)
    assert np.isfinite(ncti(rng.normal(size=(10, 300)), np.arange(10) % 2))
    assert np.isfinite(ncti(rng.normal(size=(7, 300)), np.array([0, 0, 0, 1, 1, 1, 2])))


def test_runs_at_n100_d2048():
    f, y = few_labels(9, signal=0.3, per_class=10)
    assert 0.0 <= ncti(f, y) <= 3.0
