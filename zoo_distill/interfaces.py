"""The 0.1 import path of the plugin contracts, kept for plugins written against it.

New code imports them from ``zoo_distill.plugin`` (defined in ``zoo_distill.plugin.types``).
"""

from zoo_distill.plugin.types import (
    FEATURES,
    LOGITS,
    Aggregator,
    EntryFieldError,
    Metric,
    SourceProvider,
    Teacher,
    TeacherIdentity,
    ZooEntry,
)

__all__ = [
    "FEATURES",
    "LOGITS",
    "Aggregator",
    "EntryFieldError",
    "Metric",
    "SourceProvider",
    "Teacher",
    "TeacherIdentity",
    "ZooEntry",
]
