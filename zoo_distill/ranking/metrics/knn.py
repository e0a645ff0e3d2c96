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

The result equals ``KNeighborsClassifier(k)`` on the normalised features under ``LeaveOneOut``.
For speed the N x N similarities are screened in float32 (half the cost of float64 on CPU);
every candidate within the float32 rounding bound of the k-th best is then re-scored in
float64, so the chosen neighbours are exactly those of a float64 computation.
"""

from __future__ import annotations

import numpy as np

from zoo_distill.plugin.types import FEATURES, Metric
from zoo_distill.ranking.metrics._common import MetricError, finite_score, guarded, power_of_two_scaled, prepare_inputs

_BLOCK_ELEMENTS = 1 << 23  # similarities held at once (float32: 32 MiB)
_PAIR_CHUNK = 4096


def _exact_dots(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.empty(rows.shape[0])
    for s in range(0, rows.shape[0], _PAIR_CHUNK):
        r, c = rows[s:s + _PAIR_CHUNK], cols[s:s + _PAIR_CHUNK]
        out[s:s + _PAIR_CHUNK] = np.einsum("ij,ij->i", x[r], x[c])
    return out


def nearest_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """Indices [N, k] of each row's k most similar other rows (by float64 dot product, ties: lower index)."""
    n, d = x.shape
    x32 = x.astype(np.float32)
    unit_eps = 2.0 ** -24
    norms = np.linalg.norm(x, axis=1)
    scale = float(norms.max()) ** 2 if n else 1.0
    margin = 2.0 * 1.01 * (d + 3) * unit_eps * scale + 1e-12 * scale
    block = max(1, min(n, _BLOCK_ELEMENTS // max(n, 1)))
    out = np.empty((n, k), dtype=np.int64)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        idx = np.arange(r1 - r0)
        sim = x32[r0:r1] @ x32.T
        sim[idx, r0 + idx] = -np.inf
        kth = -np.partition(-sim, k - 1, axis=1)[:, k - 1]
        rows, cols = np.nonzero(sim >= (kth - margin)[:, None])
        if rows.shape[0] > 32 * (r1 - r0) * k:  # degenerate data (many near-duplicates): plain float64
            exact64 = x[r0:r1] @ x.T
            exact64[idx, r0 + idx] = -np.inf
            rows, cols = np.nonzero(np.isfinite(exact64))
            exact = exact64[rows, cols]
        else:
            exact = _exact_dots(x, r0 + rows, cols)
        order = np.lexsort((cols, -exact, rows))  # by row, then similarity desc, then index
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, idx)
        take = starts[:, None] + np.arange(k)[None, :]
        out[r0:r1] = cols[take]
    return out


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


METRIC = Metric(
    name="knn",
    fn=knn,
    needs=(FEATURES,),
    reference="leave-one-out k-nearest-neighbour accuracy (k=1, cosine) on the labeled target set",
    description="leave-one-out 1-nearest-neighbour accuracy on L2-normalised features",
)
