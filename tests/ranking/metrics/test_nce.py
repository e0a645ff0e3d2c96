"""NCE on hand-worked toys."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics import MetricError
from zoo_distill.ranking.metrics.nce import nce


def logits_for(z: list[int], k: int = 3) -> np.ndarray:
    return np.eye(k)[z] * 5.0


def test_perfect_correspondence_is_zero():
    y = np.array([0, 0, 1, 1, 2])
    assert nce(None, y, logits_for([2, 2, 0, 0, 1])) == pytest.approx(0.0, abs=1e-15)


def test_independent_is_minus_log_c():
    y = np.array([0, 0, 1, 1])
    assert nce(None, y, logits_for([0, 1, 0, 1])) == pytest.approx(-np.log(2), rel=1e-12)
    y3 = np.repeat(np.arange(3), 3)
    z3 = np.tile(np.arange(3), 3)
    assert nce(None, y3, logits_for(list(z3))) == pytest.approx(-np.log(3), rel=1e-12)


def test_hand_worked_partial():
    # z = 0 for all; y = (0, 0, 1): -H(Y|Z) = 2/3 log(2/3) + 1/3 log(1/3)
    y = np.array([0, 0, 1])
    expected = 2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)
    assert nce(None, y, logits_for([0, 0, 0])) == pytest.approx(expected, rel=1e-12)
    # z = (0, 0, 1, 1, 1), y = (0, 1, 1, 1, 0): P(y|z=0) = (1/2, 1/2), P(y|z=1) = (1/3, 2/3)
    y = np.array([0, 1, 1, 1, 0])
    expected = 2 / 5 * np.log(1 / 2) + 1 / 5 * np.log(1 / 3) + 2 / 5 * np.log(2 / 3)
    assert nce(None, y, logits_for([0, 0, 1, 1, 1])) == pytest.approx(expected, rel=1e-12)


def test_without_logits_raises():
    with pytest.raises(MetricError, match="NCE needs the source model's logits"):
        nce(np.zeros((3, 2)), np.array([0, 1, 1]), None)
