"""Shrinkage linear discriminant analysis with exact leave-one-out posteriors (shared by SFDA, NCTI, ETran).

SFDA (Shao et al., ECCV 2022), NCTI (Wang et al., ICCV 2023) and ETran (Gholami et al., ICCV
2023) all score a source by how well a linear discriminant on its features predicts the target
labels. Their reference code fits the discriminant and scores it on the *same* images. With few
labels (5..20 per class) and D up to 2048 > N that is meaningless: an image pulls its own class
mean towards itself by ~D / (n_c - 1) nats of log-odds, so any labelling, even a random one, is
"separated" with near-certain posteriors. Here every image is instead scored by the
discriminant fitted on the other N - 1 images (same shrinkage), computed exactly from one
eigendecomposition of the within-class scatter and a rank-one downdate per image
(Sherman-Morrison), not from N refits. A class with a single image cannot lose it, so such an
image keeps its in-sample posterior; :func:`held_out` tells the metrics which images were
really held out.

The model, in the reference's notation: class means mu_c, priors pi_c = n_c / N, the pooled
within-class covariance S_w = sum_c pi_c Cov_c (biased class covariances, = W / N with W the
within-class scatter), shrunk towards a scaled identity,

    Sigma = (1 - lambda) S_w + (lambda tr(S_w) / D) I,

and posteriors softmax_c(log pi_c - 1/2 (x - mu_c)^T Sigma^-1 (x - mu_c)). That is exactly what
the SFDA reference's ``predict_proba`` computes: it keeps all D generalized eigenvectors V of
(S_b, Sigma), and V V^T = Sigma^-1.

Nothing D x D is formed: every mean, image and fold lies in the span of the centered features,
where Sigma acts as (1 - lambda) S_w + (lambda tr(S_w) / D) I_r (:func:`span_coordinates`).
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import one_hot, power_of_two_scaled

__all__ = [
    "VARIANCE_FLOOR",
    "class_statistics",
    "held_out",
    "ledoit_wolf_shrinkage",
    "log_posteriors",
    "pooled_shrinkage",
    "span_coordinates",
]

#: Keeps Sigma invertible when a class has no spread (duplicated images): 1e-9 x the total
#: variance per dimension is added to its diagonal. Far below any real within-class variance.
VARIANCE_FLOOR = 1e-9
_MIN_DENOMINATOR = 1e-12  # Sherman-Morrison denominator; > 0 in exact arithmetic
_CHUNK_ELEMENTS = 1 << 22  # folds x classes x dimensions held at once (32 MiB of float64)


def span_coordinates(features: np.ndarray) -> tuple[np.ndarray, int]:
    """Centered features in an orthonormal basis of their span: ``(z [N, r], D)``, r <= min(N - 1, D).

    Every inner product between images, class means and their mixtures is preserved, so a
    Gaussian model with an isotropic shrinkage target can be fitted in r dimensions instead of
    D. The features are first rescaled by an exact power of two (the discriminant does not
    depend on the scale), so 1e300-sized features do not overflow.
    """
    x, _ = power_of_two_scaled(features - features.mean(axis=0), inplace=True)
    n, dim = x.shape
    if dim <= n:
        return x, dim
    evals, evecs = np.linalg.eigh(x @ x.T)
    keep = evals > max(float(evals[-1]), 0.0) * n * np.finfo(np.float64).eps  # numerical rank
    return evecs[:, keep] * np.sqrt(evals[keep]), dim


def ledoit_wolf_shrinkage(residuals: np.ndarray, dim: int) -> float:
    """Ledoit-Wolf shrinkage of centered ``residuals`` [N, r] that live in a ``dim``-dimensional space.

    Same formula as ``sklearn.covariance.ledoit_wolf_shrinkage``; every term but the dimension is
    invariant to rotations, so span coordinates give the value of the full D-dimensional data.
    """
    n, r = residuals.shape
    if dim <= 1 or n == 0:
        return 0.0
    row_sq = np.einsum("nd,nd->n", residuals, residuals)
    trace = float(row_sq.sum()) / n
    mu = trace / dim
    gram = residuals.T @ residuals if r < n else residuals @ residuals.T
    delta_ = float(np.einsum("ij,ij->", gram, gram)) / n**2  # ||S||_F^2
    beta = (float(row_sq @ row_sq) / n - delta_) / (dim * n)
    delta = (delta_ - 2.0 * mu * trace + dim * mu**2) / dim  # ||S - mu I||_F^2 / D
    if not delta > 0.0:  # S is already isotropic (or zero): nothing to shrink
        return 0.0
    return float(np.clip(min(beta, delta) / delta, 0.0, 1.0))


def class_statistics(z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts [C], means [C, r], residuals z - mean of own class [N, r])``."""
    onehot = one_hot(labels)
    counts = onehot.sum(axis=0)
    means = onehot.T @ z / counts[:, None]
    return counts, means, z - means[labels]


def pooled_shrinkage(z: np.ndarray, labels: np.ndarray, dim: int) -> float:
    """Ledoit-Wolf shrinkage of the pooled within-class covariance (residuals from the class means)."""
    return ledoit_wolf_shrinkage(class_statistics(z, labels)[2], dim)


def held_out(labels: np.ndarray) -> np.ndarray:
    """Mask of the images :func:`log_posteriors` really holds out: those whose class has >= 2 images."""
    return np.bincount(labels)[labels] >= 2


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    peak = logits.max(axis=1, keepdims=True)
    return logits - (peak + np.log(np.exp(logits - peak).sum(axis=1, keepdims=True)))


def log_posteriors(
    z: np.ndarray, labels: np.ndarray, shrinkage: float, dim: int, leave_one_out: bool = True
) -> np.ndarray:
    """Log posteriors [N, C] of the shrinkage LDA, each image scored by the fit without it.

    ``z`` are coordinates in which the Euclidean inner product is the features' one (e.g.
    :func:`span_coordinates`), ``dim`` the dimension D of the original feature space (it sets
    the shrinkage target tr(S_w) / D). ``leave_one_out=False`` gives the reference's in-sample
    posteriors. Images of single-image classes are always scored in-sample.
    """
    n, r = z.shape
    counts, means, resid = class_statistics(z, labels)
    onehot = one_hot(labels, counts.size)
    drop = (held_out(labels) if leave_one_out else np.zeros(n, bool)).astype(np.float64)
    n_fold = n - drop
    log_prior = np.log(counts[None, :] - drop[:, None] * onehot) - np.log(n_fold)[:, None]
    centered = z - z.mean(axis=0)
    total = float(np.einsum("ij,ij->", centered, centered))
    if r == 0 or total == 0.0:  # no spread at all: only the priors are left
        return _log_softmax(log_prior)

    w, v = np.linalg.eigh(resid.T @ resid)  # within-class scatter W = V diag(w) V^T
    w = np.clip(w, 0.0, None)
    zt, mt, ut = z @ v, means @ v, resid @ v
    own = counts[labels]
    kappa = np.where(drop > 0, own / np.maximum(own - 1.0, 1.0), 0.0)  # W_fold = W - kappa u u^T
    u_sq = np.einsum("ij,ij->i", ut, ut)
    a = (1.0 - shrinkage) / n_fold  # Sigma_fold = a W_fold + b I
    b = shrinkage * (w.sum() - kappa * u_sq) / n_fold / dim + VARIANCE_FLOOR * total / (n * dim)
    g = a * kappa
    own_shift = np.where(drop > 0, kappa, 1.0)  # x_i - mean of its class without it = kappa u_i

    out = np.empty((n, counts.size))
    step = max(1, _CHUNK_ELEMENTS // max(1, counts.size * r))
    for start in range(0, n, step):
        rows = slice(start, start + step)
        h = 1.0 / (a[rows, None] * w[None, :] + b[rows, None])  # (a W + b I)^-1 in the eigenbasis
        diff = zt[rows, None, :] - mt[None, :, :]  # [B, C, r]
        idx = np.arange(diff.shape[0])
        diff[idx, labels[rows]] *= own_shift[rows, None]
        hu = h * ut[rows]
        quad = np.einsum("bcr,bcr->bc", diff * h[:, None, :], diff)
        cross = np.einsum("bcr,br->bc", diff, hu)
        den = np.maximum(1.0 - g[rows] * np.einsum("br,br->b", hu, ut[rows]), _MIN_DENOMINATOR)
        mahalanobis = quad + g[rows, None] * cross**2 / den[:, None]
        out[rows] = _log_softmax(log_prior[rows] - 0.5 * mahalanobis)
    return out
