"""The 0.1 import path of the hook specs, kept for plugins written against it.

New code imports ``zoo_distill.plugin`` (``hookimpl``, ``Metric``, ...); the specs live in
``zoo_distill.plugin.hookspecs``.
"""

from zoo_distill.plugin.hookspecs import (
    PROJECT_NAME,
    hookimpl,
    hookspec,
    register_aggregators,
    register_metrics,
    register_sources,
    register_zoo_entries,
)

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "register_aggregators",
    "register_metrics",
    "register_sources",
    "register_zoo_entries",
]
