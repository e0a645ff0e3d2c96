"""ETran: energy-based transferability estimation (classification score + energy score).

Gholami, Akbari, Wang, Kamranian, Zhang. "ETran: Energy-Based Transferability Estimation", ICCV
2023 (reference code: ``mgholamikn/ETran``, ``metrics.py`` ``LDA_Score`` / ``Energy_Score`` and
``tw.py``). One of the newer transferability scores next to those of Borup et al., "Distilling
from Similar Tasks for Transfer Learning on a Budget", ICCV 2023.

The paper sums three scores: an energy score S_en (is the target data in-distribution for the
source model: the log-sum-exp of the source's penultimate features, used as logits), an
LDA-based classification score S_cls, and an SVD-based regression score S_reg (least squares on
regression targets, for the box coordinates of object detection). For classification the
reference uses S_en and S_cls only, each **min-max normalised across the zoo**, combined as
0.15 S_en + 0.85 S_cls. A :class:`~zoo_distill.plugin.types.Metric` scores one source at a
time, so both terms are made per-source quantities in [0, 1] and combined with the same weights:

    ETran = 0.85 S_cls + 0.15 sigmoid(S_en),   in [0, 1].

* S_cls = the mean posterior of the true class under Ledoit-Wolf-shrunk LDA, each image held
  out of the fit (:mod:`~zoo_distill.ranking.metrics._lda`). The reference scores in-sample,
  which at D > N separates any labelling, and its ``LDA`` class takes ``eigh`` of the
  non-symmetric Sigma^-1 S_b, whose orthonormal eigenvectors reduce it to a Euclidean
  nearest-mean softmax at the raw feature scale.
* S_en = the mean over images of log((1/D) sum_j exp(f_j)), the log-sum-exp of the features
  minus log D, computed on features divided by their root-mean-square value: the raw energy
  grows with the feature magnitude of each architecture (the reference compares those raw
  values across models). 0 for a flat feature vector, larger when a few features dominate.
  The reference averages only the 0.5 % lowest-energy images, none at all when N < 200; the
  mean over all images is used. The logistic function maps S_en into (0, 1).
* S_reg is left out: classification has no regression targets, and a least-squares fit of
  one-hot labels is exact (MSE 0) for every source once D >= N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo_distill.ranking.metrics._common import MetricError, finite_score, guarded, power_of_two_scaled, prepare_inputs
from zoo_distill.ranking.metrics._lda import held_out, log_posteriors, pooled_shrinkage, span_coordinates

__all__ = ["ENERGY_WEIGHT", "ETranTerms", "energy_score", "etran", "etran_terms"]

#: The reference's weight of the energy score (the classification score gets 1 - ENERGY_WEIGHT).
ENERGY_WEIGHT = 0.15


@dataclass(frozen=True)
class ETranTerms:
    """S_cls in [0, 1] and the scale-free energy S_en (any real number, ~0.5 for Gaussian features)."""

    classification: float
    energy: float

    @property
    def total(self) -> float:
        """The ETran score: (1 - w) S_cls + w sigmoid(S_en), w = :data:`ENERGY_WEIGHT`; in [0, 1]."""
        squashed = 0.5 * (1.0 + np.tanh(0.5 * self.energy))  # the logistic function, overflow-free
        return float((1.0 - ENERGY_WEIGHT) * self.classification + ENERGY_WEIGHT * squashed)


def energy_score(features: np.ndarray) -> float:
    """Mean over images of logsumexp(f / rms(f)) - log D: the feature energy, independent of the feature scale."""
    x, _ = power_of_two_scaled(features)
    rms = float(np.sqrt(np.mean(x * x)))
    if rms == 0.0:  # all-zero features: flat, like exp(0) everywhere
        return 0.0
    x = x / rms
    peak = x.max(axis=1, keepdims=True)
    log_mean_exp = peak[:, 0] + np.log(np.mean(np.exp(x - peak), axis=1))
    return float(np.mean(log_mean_exp))


def etran_terms(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> ETranTerms:
    """Compute ETran's classification and energy terms of one source (see the module docstring)."""
    f, y, _ = prepare_inputs(features, labels, source_logits)  # unused logits are still validated
    scored = held_out(y)
    if not scored.any():
        raise MetricError(
            "ETran needs a class with at least two images (one is held out to score the "
            "classification term); every class has a single image"
        )
    z, dim = span_coordinates(f)
    log_post = log_posteriors(z, y, pooled_shrinkage(z, y, dim), dim)
    classification = float(np.mean(np.exp(log_post[scored, y[scored]])))
    return ETranTerms(classification, energy_score(f))


@guarded("ETran")
def etran(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """Per-source ETran score in [0, 1]: 0.85 x held-out LDA posterior + 0.15 x squashed feature energy."""
    return finite_score(etran_terms(features, labels, source_logits).total, "ETran")
