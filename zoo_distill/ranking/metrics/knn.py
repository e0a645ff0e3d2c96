"""Leave-one-out k-nearest-neighbour accuracy of the target labels in the source's feature space.

A simple, assumption-free proxy for how well the features separate the target classes; used as
a baseline source-similarity score next to the transferability metrics in Borup et al.,
"Distilling from Similar Tasks for Transfer Learning on a Budget", ICCV 2023 (nearest-neighbour
accuracy is the classic "does the representation already cluster the classes" probe).

Choices: k = 1 by default (no vote ties, so the score is invariant to how classes are named, and
it needs only one other sample of a class, which suits few labels); Euclidean distance on
L2-normalised features (i.e. cosine similarity, insensitive to the feature norms that differ
wildly between architectures); a sample never counts as its own neighbour. For k > 1 the
majority vote breaks ties towards the lowest class index, like scikit-learn.

The neighbours come from scikit-learn's ``NearestNeighbors.kneighbors()`` called without a
query, which leaves each sample out of its own neighbours, so the result equals
``KNeighborsClassifier(k)`` on the normalised features under ``LeaveOneOut`` by construction.
Neighbours at exactly the same distance (duplicated images) are ordered as scikit-learn orders
them, not necessarily by index; with k = 1 and duplicates in different classes this can decide
a sample, as it does for scikit-learn's own classifier.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics._common import MetricError, finite_score, guarded, power_of_two_scaled, prepare_inputs

__all__ = ["knn", "nearest_neighbours"]


def nearest_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """Indices [N, k] of each row's k nearest other rows (Euclidean, float64), nearest first."""
    from sklearn.neighbors import NearestNeighbors  # imported when a metric runs, not when listed

    index = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(x)
    return index.kneighbors(return_distance=False)


@guarded("kNN")
def knn(features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None = None, k: int = 1) -> float:
    """Leave-one-out k-NN accuracy in [0, 1] (cosine / normalised-Euclidean neighbours)."""
    f, y, _ = prepare_inputs(features, labels, source_logits)
    n = f.shape[0]
    if k < 1:
        raise MetricError(f"k must be >= 1; got {k}")
    k = min(int(k), n - 1)
    f, _ = power_of_two_scaled(f)  # row norms of 1e200-sized features would overflow
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    x = f / np.where(norms > 0, norms, 1.0)
    neigh = nearest_neighbours(x, k)
    if k == 1:
        pred = y[neigh[:, 0]]
    else:
        votes = np.zeros((n, int(y.max()) + 1))
        np.add.at(votes, (np.repeat(np.arange(n), k), y[neigh].reshape(-1)), 1.0)
        pred = votes.argmax(axis=1)
    return finite_score(np.mean(pred == y), "kNN")
