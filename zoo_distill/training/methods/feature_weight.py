"""How much the feature-distillation term counts: opt-in guards against negative transfer.

When the zoo is far from the target, pulling the student towards the teachers' features can
leave it below what consistency training alone reaches. Two independent controls on lambda
(``DistillConfig.lam_schedule`` and ``.lam_scale``), both off by default:

- a schedule: lambda(t) = lambda * s(t) for t = global step / total steps in [0, 1); ``linear``
  s = 1 - t and ``cosine`` s = (1 + cos(pi t)) / 2 decay to 0, so the teachers shape the early
  representation and the labels and pseudo-labels alone decide the end of training;
- a per-source scale: source s's term is weighted alpha_s * r_s, with r_s the leave-one-out
  1-nearest-neighbour accuracy of its features on the labeled images (the ``knn`` metric, on the
  plain view) rescaled so that chance (1/C) is 0 and perfect is 1. alpha only says which sources
  are *relatively* best; r_s says whether a source is any good in absolute terms, whatever metric
  and aggregator produced alpha, so a zoo whose features do not separate the target classes
  drops out and leaves plain consistency training.
"""

from __future__ import annotations

import math

import numpy as np

from zoo_distill.ranking.metrics.knn import knn
from zoo_distill.training.config import LAMBDA_SCHEDULES

__all__ = ["knn_relevance", "relevance_from_accuracy", "schedule_factor"]


def schedule_factor(schedule: str, progress: float) -> float:
    """The factor on lambda at ``progress`` = global step / total steps (1 at the start)."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must lie in [0, 1], got {progress}")
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lambda schedule {schedule!r}; known: {', '.join(LAMBDA_SCHEDULES)}")


def relevance_from_accuracy(accuracy: float, n_classes: int) -> float:
    """Accuracy rescaled so that chance (1 / n_classes) is 0 and 1.0 is 1, clipped to [0, 1]."""
    if n_classes < 2:
        raise ValueError(f"relevance needs at least 2 classes, got {n_classes}")
    chance = 1.0 / n_classes
    return float(min(1.0, max(0.0, (accuracy - chance) / (1.0 - chance))))


def knn_relevance(features: np.ndarray, labels: np.ndarray) -> float:
    """r_s of one source: its kNN accuracy on the labeled images above chance, in [0, 1].

    Needs two labeled images of a class for any of them to count: with one label per class the
    left-out image has no neighbour of its own class and r_s is 0.
    """
    labels = np.asarray(labels)
    return relevance_from_accuracy(knn(np.asarray(features, dtype=np.float64), labels), len(np.unique(labels)))
