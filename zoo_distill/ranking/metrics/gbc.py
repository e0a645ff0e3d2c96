"""GBC: Gaussian Bhattacharyya coefficient between the target classes in the source's feature space.

Pándy, Agostinelli, Uijlings, Ferrari, Mensink. "Transferability Estimation using
Bhattacharyya Class Separability", CVPR 2022. One of the source-similarity scores considered by
Borup et al., "Distilling from Similar Tasks for Transfer Learning on a Budget", ICCV 2023.

Each class c is modelled as a Gaussian N(mu_c, diag(var_c)) on PCA-reduced features; for every
ordered pair of distinct classes the Bhattacharyya coefficient BC = exp(-D_B) measures their
overlap, and GBC = -sum_{i != j} BC(c_i, c_j) (0 = perfectly separated, more negative = more
overlap). Choices, as in the reference (google-research ``stable_transfer/transferability``
``gbc.py`` and its config):

* features are first reduced with PCA to ``PCA_DIMS`` = 64 dimensions (capped at
  min(N - 1, D)), the reference's ``pca_reduction = 64``;
* ``gaussian_type="diagonal"`` by default (the paper's better-performing variant);
  ``"spherical"`` averages each class variance over dimensions;
* variances are population variances (ddof = 0). A class with a single sample has no variance
  estimate, so it gets the pooled within-class variance of the other classes (the global
  variance if every class is a singleton) instead of 0, which would make it look perfectly
  separated; every variance is floored at 1e-4 x the mean global variance (the reference
  floors at an absolute 1e-4; a relative floor keeps the score invariant to feature scale).
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import (
    MetricError,
    finite_score,
    guarded,
    one_hot,
    pca_scale_free,
    prepare_inputs,
)

__all__ = ["PCA_DIMS", "VARIANCE_FLOOR", "gbc"]

PCA_DIMS = 64
VARIANCE_FLOOR = 1e-4


@guarded("GBC")
def gbc(
    features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None, gaussian_type: str = "diagonal"
) -> float:
    """GBC score in [-C (C - 1), 0]; higher means better separated target classes."""
    if gaussian_type not in ("diagonal", "spherical"):
        raise MetricError(f"gaussian_type must be 'diagonal' or 'spherical'; got {gaussian_type!r}")
    f, y, _ = prepare_inputs(features, labels, source_logits)
    z, _ = pca_scale_free(f, PCA_DIMS)
    onehot = one_hot(y)
    counts = onehot.sum(axis=0)
    means = onehot.T @ z / counts[:, None]  # [C, d]
    variances = onehot.T @ (z - means[y]) ** 2 / counts[:, None]
    global_var = z.var(axis=0)
    multi = counts > 1
    if multi.any():
        pooled = (counts[multi] @ variances[multi]) / counts[multi].sum()
    else:
        pooled = global_var
    variances[~multi] = pooled
    floor = max(VARIANCE_FLOOR * float(global_var.mean()), np.finfo(np.float64).tiny)
    variances = np.maximum(variances, floor)
    if gaussian_type == "spherical":
        variances = np.repeat(variances.mean(axis=1, keepdims=True), variances.shape[1], axis=1)

    avg = (variances[:, None, :] + variances[None, :, :]) / 2.0  # [C, C, d]
    log_var = np.log(variances).sum(axis=1)
    mahal = ((means[:, None, :] - means[None, :, :]) ** 2 / avg).sum(axis=2) / 8.0
    log_det = 0.5 * (np.log(avg).sum(axis=2) - 0.5 * log_var[:, None] - 0.5 * log_var[None, :])
    coefficient = np.exp(-(mahal + log_det))
    np.fill_diagonal(coefficient, 0.0)
    return finite_score(-coefficient.sum(), "GBC")
