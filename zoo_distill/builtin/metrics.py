"""Built-in similarity metrics, registered like any plugin's (implementations: ``zoo_distill.metrics``)."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..metrics import BUILTIN_METRICS


@hookimpl
def register_metrics(register) -> None:
    for metric in BUILTIN_METRICS:
        register(metric)
