"""The ranking defaults that `rank`, `run` and the Python API share (no heavy imports).

Two defaults, each chosen on the zoobench of seed 1 by what it is used for (docs/metrics.md):

- the **ranking** metric sorts `rank`'s table and picks DistillNearest's source; what matters is
  the order, so it was chosen by Kendall τ against the single-source students' accuracies;
- the **weighting** metric feeds `weighted`'s softmax; what matters is the weighted student, so it
  was chosen by that student's accuracy (kNN, NCE, LEEP and H-score were within 0.3 points of each
  other there, kNN and NCE tied first; kNN needs no classifier head, so it weighs any zoo).
"""

from __future__ import annotations

__all__ = ["DEFAULT_PRIMARY_METRIC", "DEFAULT_WEIGHTING_METRIC", "RANKING_AGGREGATORS", "default_metric"]

#: The metric that sorts the ranking and picks DistillNearest's source when none is named:
#: NCE had the highest Kendall tau on the zoobench of seed 1 (mean of 5 and 20 labels per class,
#: docs/metrics.md). It reads each source's classifier head; a source without one ranks last.
DEFAULT_PRIMARY_METRIC = "nce"

#: The metric whose scores ``weighted`` (and ``uniform`` and plugins' aggregators) are fed when none
#: is named: it needs features only, so no source drops out for want of a classifier head.
DEFAULT_WEIGHTING_METRIC = "knn"

#: Aggregators that pick the top of the ranking, and so are fed the ranking metric by default.
RANKING_AGGREGATORS = frozenset({"nearest"})


def default_metric(aggregator: str) -> str:
    """The metric ``run`` feeds ``aggregator`` when the user names none."""
    return DEFAULT_PRIMARY_METRIC if aggregator in RANKING_AGGREGATORS else DEFAULT_WEIGHTING_METRIC
