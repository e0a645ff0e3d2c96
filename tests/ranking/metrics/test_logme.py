"""LogME against a slow, literal implementation of the reference fixed-point iteration."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics.logme import logme


def slow_logme(f: np.ndarray, y: np.ndarray) -> float:
    """thuml/LogME's fixed-point LogME, written out per class with a plain SVD (full-rank data)."""
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    evidences = []
    for c in range(y.max() + 1):
        yc = (y == c).astype(float)
        x2 = (u.T @ yc) ** 2
        res_x2 = yc @ yc - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / (t + sigma) ** 2).sum()
            res2 = (x2 / (1 + sigma / t) ** 2).sum() + res_x2
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


@pytest.mark.parametrize("n,d,c", [(80, 12, 3), (25, 60, 4), (30, 30, 3), (40, 1, 2), (6, 2, 2)])
def test_matches_reference_fixed_point(n, d, c):
    rng = np.random.default_rng(n * d)
    y = np.arange(n) % c
    f = rng.normal(size=(n, d)) + 0.7 * rng.normal(size=(c, d))[y]
    assert logme(f, y) == pytest.approx(slow_logme(f, y), rel=1e-6, abs=1e-9)


def test_separable_beats_shuffled():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 15)
    f = 4.0 * np.eye(4)[y] @ rng.normal(size=(4, 16)) + 0.3 * rng.normal(size=(60, 16))
    shuffled = rng.permutation(y)
    assert logme(f, y) > logme(f, shuffled) + 0.1


def test_features_not_centered_or_scaled_like_reference():
    """The reference regresses on the raw features: shifting them changes the score."""
    rng = np.random.default_rng(1)
    y = np.arange(40) % 2
    f = rng.normal(size=(40, 5))
    assert logme(f + 5.0, y) == pytest.approx(slow_logme(f + 5.0, y), rel=1e-6)
    assert logme(f + 5.0, y) != pytest.approx(logme(f, y), rel=1e-3)
