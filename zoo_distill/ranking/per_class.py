"""Per-class source scores and weights (``run --source-weights class``): each source counts on the
classes it knows.

DistillWeighted scores each source on the whole task and gives it one weight alpha_s. When a
task's classes come from two domains (five digits and five Greek letters), no source is good on
all of it: the whole-task scores of the digits teacher and the Greek teacher are both middling,
and alpha can end up on a third source that is mediocre on every class. Here every source is
scored once per class, and the run's aggregator weighs the sources class by class:

    A[s, c] = aggregate({s: score_s(c) for every source s})[s]

``score_s(c)`` is the class's share of LEEP (the mean over class c's labeled images of the log
expected empirical prediction of their label) when every source has a classifier head: a teacher's
head tells its own classes apart, which is what marks the expert of one half of a mixed task. When a
source has no head, every source is scored by the mean leave-one-out average precision of class c's
images among the labeled images, ranked by cosine similarity of its features (scale-free, so any
feature sizes compare). An image's weight on source s is then ``sum_c q_c A[s, c]``, q its one-hot
label (labeled images) or the student's softmax on its weak view (unlabeled images), so every
image's weights sum to 1, as alpha's do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from zoo_distill.plugin.returns import PluginOutputError, check_weights
from zoo_distill.ranking.aggregators import active_weights
from zoo_distill.ranking.metrics._common import leep_per_sample, softmax

__all__ = [
    "class_average_precision",
    "class_leep",
    "class_scores",
    "class_weights",
    "comparable_scores",
    "effective_alpha",
    "per_class_alpha",
]

Aggregate = Callable[[Mapping[str, float]], Mapping[str, float]]


def _per_class_mean(values: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        mine = (labels == c) & np.isfinite(values)
        if mine.any():
            out[c] = values[mine].mean()
    return out


def class_leep(logits: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """[n_classes] each class's mean log expected empirical prediction (LEEP = their weighted mean);
    NaN for a class with no labeled image."""
    labels = np.asarray(labels)
    return _per_class_mean(leep_per_sample(softmax(np.asarray(logits, dtype=np.float64)), labels), labels, n_classes)


def class_average_precision(features: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """[n_classes] mean leave-one-out average precision per class; NaN for a class with fewer
    than two labeled images (the left-out image has nothing of its class to find)."""
    labels = np.asarray(labels)
    x = np.asarray(features, dtype=np.float64).reshape(len(labels), -1)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    same = labels[None, :] == labels[:, None]
    # every other image, nearest first (self last); among equally near ones the other classes' first,
    # so features that cannot tell images apart score low on every class, not high on the first ones
    order = np.lexsort((same, -sim), axis=1)[:, :-1]
    relevant = np.take_along_axis(same, order, axis=1)
    hits = np.cumsum(relevant, axis=1)
    n_relevant = relevant.sum(axis=1)
    precision_sum = (relevant * hits / np.arange(1, order.shape[1] + 1)).sum(axis=1)
    ap = np.where(n_relevant > 0, precision_sum / np.maximum(n_relevant, 1), np.nan)
    return _per_class_mean(ap, labels, n_classes)


def class_scores(
    features: np.ndarray, logits: np.ndarray | None, labels: np.ndarray, n_classes: int
) -> dict[str, list[float]]:
    """One source's per-class scores: ``"average precision"`` always, ``"leep"`` if it has logits."""
    out = {"average precision": class_average_precision(features, labels, n_classes).tolist()}
    if logits is not None:
        out["leep"] = class_leep(logits, labels, n_classes).tolist()
    return out


def comparable_scores(per_source: Mapping[str, Mapping[str, list[float]]]) -> tuple[str, dict[str, np.ndarray]]:
    """``(kind, {source: [n_classes] scores})`` of one kind for every source: LEEP if every source
    has it (a head), else average precision (one scale within a class)."""
    kind = "leep" if all("leep" in by for by in per_source.values()) else "average precision"
    n_classes = max((len(v) for by in per_source.values() for v in by.values()), default=0)
    # a source whose per-class scores failed has none: its classes take the whole-task alpha
    return kind, {s: np.asarray(by.get(kind, [np.nan] * n_classes), dtype=np.float64) for s, by in per_source.items()}


def class_weights(
    scores: Mapping[str, np.ndarray], aggregate: Aggregate, fallback: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """``{source: [n_classes] weights}``: the aggregator applied class by class to the sources'
    scores on that class; a class some source has no score on takes ``fallback`` (the whole-task
    alpha). Every class's weights sum to 1: what ``aggregate`` returns is checked like any aggregator's
    (``plugin.returns.check_weights``), a PluginOutputError naming the class otherwise."""
    sources = list(scores)
    table = np.stack([np.asarray(scores[s], dtype=np.float64) for s in sources])  # [S, C]
    total = sum(fallback.get(s, 0.0) for s in sources)
    if total <= 0:
        raise ValueError("the fallback weights give nothing to the sources with scores")
    columns = []
    for c in range(table.shape[1]):
        if np.all(np.isfinite(table[:, c])):
            try:
                weights = check_weights(aggregate({s: float(table[k, c]) for k, s in enumerate(sources)}), sources)
            except PluginOutputError as exc:
                raise PluginOutputError(f"on class {c}: {exc}") from None
            columns.append([weights[s] for s in sources])
        else:
            columns.append([fallback.get(s, 0.0) / total for s in sources])
    matrix = np.asarray(columns, dtype=np.float64).T  # [S, C]
    return {s: matrix[k] for k, s in enumerate(sources)}


def effective_alpha(
    weights: Mapping[str, np.ndarray], threshold: float
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Drop the sources that weigh less than ``threshold`` on every class (they cost nothing), make
    each class's weights sum to 1 again, and report each source's mean weight over the classes: the
    run's alpha, comparable with a whole-task alpha."""
    kept = {s: np.asarray(w, dtype=np.float64) for s, w in weights.items() if np.max(w) >= threshold}
    if not kept:
        raise ValueError("every source weight is zero (or below the threshold): nothing to distill from")
    total = np.sum(list(kept.values()), axis=0)
    if np.any(total <= 0):
        empty = ", ".join(str(c) for c in np.flatnonzero(total <= 0))
        raise ValueError(f"no source weighs at least the threshold {threshold} on class(es) {empty}")
    kept = {s: w / total for s, w in kept.items()}
    return {s: float(w.mean()) for s, w in kept.items()}, kept


def per_class_alpha(
    class_scores: Mapping[str, Mapping[str, list[float]]],
    aggregate: Aggregate,
    alpha: Mapping[str, float],
    threshold: float,
) -> tuple[str, dict[str, float], dict[str, np.ndarray]]:
    """A run's per-class source weights: ``(kind of score, alpha, {source: [classes]})``.

    ``class_scores``: each source's per-class scores by kind (``SourceScore.class_scores``);
    ``aggregate``: the run's aggregator with its options, applied class by class; ``alpha``: the
    whole-task weights, each class's fallback (they must not all be zero); ``threshold``: sources
    below it on every class are dropped. A weight that is not finite and >= 0 is a ValueError."""
    active_weights(alpha, 0.0)
    kind, by_class = comparable_scores(class_scores)

    def checked(scores: Mapping[str, float]) -> Mapping[str, float]:
        weights = aggregate(scores)
        if not all(math.isfinite(w) and w >= 0 for w in weights.values()):
            raise ValueError(f"weights must be finite and >= 0 on every class, got {dict(weights)}")
        active_weights(weights, 0.0)
        return weights

    alpha, table = effective_alpha(class_weights(by_class, checked, alpha), threshold)
    return kind, alpha, table
