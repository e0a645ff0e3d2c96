"""The pluggy hook specifications: the public interface for zoo-distill plugins.

Every hook receives a ``register`` callback and calls it once per thing it contributes.
Built-in plugins use exactly these hooks, so a third-party plugin can do anything a
built-in one does. Each hook is called once through pluggy, which orders the implementations:
built-ins first, then plugins' ``tryfirst``, plain and ``trylast`` ones (see ``manager.py``).
These names and signatures are a public API: changing them needs a version bump and a
changelog entry.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

__all__ = [
    "PROJECT_NAME",
    "register_aggregators",
    "register_methods",
    "register_metrics",
    "register_sources",
    "register_zoo_entries",
]

PROJECT_NAME = "zoo_distill"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_sources(register: Callable) -> None:
    """Register source providers: call ``register(SourceProvider(...))`` for each provider kind
    (e.g. ``timm``, ``hf-hub``, ``local``) that turns a zoo entry into a frozen Teacher."""


@hookspec
def register_metrics(register: Callable) -> None:
    """Register task-similarity metrics: call ``register(Metric(...))`` for each; a metric scores a
    source from its features/pseudo-labels on the labeled target set, higher is better."""


@hookspec
def register_aggregators(register: Callable) -> None:
    """Register aggregation strategies: call ``register(Aggregator(...))`` for each; an aggregator
    maps per-source scores to weights alpha that sum to 1 (``nearest``, ``weighted``, ...)."""


@hookspec
def register_methods(register: Callable) -> None:
    """Register training methods: call ``register(Method(...))`` for each; a method has a name (a run
    spec's ``method``: ``distill``, ``finetune``, ...), an options dataclass set with ``--method-opt
    KEY=VALUE`` and a factory that builds its training objective from the run's plain inputs."""


@hookspec
def register_zoo_entries(register: Callable) -> None:
    """Register zoo entries: call ``register(ZooEntry(...))`` for each source model the plugin
    contributes (e.g. its Hub-hosted teachers); they join the entries of the zoo file."""
