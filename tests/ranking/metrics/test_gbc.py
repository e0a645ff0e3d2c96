"""GBC: a hand-worked 1-D case, and separation ordering."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics import MetricError
from zoo_distill.ranking.metrics.gbc import gbc


def test_hand_worked_one_dimension():
    # class 0: {0, 2} -> mean 1, var 1;  class 1: {10, 14} -> mean 12, var 4 (population variances)
    f = np.array([[0.0], [2.0], [10.0], [14.0]])
    y = np.array([0, 0, 1, 1])
    avg = (1.0 + 4.0) / 2
    distance = (12 - 1) ** 2 / (8 * avg) + 0.5 * np.log(avg / np.sqrt(1.0 * 4.0))
    assert gbc(f, y) == pytest.approx(-2 * np.exp(-distance), rel=1e-10)
    spherical = gbc(f, y, gaussian_type="spherical")  # one dimension: identical
    assert spherical == pytest.approx(gbc(f, y), rel=1e-12)


def test_separated_beats_overlapping():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 12)
    centers = rng.normal(size=(5, 30))
    noise = rng.normal(size=(60, 30))
    separated, overlapping = gbc(6.0 * centers[y] + noise, y), gbc(0.3 * centers[y] + noise, y)
    assert -1e-3 < separated <= 0.0
    assert overlapping < separated - 1.0
    assert overlapping >= -5 * 4  # bounded below by -C (C - 1)


def test_singleton_class_uses_pooled_variance():
    """A 1-sample class is not treated as a point mass (which would look perfectly separated)."""
    f = np.array([[0.0], [2.0], [1.5]])
    y = np.array([0, 0, 1])  # class 1 is a singleton right next to class 0
    value = gbc(f, y)
    assert np.isfinite(value) and value < -1.0  # strongly overlapping, as it should be


def test_unknown_gaussian_type():
    with pytest.raises(MetricError, match="gaussian_type"):
        gbc(np.zeros((4, 1)), np.array([0, 0, 1, 1]), gaussian_type="full")
