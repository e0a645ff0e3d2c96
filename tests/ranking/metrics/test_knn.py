"""Leave-one-out kNN accuracy agrees with scikit-learn's KNeighborsClassifier + LeaveOneOut."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import normalize

from zoo_distill.ranking.metrics.knn import knn, nearest_neighbours


def noisy(seed: int, n: int = 70, d: int = 12, classes: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    f = 0.8 * rng.normal(size=(classes, d))[y] + rng.normal(size=(n, d))
    return f, y


def sklearn_loo(f: np.ndarray, y: np.ndarray, k: int) -> float:
    clf = KNeighborsClassifier(n_neighbors=k, metric="euclidean", algorithm="brute")
    return float(cross_val_score(clf, normalize(f), y, cv=LeaveOneOut()).mean())


@pytest.mark.parametrize("seed,k", [(0, 1), (1, 1), (2, 3), (3, 5)])
def test_agrees_with_sklearn_leave_one_out(seed, k):
    f, y = noisy(seed)
    ours = knn(f, y, k=k)
    assert 0.2 < ours < 0.95  # a non-trivial case, so agreement means something
    assert ours == pytest.approx(sklearn_loo(f, y, k), abs=1e-12)


def test_wide_features_agree_with_sklearn():
    f, y = noisy(4, n=40, d=3000)
    assert knn(f, y) == pytest.approx(sklearn_loo(f, y, 1), abs=1e-12)


def test_screening_finds_exact_neighbours_among_near_ties():
    """Near-duplicates closer than float32 resolution: neighbours must match a float64 search."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(30, 64))
    x = np.concatenate([base, base + 1e-6 * rng.normal(size=base.shape), base + 3e-6 * rng.normal(size=base.shape)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    x32 = x.astype(np.float32)
    sim32 = x32 @ x32.T
    np.fill_diagonal(sim32, -np.inf)
    assert not np.array_equal(sim32.argmax(axis=1), sim.argmax(axis=1))  # float32 alone gets it wrong
    assert np.array_equal(nearest_neighbours(x, 1)[:, 0], sim.argmax(axis=1))
    top3 = np.argsort(-sim, axis=1, kind="stable")[:, :3]
    assert np.array_equal(nearest_neighbours(x, 3), top3)


def test_self_is_never_a_neighbour():
    f = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    assert knn(f, np.array([0, 0, 1, 1])) == 1.0
    assert knn(f, np.array([0, 1, 0, 1])) == 0.0
