"""The opt-in guards on lambda: the schedule over training and the per-source kNN relevance."""

import itertools
import math

import numpy as np
import pytest

from zoo_distill.training.methods.feature_weight import knn_relevance, relevance_from_accuracy, schedule_factor


def test_constant_schedule_keeps_lambda():
    assert [schedule_factor("constant", t) for t in (0.0, 0.5, 0.99)] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_decaying_schedules_start_at_one_halve_midway_and_end_at_zero(schedule):
    points = np.linspace(0, 1, 21)
    factors = [schedule_factor(schedule, float(t)) for t in points]
    assert factors[0] == 1.0
    assert schedule_factor(schedule, 0.5) == pytest.approx(0.5)
    assert factors[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in itertools.pairwise(factors))  # strictly decreasing


def test_linear_and_cosine_values():
    assert schedule_factor("linear", 0.25) == pytest.approx(0.75)
    assert schedule_factor("cosine", 0.25) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    # cosine keeps the teachers longer early on and lets go faster late
    assert schedule_factor("cosine", 0.2) > schedule_factor("linear", 0.2)
    assert schedule_factor("cosine", 0.8) < schedule_factor("linear", 0.8)


def test_schedule_rejects_unknown_names_and_progress_out_of_range():
    with pytest.raises(ValueError, match="unknown lambda schedule"):
        schedule_factor("step", 0.5)
    with pytest.raises(ValueError, match="progress"):
        schedule_factor("linear", 1.5)


def test_relevance_maps_chance_to_zero_and_perfect_to_one():
    assert relevance_from_accuracy(1.0, 4) == 1.0
    assert relevance_from_accuracy(0.25, 4) == 0.0
    assert relevance_from_accuracy(0.10, 4) == 0.0  # below chance: clipped, never negative
    assert relevance_from_accuracy(0.625, 4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="2 classes"):
        relevance_from_accuracy(1.0, 1)


def circle_features(labels: np.ndarray) -> np.ndarray:
    """Points on a circle where every neighbour has another class: 1-NN is always wrong."""
    classes = int(labels.max()) + 1
    rank = np.array([np.sum(labels[:i] == y) for i, y in enumerate(labels)])
    angle = 2 * np.pi * (classes * rank + labels) / len(labels)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1)


def test_knn_relevance_separates_a_fitting_source_from_a_misleading_one():
    labels = np.repeat(np.arange(3), 6)
    rng = np.random.default_rng(0)
    fitting = np.eye(3)[labels] * 5 + rng.normal(0, 0.1, (18, 3))
    assert knn_relevance(fitting, labels) == 1.0
    assert knn_relevance(circle_features(labels), labels) == 0.0
    # one label per class: no left-out image has a neighbour of its class, so nothing counts
    assert knn_relevance(np.eye(3) * 5, np.arange(3)) == 0.0
