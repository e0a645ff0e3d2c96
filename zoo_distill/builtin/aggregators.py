"""Built-in aggregators (nearest, weighted, uniform), registered like any plugin's.

The strategies themselves live in ``zoo_distill.ranking.aggregators``; this module only registers them.
"""

from __future__ import annotations

from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.ranking.aggregators import AGGREGATORS

__all__ = ["register_aggregators"]


@hookimpl
def register_aggregators(register) -> None:
    for aggregator in AGGREGATORS:
        register(aggregator)
