"""SFDA: equal to a slow literal version of its definition, ordered by class structure, invariant where it should be."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf_shrinkage

from zoo_distill.ranking.metrics import MetricError
from zoo_distill.ranking.metrics._lda import VARIANCE_FLOOR
from zoo_distill.ranking.metrics.sfda import confmix, sfda


def refit_log_posteriors(f: np.ndarray, y: np.ndarray, shrinkage: float) -> np.ndarray:
    """Each image scored by a shrinkage LDA fitted, in the full D dimensions, on the other images."""
    n, dim = f.shape
    n_classes = y.max() + 1
    floor = VARIANCE_FLOOR * np.sum((f - f.mean(axis=0)) ** 2) / (n * dim)
    counts = np.bincount(y)
    out = np.zeros((n, n_classes))
    for i in range(n):
        keep = np.arange(n) != i if counts[y[i]] >= 2 else np.ones(n, bool)
        xs, ys = f[keep], y[keep]
        means = np.stack([xs[ys == c].mean(axis=0) for c in range(n_classes)])
        within = (xs - means[ys]).T @ (xs - means[ys]) / keep.sum()
        sigma = (1 - shrinkage) * within + (shrinkage * np.trace(within) / dim + floor) * np.eye(dim)
        diff = f[i] - means
        logits = np.log(np.bincount(ys, minlength=n_classes) / keep.sum())
        logits -= 0.5 * np.einsum("cd,de,ce->c", diff, np.linalg.inv(sigma), diff)
        out[i] = logits - np.logaddexp.reduce(logits)
    return out


def slow_sfda(f: np.ndarray, y: np.ndarray) -> float:
    """The module docstring's three steps, literally: refits per image, ConfMix on the raw features."""
    n_classes = y.max() + 1
    means = np.stack([f[y == c].mean(axis=0) for c in range(n_classes)])
    shrinkage = ledoit_wolf_shrinkage(f - means[y], assume_centered=True)
    first = np.exp(refit_log_posteriors(f, y, shrinkage))
    soft = np.exp(first) / np.exp(first).sum(axis=1, keepdims=True)
    p = soft[np.arange(len(y)), y][:, None]
    outer = np.stack([np.delete(means, c, axis=0).mean(axis=0) for c in range(n_classes)])
    second = refit_log_posteriors(p * f + (1 - p) * outer[y], y, shrinkage)
    scored = np.bincount(y)[y] >= 2
    return float(np.mean(second[scored, y[scored]]))


def few_labels(
    seed: int, n_classes: int = 10, per_class: int = 5, dim: int = 2048, signal: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    return rng.normal(size=(y.size, dim)) + signal * rng.normal(size=(n_classes, dim))[y], y


@pytest.mark.parametrize("n,d,c", [(36, 5, 3), (14, 40, 3), (20, 20, 4)])
def test_matches_slow_literal_definition(n, d, c):
    rng = np.random.default_rng(n * d)
    y = np.arange(n) % c
    y[-1] = c  # a single-image class: it shapes the fits but is not averaged
    f = rng.normal(size=(n, d)) + 0.8 * rng.normal(size=(c + 1, d))[y] + 3.0
    assert sfda(f, y) == pytest.approx(slow_sfda(f, y), rel=1e-8)


def test_confmix_hand_worked():
    """Two classes: a sure image keeps e/(e+1) of itself, a hopeless one 1/(1+e); the rest goes to the other mean."""
    z = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 4.0], [12.0, 4.0]])
    y = np.array([0, 0, 1, 1])
    log_post = np.log(np.array([[1.0, 1e-300], [1e-300, 1.0], [0.5, 0.5], [1e-300, 1.0]]))
    mixed = confmix(z, y, log_post)
    sure, hopeless = np.e / (np.e + 1), 1 / (1 + np.e)
    np.testing.assert_allclose(mixed[0], sure * z[0] + (1 - sure) * np.array([11.0, 4.0]))
    np.testing.assert_allclose(mixed[1], hopeless * z[1] + (1 - hopeless) * np.array([11.0, 4.0]))
    np.testing.assert_allclose(mixed[2], 0.5 * z[2] + 0.5 * np.array([1.0, 0.0]))
    np.testing.assert_allclose(mixed[3], sure * z[3] + (1 - sure) * np.array([1.0, 0.0]))


def test_separable_beats_shuffled_with_few_labels_and_wide_features():
    """5 labels per class, D = 2048: held-out scoring keeps random labels from looking separable."""
    f, y = few_labels(0)
    shuffled = np.random.default_rng(1).permutation(y)
    good, bad = sfda(f, y), sfda(f, shuffled)
    assert good > -1.0 > -100.0 > bad  # 0.0 vs about -740
    assert good <= 0.0


def test_more_class_structure_scores_higher():
    scores = [sfda(*few_labels(2, dim=512, signal=s)) for s in (0.0, 0.3, 0.6, 1.2)]
    assert scores == sorted(scores) and scores[0] < scores[-1] - 10.0


def test_invariant_to_scale_shift_rotation_and_feature_order():
    """Shrinkage LDA towards an isotropic target commutes with similarity transforms of the features."""
    f, y = few_labels(3, n_classes=4, per_class=6, dim=12, signal=0.8)
    value = sfda(f, y)
    rotation, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(12, 12)))
    for other in (1e150 * f, 1e-150 * f, 3.0 * f - 7.0, f @ rotation, f[:, ::-1]):
        assert sfda(other, y) == pytest.approx(value, rel=1e-9)


def test_constant_features_score_the_held_out_priors():
    """No information at all: each held-out image gets its class's prior among the other N - 1 images."""
    y = np.arange(20) % 3  # 7, 7, 6 images
    expected = (14 * np.log(6 / 19) + 6 * np.log(5 / 19)) / 20
    assert sfda(np.full((20, 8), 3.0), y) == pytest.approx(expected, rel=1e-12)


def test_single_image_classes_only_is_a_metric_error():
    with pytest.raises(MetricError, match="single image"):
        sfda(np.random.default_rng(5).normal(size=(4, 8)), np.arange(4))


def test_two_classes_and_one_singleton_are_finite():
    rng = np.random.default_rng(6)
    assert np.isfinite(sfda(rng.normal(size=(10, 300)), np.arange(10) % 2))
    y = np.array([0, 0, 0, 1, 1, 1, 2])
    assert np.isfinite(sfda(rng.normal(size=(7, 300)), y))


def test_runs_at_n100_d2048():
    f, y = few_labels(7, n_classes=10, per_class=10, dim=2048, signal=0.3)
    assert np.isfinite(sfda(f, y))
