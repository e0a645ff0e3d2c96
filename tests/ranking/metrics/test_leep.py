"""LEEP on a toy worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics import MetricError
from zoo_distill.ranking.metrics.leep import leep

# 3 samples, 2 source classes, 2 target classes; logits = log(theta) so softmax gives theta back.
THETA = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
LABELS = np.array([0, 0, 1])
# P(y, z) = 1/3 * sums of theta rows per label: y=0 -> (1.2, 0.8)/3, y=1 -> (0.3, 0.7)/3
# P(z) = (0.5, 0.5);  P(y=0|z) = (0.8, 8/15),  P(y=1|z) = (0.2, 7/15)
# sample 0: 0.8*0.8 + 0.2*8/15 = 56/75;  sample 1: 0.4*0.8 + 0.6*8/15 = 16/25;
# sample 2: 0.3*0.2 + 0.7*7/15 = 29/75
EXPECTED = (np.log(56 / 75) + np.log(16 / 25) + np.log(29 / 75)) / 3


def test_hand_worked_toy():
    assert leep(None, LABELS, np.log(THETA)) == pytest.approx(EXPECTED, rel=1e-9)
    assert EXPECTED == pytest.approx(-0.5628719, abs=1e-6)


def test_logit_shift_invariant_and_features_ignored():
    logits = np.log(THETA) + np.array([[3.0], [-2.0], [40.0]])  # per-row shifts leave softmax unchanged
    features = np.full((3, 4), np.nan)  # LEEP never reads the features
    assert leep(features, LABELS, logits) == pytest.approx(EXPECTED, rel=1e-9)


def test_empty_source_column_is_masked():
    """A source class with zero probability everywhere (P(z) = 0) must not divide by zero."""
    logits = np.concatenate([np.log(THETA), np.full((3, 1), -1e4)], axis=1)  # exp underflows to 0
    value = leep(None, LABELS, logits)
    assert np.isfinite(value)
    assert value == pytest.approx(EXPECTED, rel=1e-9)


def test_perfect_source_scores_zero():
    logits = np.array([[50.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    assert leep(None, LABELS, logits) == pytest.approx(0.0, abs=1e-12)


def test_without_logits_raises():
    with pytest.raises(MetricError, match="LEEP needs the source model's logits"):
        leep(np.zeros((3, 2)), LABELS, None)
