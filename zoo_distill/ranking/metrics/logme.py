"""LogME: the maximum marginal evidence of a Bayesian linear model on the source features.

You, Liu, Wang, Long. "LogME: Practical Assessment of Pre-trained Models for Transfer
Learning", ICML 2021; the fixed-point updates are those of the follow-up "Ranking and Tuning
Pre-trained Models" (arXiv 2110.10545), as in the reference ``thuml/LogME`` ``LogME.py``.
Borup et al. (ICCV 2023) use LogME as the default task-similarity score.

For each class c the one-hot column y_c is regressed on the features F with prior
w ~ N(0, 1/alpha) and noise N(0, 1/beta); alpha and beta are found by the fixed-point
iteration (at most 11 steps, stop when alpha/beta changes by <= 0.1 %), and the log evidence
divided by N is averaged over classes.

Computation: the eigendecomposition of the smaller Gram matrix G (D x D if N > D, else N x N,
scipy's ``eigh``) gives the squared singular values of F and the projections of each y_c (or
F^T y_c) on its eigenvectors; every quantity of the iteration involves only (G + t I)^{-1}, which
is diagonal in that basis. As in the reference, the log-determinant runs over min(N, D)
eigenvalues when N <= D, and over those with sqrt(eigenvalue) > 1e-10 when N > D.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import MetricError, finite_score, guarded, one_hot, prepare_inputs

__all__ = ["logme"]

_MAX_STEPS = 11  # the reference's cap: "should converge after at most 10 steps"
_TOL = 1e-3
_EPS = 1e-5  # the reference adds this to both denominators of the updates


@guarded("LogME")
def logme(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """LogME score (average per-sample log evidence over one-vs-rest targets); higher is better."""
    from scipy.linalg import eigh  # imported when a metric runs, not when the metrics are listed

    f, y, _ = prepare_inputs(features, labels, source_logits)
    n, dim = f.shape
    targets = one_hot(y)  # [N, C]
    wide = n <= dim  # the reference's two branches: SVD of F vs eigendecomposition of F^T F
    if wide:
        gram, rhs = f @ f.T, targets  # projections x = U^T y
    else:
        gram, rhs = f.T @ f, f.T @ targets  # b = F^T y; x_k = v_k^T b / s_k
    if not np.isfinite(gram).all():
        raise MetricError("LogME: the features are too large in magnitude (their Gram matrix overflows)")
    lam, basis = eigh(gram, overwrite_a=True, check_finite=False)  # G = V diag(lam) V^T
    proj = basis.T @ rhs
    sigma = np.clip(lam, 0.0, None)
    if not wide:
        sigma = sigma[np.sqrt(sigma) > 1e-10]  # the reference's rank cut for N > D

    evidences = []
    for c in range(targets.shape[1]):
        yy = float(targets[:, c].sum())  # ||y_c||^2 for a 0/1 column
        b = proj[:, c]
        alpha, beta = 1.0, 1.0
        for _ in range(_MAX_STEPS):
            t = alpha / beta
            gamma = float((sigma / (sigma + t)).sum())
            z = b / (lam + t)  # V^T (G + tI)^{-1} b
            tz = lam * z
            if wide:
                m2 = float(z @ tz)  # sum sigma x^2 / (t + sigma)^2
                res2 = t * t * float(z @ z) + max(yy - float(b @ b), 0.0)
            else:
                m2 = float(z @ z)  # ||m||^2 with m = (G + tI)^{-1} F^T y
                res2 = yy - 2.0 * float(z @ b) + float(z @ tz)  # ||y - F m||^2
            res2 = max(res2, 0.0)
            alpha = gamma / (m2 + _EPS)
            beta = (n - gamma) / (res2 + _EPS)
            if abs(alpha / beta - t) / t <= _TOL:
                break
        evidence = (
            dim / 2.0 * np.log(alpha)
            + n / 2.0 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2.0 * res2
            - alpha / 2.0 * m2
            - n / 2.0 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return finite_score(np.mean(evidences), "LogME")
