"""The ranking defaults that `rank`, `run` and the Python API share (no heavy imports)."""

from __future__ import annotations

__all__ = ["DEFAULT_PRIMARY_METRIC"]

#: The metric that sorts the ranking and feeds the aggregator when none is named.
#: LogME misranks when N < D (few labels); see docs/metrics.md.
DEFAULT_PRIMARY_METRIC = "knn"
