"""Linear probe accuracy agrees with scikit-learn's cross_val_score on the same pipeline and split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

from zoo_distill.ranking.metrics.linear import PCA_DIMS, folds, linear, probe_features


def data(seed: int, per_class: list[int], d: int = 20, signal: float = 0.6):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(per_class)), per_class))
    f = signal * rng.normal(size=(len(per_class), d))[y] + rng.normal(size=(y.size, d))
    return f, y


def sklearn_probe(f: np.ndarray, y: np.ndarray, n_splits: int) -> float:
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0)
    return float(cross_val_score(RidgeClassifier(alpha=1.0), probe_features(f), y, cv=cv).mean())


@pytest.mark.parametrize(
    "seed,per_class,d,signal,n_splits",
    [
        (0, [20, 20, 20, 20], 20, 0.6, 5),
        (1, [30, 25], 15, 0.6, 5),  # binary: scikit-learn's single-column decision
        (2, [3, 10, 8], 12, 0.6, 3),  # smallest class sets the number of folds
        (3, [12] * 6, 200, 0.25, 5),  # D > N: PCA capped at N - 1
        (4, [80] * 4, 300, 0.2, 5),  # N - 1 and D > PCA_DIMS: truncated to 128 components
    ],
)
def test_agrees_with_sklearn_cross_val_score(seed, per_class, d, signal, n_splits):
    f, y = data(seed, per_class, d, signal)
    assert len(folds(y)) == n_splits
    ours = linear(f, y)
    assert 0.2 < ours < 0.98  # non-trivial, so agreement is meaningful
    assert ours == pytest.approx(sklearn_probe(f, y, n_splits), abs=1e-12)


def test_probe_features_keep_every_direction_with_few_labels():
    f, _ = data(9, [10] * 5, 400)
    z = probe_features(f)
    assert z.shape == (50, 49)
    # all directions kept: the Gram matrix of the centered features is preserved up to the scale
    x = f - f.mean(axis=0)
    np.testing.assert_allclose(z @ z.T * f.var(axis=0).mean(), x @ x.T, atol=1e-8)
    assert probe_features(np.random.default_rng(0).normal(size=(400, 300))).shape == (400, PCA_DIMS)


def test_singleton_classes_never_crash():
    f, y = data(5, [1, 6, 6], 8)
    assert len(folds(y)) == 2
    assert 0.0 <= linear(f, y) <= 1.0
    f, y = data(6, [1, 1, 1], 4)  # every class a singleton: KFold, the probe can never be right
    assert linear(f, y) == 0.0
    f, y = data(7, [1, 1], 4)  # N = 2: each training fold holds one class
    assert linear(f, y) == 0.0


def test_separable_beats_shuffled():
    f, y = data(8, [25] * 4, 30, signal=3.0)
    assert linear(f, y) > 0.95
    assert linear(f, np.random.default_rng(0).permutation(y)) < 0.6
