"""TransRate: the coding-rate estimate of the mutual information between features and labels.

Huang, Huang, Rong, Yang, Wei. "Frustratingly Easy Transferability Estimation", ICML 2022.
With Z the centered target features [n, d] and Z_c the rows of class c (n_c of them)::

    R(Z, eps)      = 1/2 logdet(I_d + d / (n eps^2) Z^T Z)
    R(Z, eps | Y)  = sum_c (n_c / n) R(Z_c, eps)
    TransRate      = R(Z, eps) - R(Z, eps | Y)

As in the coding-rate literature the class blocks Z_c are *not* re-centered: they are rows of the
globally centered Z. logdet is concave, so the score is always >= 0, and it is 0 when every
class has the same second-moment matrix (the labels say nothing the features can encode).

Choices, and where they come from:

- ``normalize=True`` (default) scales every centered row to unit L2 norm before the coding rates,
  as the authors' reference code does when it extracts the eigenvalues; the score then does not
  depend on the overall feature scale, so sources with different feature magnitudes compare
  fairly. ``normalize=False`` uses the centered features as they are (the paper's "10 lines").
- ``eps=None`` (default) means eps^2 = 1e-4 * d, so that d / (n eps^2) = 1e4 / n: exactly the
  ``1 / (n * 1e-4)`` factor of the reference code. Any positive ``eps`` overrides it.
- Classes are weighted by n_c / n, as in the paper and the reference eigenvalue code (the short
  listing in the paper's appendix averages classes uniformly; both agree for balanced classes).

Speed and robustness: logdet(I_d + a Z^T Z) = logdet(I_n + a Z Z^T) (Sylvester), so each block uses
the smaller Gram matrix, and I + a G is symmetric positive definite with eigenvalues >= 1, so a
Cholesky factorisation gives its log-determinant stably (eigenvalues are the fallback).
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics import MetricError, prepare_inputs

#: The reference code's distortion: d / (n eps^2) = 1 / (n * REFERENCE_EPS_SQ_PER_DIM).
REFERENCE_EPS_SQ_PER_DIM = 1e-4


def logdet_identity_plus(z: np.ndarray, scale: float) -> float:
    """``logdet(I_d + scale * Z^T Z)`` for ``Z`` [m, d], through the smaller of the two Gram matrices."""
    m, d = z.shape
    if m == 0 or scale == 0.0:
        return 0.0
    gram = z @ z.T if m < d else z.T @ z
    matrix = scale * gram
    matrix[np.diag_indices_from(matrix)] += 1.0
    if not np.isfinite(matrix).all():
        raise MetricError(
            "TransRate: the features are too large in magnitude (their Gram matrix overflows); use normalize=True"
        )
    try:
        chol = np.linalg.cholesky(matrix)
        return float(2.0 * np.sum(np.log(np.diagonal(chol))))
    except np.linalg.LinAlgError:  # rounding on a near-singular Gram: fall back to its spectrum
        eig = np.clip(np.linalg.eigvalsh(scale * gram), 0.0, None)
        return float(np.sum(np.log1p(eig)))


def coding_rate(z: np.ndarray, eps_sq: float) -> float:
    """``R(Z, eps) = 1/2 logdet(I_d + d / (n eps^2) Z^T Z)`` of the rows of ``z`` [n, d]."""
    n, d = z.shape
    if n == 0:
        return 0.0
    return 0.5 * logdet_identity_plus(z, d / (n * eps_sq))


def _centered(features: np.ndarray, normalize: bool) -> np.ndarray:
    """Center the features; with ``normalize``, also scale each row to unit L2 norm (zero rows stay zero)."""
    peak = float(np.max(np.abs(features)))
    if normalize and peak > 0.0:
        # Scale-free anyway: divide by the largest magnitude first so squares neither overflow nor underflow.
        features = features / peak
    z = features - features.mean(axis=0)
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", z, z))
        np.divide(z, norms[:, None], out=z, where=norms[:, None] > 0)
    return z


def transrate(
    features: np.ndarray,
    labels: np.ndarray,
    source_logits: np.ndarray | None = None,
    *,
    eps: float | None = None,
    normalize: bool = True,
) -> float:
    """TransRate of ``features`` [N, D] for ``labels`` [N]: R(Z, eps) - sum_c (n_c/N) R(Z_c, eps); higher is better.

    ``source_logits`` is accepted (the zoo-distill metric signature) and ignored.
    """
    f, y, _ = prepare_inputs(features, labels, None)
    if eps is not None and not (np.isfinite(eps) and eps > 0):
        raise MetricError(f"TransRate: eps must be a positive number, got {eps!r}")
    n, d = f.shape
    eps_sq = REFERENCE_EPS_SQ_PER_DIM * d if eps is None else float(eps) ** 2
    with np.errstate(all="ignore"):
        z = _centered(f, normalize)
        if not np.isfinite(z).all():
            raise MetricError("TransRate: the features are too large in magnitude to center; use normalize=True")
        total = coding_rate(z, eps_sq)
        conditional = 0.0
        for c in range(int(y.max()) + 1):
            block = z[y == c]
            conditional += block.shape[0] / n * coding_rate(block, eps_sq)
    score = total - conditional
    if not np.isfinite(score):
        raise MetricError(f"TransRate produced a non-finite score ({score}); the inputs are degenerate")
    return float(score)
