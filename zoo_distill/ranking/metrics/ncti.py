"""NCTI: how far the source's features of the target images are from neural collapse.

Wang, Luo, Zheng, Huang, Baktashmotlagh. "How Far Pre-trained Models Are from Neural Collapse on
the Target Dataset Informs their Transferability", ICCV 2023 (reference code:
``BUserName/NCTI``, ``metrics.py`` ``NCTI_Score`` and ``tw_group1.py``). One of the newer
transferability scores next to those of Borup et al., "Distilling from Similar Tasks for
Transfer Learning on a Budget", ICCV 2023.

Neural collapse is the end state of training a classifier: within-class variability vanishes,
the class means form a simplex equiangular tight frame (ETF), and the classifier becomes a
nearest-class-center rule. NCTI scores a source by how close its (PCA-64) features of the
target images already are to that state, with three terms.

**The paper normalises each term across the zoo** (min-max over the candidate models) and sums
them: that needs every source at once. A :class:`~zoo_distill.plugin.types.Metric` scores one
source, so each term is instead mapped to a scale-free quantity in [0, 1] of that source alone,
and the score is their sum, in [0, 3] (each term keeps the paper's equal weight):

* ``collapse`` (within-class variability collapse; the paper: minus the log of the summed
  nuclear norms of each class's LDA posterior matrix) = tr(S_b) / tr(S_t), the trace form of
  the NC1 criterion: 1 when every image sits on its class mean, ~(C - 1) / (N - 1) for labels
  unrelated to the features. It needs no inverse, so it stays sound when D > N.
* ``etf`` (simplex-ETF / between-class geometry; the paper: the nuclear norm of the centered
  LDA-projected features, whose singular values are sqrt(N (1 + theta_k)) with theta_k the
  Fisher eigenvalues of (S_b, Sigma)) = the mean over the C - 1 discriminant directions of
  1 - 1 / sqrt(1 + theta_k): 0 when no direction separates the classes, near 1 only when all
  C - 1 do, as the C - 1 equal directions of a simplex ETF do (class means on a line score
  about 1 / (C - 1)).
* ``ncc`` (nearest-class-center classifier; the paper: the mean LDA posterior of the true
  class, in-sample) = the same mean posterior, but each image held out of the fit
  (:mod:`~zoo_distill.ranking.metrics._lda`): in-sample, any labelling is "separated" when the
  PCA space has more dimensions than images per class.

Shared choices: features are reduced by PCA to ``PCA_DIMS`` = 64 as in the reference (capped at
N - 1); the within-class covariance Sigma is shrunk with the Ledoit-Wolf lambda instead of the
reference's exp(-sum of the top-32 PCA variances), which depends on the feature scale; S_b is
not inverted and not shrunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo_distill.ranking.metrics._common import MetricError, finite_score, guarded, pca_scale_free, prepare_inputs
from zoo_distill.ranking.metrics._lda import (
    VARIANCE_FLOOR,
    class_statistics,
    held_out,
    ledoit_wolf_shrinkage,
    log_posteriors,
)

__all__ = ["NCTITerms", "PCA_DIMS", "fisher_eigenvalues", "ncti", "ncti_terms"]

PCA_DIMS = 64


@dataclass(frozen=True)
class NCTITerms:
    """The three per-source terms, each in [0, 1]; higher is closer to neural collapse."""

    collapse: float
    etf: float
    ncc: float

    @property
    def total(self) -> float:
        """The NCTI score: the sum of the three terms, in [0, 3]."""
        return self.collapse + self.etf + self.ncc


def fisher_eigenvalues(between: np.ndarray, within: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest generalized eigenvalues of (between, within), ``within`` positive definite."""
    factor = np.linalg.cholesky(within)
    half = np.linalg.solve(factor, between)
    whitened = np.linalg.solve(factor, half.T)  # L^-1 S_b L^-T (symmetric)
    return np.clip(np.linalg.eigvalsh((whitened + whitened.T) / 2.0)[::-1][:k], 0.0, None)


def ncti_terms(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> NCTITerms:
    """Compute the three NCTI terms of one source (see the module docstring)."""
    f, y, _ = prepare_inputs(features, labels, source_logits)  # unused logits are still validated
    scored = held_out(y)
    if not scored.any():
        raise MetricError(
            "NCTI needs a class with at least two images (one is held out to score the "
            "nearest-center term); every class has a single image"
        )
    z, _ = pca_scale_free(f, PCA_DIMS)
    z = z - z.mean(axis=0)
    n, d = z.shape
    counts, means, resid = class_statistics(z, y)
    within = resid.T @ resid / n
    between = (means * (counts / n)[:, None]).T @ means
    trace_w, trace_b = float(np.trace(within)), float(np.trace(between))
    total = trace_w + trace_b
    shrinkage = ledoit_wolf_shrinkage(resid, d)
    ncc = float(np.mean(np.exp(log_posteriors(z, y, shrinkage, d)[scored, y[scored]])))
    if not total > 0.0:  # every image identical: no collapse and no geometry to speak of
        return NCTITerms(0.0, 0.0, ncc)
    sigma = (1.0 - shrinkage) * within
    sigma.flat[:: d + 1] += shrinkage * trace_w / d + VARIANCE_FLOOR * total / d
    theta = fisher_eigenvalues(between, sigma, min(counts.size - 1, d))
    etf = float(np.mean(1.0 - 1.0 / np.sqrt(1.0 + theta)))
    return NCTITerms(trace_b / total, etf, ncc)


@guarded("NCTI")
def ncti(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """Per-source NCTI score in [0, 3]: collapse + ETF geometry + held-out nearest-center posterior."""
    return finite_score(ncti_terms(features, labels, source_logits).total, "NCTI")
