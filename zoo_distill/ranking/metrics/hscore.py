"""Shrinkage-regularised H-score: inter-class feature variance relative to (shrunk) total variance.

Ibrahim, Ponomareva, Mazumder. "Newer is not always better: Rethinking transferability
metrics, their peculiarities, stability and performance", ECML-PKDD 2022, regularising the
H-score of Bao et al. ("An Information-theoretic Approach to Transferability in Task Transfer
Learning", ICIP 2019). One of the source-similarity scores considered by Borup et al.,
"Distilling from Similar Tasks for Transfer Learning on a Budget", ICCV 2023.

    H_alpha = tr( pinv(Cov_alpha(f)) (1 - alpha) Cov(g) ),   g_i = E[f | y = y_i],

with Cov_alpha(f) = (1 - alpha) S + alpha (tr(S) / D) I the Ledoit-Wolf estimate (S the
1/N empirical covariance, alpha its closed-form Ledoit-Wolf shrinkage, exactly as
``sklearn.covariance.LedoitWolf``) and Cov(g) the 1/(N - 1) covariance of the class-mean
features, as in the regularised H-score of the paper's code (also ``tllib``'s
``regularized_h_score``). The plain H-score's inverse covariance explodes when D > N; the
shrunk one is well conditioned, so a few labels per class with D = 2048 stay finite.

Nothing D x D is inverted when D > N: Cov(g) lives in the row space of the centered features
X, so with K = X X^T, X Cov_alpha^{-1} X^T = (c I + b K)^{-1} K (c = alpha tr(S)/D,
b = (1 - alpha)/N) and the trace is an N x N solve; when N >= D it is a D x D Cholesky solve.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import finite_score, guarded, one_hot, power_of_two_scaled, prepare_inputs

__all__ = ["hscore", "ledoit_wolf_shrinkage"]


def ledoit_wolf_shrinkage(x: np.ndarray, gram: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage of centered ``x`` [N, D] given either Gram matrix (X^T X or X X^T).

    Same formula as ``sklearn.covariance.ledoit_wolf_shrinkage``, but it reuses the Gram matrix
    the H-score needs anyway (||X^T X||_F = ||X X^T||_F and sum_ij (X2^T X2)_ij = sum_n ||x_n||^4).
    """
    n, d = x.shape
    if d == 1:
        return 0.0
    row_sq = np.einsum("nd,nd->n", x, x)
    emp_cov_trace = float(row_sq.sum()) / n
    mu = emp_cov_trace / d
    beta_ = float(row_sq @ row_sq)
    delta_ = float(np.einsum("ij,ij->", gram, gram)) / n**2
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * emp_cov_trace + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else beta / delta


def _trace_inv_times(matrix: np.ndarray, rhs: np.ndarray, left: np.ndarray | None = None) -> float:
    """tr(L^T pinv(A) R) for symmetric PSD A: Cholesky solve, or an eigen-pseudo-inverse if singular."""
    import scipy.linalg  # imported when a metric runs, not when the metrics are listed

    left = rhs if left is None else left
    try:
        factor = scipy.linalg.cho_factor(matrix, lower=True, check_finite=False)
        sol = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
    except np.linalg.LinAlgError:
        evals, evecs = np.linalg.eigh(matrix)
        keep = evals > max(evals.max(), 0.0) * 1e-15  # pinv's rcond, as in the reference
        proj = evecs[:, keep]
        sol = proj @ ((proj.T @ rhs) / evals[keep][:, None])
    return float(np.einsum("ij,ij->", left, sol))


@guarded("H-score")
def hscore(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """Regularised H-score (>= 0); higher means more between-class variance per unit of total variance."""
    f, y, _ = prepare_inputs(features, labels, source_logits)
    n, d = f.shape
    x, _ = power_of_two_scaled(f - f.mean(axis=0), inplace=True)  # the score does not depend on the scale
    onehot = one_hot(y)
    counts = onehot.sum(axis=0)
    # Cov(g) = M^T W M / (N - 1), M the centered class means, W = diag(counts): only C directions.
    sqrt_w_avg = onehot / np.sqrt(counts)  # [N, C]; column c: 1/sqrt(n_c) on class c
    if n >= d:
        gram = x.T @ x
        alpha = ledoit_wolf_shrinkage(x, gram)
        cov = (1.0 - alpha) * gram / n
        cov.flat[:: d + 1] += alpha * np.trace(gram) / (n * d)
        r = x.T @ sqrt_w_avg  # = M^T W^{1/2}  [D, C]
        value = _trace_inv_times(cov, r)
    else:
        gram = x @ x.T
        alpha = ledoit_wolf_shrinkage(x, gram)
        c = alpha * np.trace(gram) / (n * d)
        b = (1.0 - alpha) / n
        p = sqrt_w_avg  # tr(P^T X pinv(Cov_alpha) X^T P) with X^T P = M^T W^{1/2}
        if c > 0:
            value = _trace_inv_times(c * np.eye(n) + b * gram, gram @ p, left=p)
        else:  # no shrinkage: X pinv(b X^T X) X^T = (1/b) x projection onto range(K)
            evals, evecs = np.linalg.eigh(gram)
            keep = evals > max(evals.max(), 0.0) * 1e-15
            proj = evecs[:, keep].T @ p
            value = float(np.sum(proj**2)) / b
    value *= (1.0 - alpha) / (n - 1)
    return finite_score(value, "H-score")
