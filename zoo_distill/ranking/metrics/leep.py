"""LEEP: log expected empirical prediction of the source classifier on the target labels.

Nguyen, Hassner, Seeger, Archambeau. "LEEP: A New Measure to Evaluate Transferability of
Learned Representations", ICML 2020. One of the source-similarity scores considered by
Borup et al., "Distilling from Similar Tasks for Transfer Learning on a Budget", ICCV 2023.

With theta = softmax(source logits) [N, K] as dummy-label distributions, the empirical joint
is P(y, z) = (1/N) sum_{i: y_i = y} theta_iz, the conditional P(y | z) = P(y, z) / P(z), and

    LEEP = (1/N) sum_i log sum_z P(y_i | z) theta_iz.

It is the average log-likelihood of the "expected empirical predictor" that re-labels the
source classes with target classes; it needs the source head's logits, not the features.
A source class z that no target sample puts mass on (P(z) = 0, e.g. softmax underflow) is
masked rather than divided by; a tiny epsilon inside the log keeps the score finite.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import (
    finite_score,
    guarded,
    leep_from_probabilities,
    prepare_logit_inputs,
    softmax,
)

__all__ = ["leep"]


@guarded("LEEP")
def leep(features: np.ndarray | None, labels: np.ndarray, source_logits: np.ndarray | None = None) -> float:
    """LEEP score in (-inf, 0]; 0 means the source classes predict the target labels perfectly."""
    y, logits = prepare_logit_inputs(labels, source_logits, "LEEP")
    return finite_score(leep_from_probabilities(softmax(logits), y), "LEEP")
