"""Shrinkage H-score: equals the textbook formula, stays finite for D > N, prefers informative features."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf
from sklearn.covariance import ledoit_wolf_shrinkage as sk_shrinkage

from zoo_distill.ranking.metrics.hscore import hscore, ledoit_wolf_shrinkage


def naive_regularized_hscore(f: np.ndarray, y: np.ndarray) -> float:
    """tr(pinv(Cov_LW(f)) (1 - alpha) Cov(E[f|y])) with sklearn's Ledoit-Wolf, spelled out."""
    est = LedoitWolf().fit(f)
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(axis=0)
    cov_g = np.atleast_2d(np.cov(g, rowvar=False))
    return float(np.trace(np.linalg.pinv(est.covariance_, rcond=1e-15) @ ((1 - est.shrinkage_) * cov_g)))


@pytest.mark.parametrize("n,d", [(60, 8), (15, 40), (20, 20), (30, 1)])
def test_matches_naive_formula(n, d):
    rng = np.random.default_rng(n + d)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d)) + rng.normal(size=(3, d))[y]
    assert hscore(f, y) == pytest.approx(naive_regularized_hscore(f, y), rel=1e-8)
    x = f - f.mean(axis=0)
    assert ledoit_wolf_shrinkage(x, x.T @ x) == pytest.approx(sk_shrinkage(f), rel=1e-10, abs=1e-15)
    assert ledoit_wolf_shrinkage(x, x @ x.T) == pytest.approx(sk_shrinkage(f), rel=1e-10, abs=1e-15)


def test_wide_features_finite_and_informative_beat_noise():
    """5 samples/class, D = 2048 >> N: no blow-up, and class structure scores higher than noise."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 5)
    noise = rng.normal(size=(50, 2048))
    informative = noise + 1.5 * rng.normal(size=(10, 2048))[y]
    h_info, h_noise = hscore(informative, y), hscore(noise, y)
    assert np.isfinite(h_info) and np.isfinite(h_noise)
    assert h_info > h_noise + 2.0  # about 9.2 vs 5.8; at most C - 1 = 9 plus shrinkage effects


def test_scale_invariant():
    rng = np.random.default_rng(1)
    y = np.arange(40) % 4
    f = rng.normal(size=(40, 10)) + rng.normal(size=(4, 10))[y]
    assert hscore(1e3 * f, y) == pytest.approx(hscore(f, y), rel=1e-9)
