"""SFDA: Self-challenging Fisher Discriminant Analysis.

Shao, Zhao, Ge, Zhang, Yang, Wang, Shan, Luo. "Not All Models Are Equal: Predicting Model
Transferability in a Self-challenging Fisher Space", ECCV 2022 (reference code:
``TencentARC/SFDA``, ``metrics.py``). One of the newer transferability scores next to those of
Borup et al., "Distilling from Similar Tasks for Transfer Learning on a Budget", ICCV 2023.

1. Regularised Fisher discriminant: class means, the pooled within-class covariance shrunk
   towards a scaled identity, Sigma = (1 - lambda) S_w + (lambda tr(S_w) / D) I, and the
   posterior p(c | x) = softmax_c(log pi_c - 1/2 (x - mu_c)^T Sigma^-1 (x - mu_c)). The
   reference projects onto *all* D generalized eigenvectors of (S_b, Sigma) before its softmax,
   which is exactly this posterior (V V^T = Sigma^-1), so it is computed directly
   (:mod:`~zoo_distill.ranking.metrics._lda`).
2. Self-challenge (ConfMix): each image is mixed towards the mean of the *other* classes'
   means, x' = p x + (1 - p) mean_{c != y} mu_c, with p its softened confidence in the true
   class (the reference softens the posteriors once more with a softmax over classes, so p is at
   most e / (e + C - 1)); images the discriminant finds hard are pulled furthest.
3. The discriminant is refitted on the mixed images (same lambda) and the score is the mean log
   posterior of the true class, as in the paper. Higher is better, at most 0.

Choices for few labels (N = 5..20 per class, D up to 2048 > N):

* lambda is the Ledoit-Wolf shrinkage of the pooled within-class covariance. The reference's
  lambda = exp(-5 x largest eigenvalue of S_w) depends on the absolute feature scale: for
  typical features it is ~1e-10, leaving the rank-(N - C) covariance practically singular.
  With Ledoit-Wolf the score does not depend on the feature scale.
* Posteriors (in both steps) are leave-one-out: each image is scored by the discriminant fitted
  on the other images. In-sample, an image's own class mean is pulled towards it, so with
  D > N any labelling, random labels included, scores close to the maximum. Images whose class
  has a single image cannot be held out: they shape the fits (and are mixed in-sample) but are
  not averaged; if every class has one image the metric raises.
* The reference averages the probability instead of its log ("ignored in case of
  instability"); the log is stable here (log-softmax), and it penalises confident mistakes.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import MetricError, finite_score, guarded, prepare_inputs
from zoo_distill.ranking.metrics._lda import (
    class_statistics,
    held_out,
    log_posteriors,
    pooled_shrinkage,
    span_coordinates,
)

__all__ = ["confmix", "sfda"]


def confmix(z: np.ndarray, labels: np.ndarray, log_post: np.ndarray) -> np.ndarray:
    """The self-challenge: move each image towards the mean of the other classes' means by its confidence."""
    _, means, _ = class_statistics(z, labels)
    n_classes = means.shape[0]
    outer = (means.sum(axis=0) - means) / (n_classes - 1)  # [C, r] mean of the other classes' means
    soft = np.exp(np.exp(log_post))  # the reference's extra softmax over the probabilities
    confidence = (soft[np.arange(z.shape[0]), labels] / soft.sum(axis=1))[:, None]
    return confidence * z + (1.0 - confidence) * outer[labels]


@guarded("SFDA")
def sfda(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """SFDA score (mean held-out log posterior of the true class after the self-challenge); <= 0, higher is better."""
    f, y, _ = prepare_inputs(features, labels, source_logits)
    scored = held_out(y)
    if not scored.any():
        raise MetricError(
            "SFDA needs a class with at least two images (one is held out to score it); every class has a single image"
        )
    z, dim = span_coordinates(f)
    shrinkage = pooled_shrinkage(z, y, dim)
    mixed = confmix(z, y, log_posteriors(z, y, shrinkage, dim))
    log_post = log_posteriors(mixed, y, shrinkage, dim)
    return finite_score(np.mean(log_post[scored, y[scored]]), "SFDA")
