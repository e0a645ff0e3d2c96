"""Built-in similarity metrics, registered like any plugin's (implementations: ``zoo_distill.ranking.metrics``)."""

from __future__ import annotations

from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.ranking.metrics import BUILTIN_METRICS

__all__ = ["register_metrics"]


@hookimpl
def register_metrics(register) -> None:
    for metric in BUILTIN_METRICS:
        register(metric)
