"""Shrinkage LDA with leave-one-out posteriors: equal to literal refits, to the SFDA reference, and to a hand example."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from sklearn.covariance import ledoit_wolf_shrinkage as sk_shrinkage

from zoo_distill.ranking.metrics._lda import (
    VARIANCE_FLOOR,
    held_out,
    ledoit_wolf_shrinkage,
    log_posteriors,
    pooled_shrinkage,
    span_coordinates,
)


def refit_log_posteriors(f: np.ndarray, y: np.ndarray, shrinkage: float, leave_one_out: bool = True) -> np.ndarray:
    """One explicit fit per image, in the full D dimensions, with an explicit inverse."""
    n, dim = f.shape
    n_classes = y.max() + 1
    centered = f - f.mean(axis=0)
    floor = VARIANCE_FLOOR * np.sum(centered**2) / (n * dim)
    counts = np.bincount(y)
    out = np.zeros((n, n_classes))
    for i in range(n):
        keep = np.ones(n, bool)
        keep[i] = not (leave_one_out and counts[y[i]] >= 2)
        xs, ys = f[keep], y[keep]
        means = np.stack([xs[ys == c].mean(axis=0) for c in range(n_classes)])
        resid = xs - means[ys]
        within = resid.T @ resid / keep.sum()
        sigma = (1 - shrinkage) * within + (shrinkage * np.trace(within) / dim + floor) * np.eye(dim)
        diff = f[i] - means
        logits = np.log(np.bincount(ys, minlength=n_classes) / keep.sum())
        logits -= 0.5 * np.einsum("cd,de,ce->c", diff, np.linalg.inv(sigma), diff)
        out[i] = logits - np.logaddexp.reduce(logits)
    return out


def reference_sfda_proba(x: np.ndarray, y: np.ndarray, shrinkage: float) -> np.ndarray:
    """TencentARC/SFDA's ``SFDA.fit(...).predict_proba`` with a given shrinkage, written out."""
    n, dim = x.shape
    classes = np.unique(y)
    priors = np.bincount(y) / n
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    within = sum(priors[c] * np.atleast_2d(np.cov(x[y == c].T, bias=True)) for c in classes)
    total = np.atleast_2d(np.cov(x.T, bias=True))
    shrunk_total = (1 - shrinkage) * total + shrinkage * np.trace(total) / dim * np.eye(dim)
    shrunk_within = (1 - shrinkage) * within + shrinkage * np.trace(within) / dim * np.eye(dim)
    evals, evecs = scipy.linalg.eigh(shrunk_total - shrunk_within, shrunk_within)
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = means @ evecs @ evecs.T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    scores = x @ coef.T + intercept
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


def _data(n: int, d: int, c: int, seed: int, singleton: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    if singleton:
        y[-1] = c  # one class with a single image: never held out
    return rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(y.max() + 1, d))[y] + 4.0, y


@pytest.mark.parametrize("n,d,c", [(40, 6, 3), (12, 30, 3), (20, 20, 4), (9, 300, 2)])
@pytest.mark.parametrize("leave_one_out", [True, False])
def test_matches_explicit_refits(n, d, c, leave_one_out):
    f, y = _data(n, d, c, seed=n + d)
    z, dim = span_coordinates(f)
    shrinkage = pooled_shrinkage(z, y, dim)
    assert 0.0 < shrinkage <= 1.0
    ours = log_posteriors(z, y, shrinkage, dim, leave_one_out=leave_one_out)
    np.testing.assert_allclose(ours, refit_log_posteriors(f, y, shrinkage, leave_one_out), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("n,d", [(60, 8), (12, 30)])
def test_in_sample_posteriors_are_the_sfda_reference(n, d):
    """The reference projects onto all D Fisher directions: that is the shrinkage-LDA posterior."""
    f, y = _data(n, d, 3, seed=7, singleton=False)
    z, dim = span_coordinates(f)
    ours = np.exp(log_posteriors(z, y, 0.3, dim, leave_one_out=False))
    np.testing.assert_allclose(ours, reference_sfda_proba(f, y, 0.3), rtol=1e-6, atol=1e-9)


def test_hand_worked_one_dimension():
    """1-D (no shrinkage possible). Hold out x = 0: class 0 = {2}, class 1 = {3, 7}, S_w = 8 / 3; and so on."""
    f = np.array([[0.0], [2.0], [3.0], [7.0]])
    y = np.array([0, 0, 1, 1])
    got = log_posteriors(f, y, 0.0, 1)
    own_other = [  # (own logit, other logit) = log prior - (x - mean)^2 / (2 S_w), both without x
        (np.log(1 / 3) - 4 / (2 * 8 / 3), np.log(2 / 3) - 25 / (2 * 8 / 3)),
        (np.log(1 / 3) - 4 / (2 * 8 / 3), np.log(2 / 3) - 9 / (2 * 8 / 3)),
        (np.log(1 / 3) - 16 / (2 * 2 / 3), np.log(2 / 3) - 4 / (2 * 2 / 3)),
        (np.log(1 / 3) - 16 / (2 * 2 / 3), np.log(2 / 3) - 36 / (2 * 2 / 3)),
    ]
    expected = [own - np.logaddexp(own, other) for own, other in own_other]
    np.testing.assert_allclose(got[np.arange(4), y], expected, rtol=1e-6)
    assert got[2, 1] < got[2, 0]  # held out, x = 3 is closer to class 0's mean (1) than to class 1's (7)
    np.testing.assert_allclose(np.exp(got).sum(axis=1), 1.0, rtol=1e-12)


def test_ledoit_wolf_in_span_coordinates_matches_sklearn_in_full_dimension():
    rng = np.random.default_rng(3)
    for n, d in [(30, 5), (10, 400)]:
        x = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, d)
        x -= x.mean(axis=0)
        z, dim = span_coordinates(x)  # rotated and rescaled by a power of two: the shrinkage is not affected
        assert dim == d and z.shape[1] == min(n - 1, d)
        assert ledoit_wolf_shrinkage(z, dim) == pytest.approx(sk_shrinkage(x, assume_centered=True), rel=1e-9)


def test_span_coordinates_keep_inner_products():
    rng = np.random.default_rng(4)
    f = rng.normal(size=(7, 50)) * 1e200
    z, dim = span_coordinates(f)  # the Gram matrix of f itself would overflow
    x = (f - f.mean(axis=0)) * 1e-200
    assert dim == 50 and z.shape == (7, 6)  # centered data has rank N - 1
    gram = x @ x.T
    np.testing.assert_allclose(z @ z.T / np.abs(z @ z.T).max(), gram / np.abs(gram).max(), atol=1e-12)
    z0, _ = span_coordinates(np.ones((5, 9)))
    assert z0.shape == (5, 0)


def test_no_spread_leaves_the_held_out_priors():
    y = np.array([0, 0, 0, 1, 1, 2])
    post = np.exp(log_posteriors(np.zeros((6, 3)), y, 0.5, 3))
    np.testing.assert_allclose(post[0], [2 / 5, 2 / 5, 1 / 5])  # image 0 held out of class 0
    np.testing.assert_allclose(post[5], [3 / 6, 2 / 6, 1 / 6])  # a singleton stays in
    assert held_out(y).tolist() == [True] * 5 + [False]
