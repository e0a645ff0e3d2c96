"""Built-in task-similarity (transferability) metrics, higher is better for all of them.

Borup, Phoo, Hariharan. "Distilling from Similar Tasks for Transfer Learning on a Budget",
ICCV 2023, rank and weight a zoo of source models by how well each one's representation of the
few labeled target images fits the target labels. Each module here implements one such score
as a plain function plus a module-level :class:`~zoo_distill.plugin.types.Metric`.
"""

from __future__ import annotations

from zoo_distill.plugin.types import Metric
from zoo_distill.ranking.metrics import gbc, hscore, knn, leep, linear, logme, nce, nleep
from zoo_distill.ranking.metrics._common import MetricError, prepare_inputs
from zoo_distill.ranking.metrics.etran import METRIC as ETRAN
from zoo_distill.ranking.metrics.ncti import METRIC as NCTI
from zoo_distill.ranking.metrics.sfda import METRIC as SFDA

#: The metrics registered by ``zoo_distill.builtin.metrics``, in display order.
BUILTIN_METRICS: list[Metric] = [
    logme.METRIC,
    leep.METRIC,
    nce.METRIC,
    nleep.METRIC,
    hscore.METRIC,
    gbc.METRIC,
    knn.METRIC,
    linear.METRIC,
    SFDA,
    NCTI,
    ETRAN,
]

__all__ = ["BUILTIN_METRICS", "MetricError", "prepare_inputs"]
