"""What a plugin needs, in one import: the hook marker and the contracts it registers.

    from zoo_distill.plugin import hookimpl, Metric

    @hookimpl
    def register_metrics(register):
        register(Metric("my-metric", my_score, reference="..."))

See docs/plugins.md. (``zoo_distill.hookspecs`` and ``zoo_distill.interfaces``, the 0.1 paths,
still work.)
"""

from zoo_distill.plugin.hookspecs import PROJECT_NAME, hookimpl, hookspec
from zoo_distill.plugin.types import (
    FEATURES,
    LOGITS,
    Aggregator,
    EntryFieldError,
    HubFiles,
    LocalFile,
    Method,
    MethodSetup,
    Metric,
    SourceProvider,
    Teacher,
    TeacherIdentity,
    TeacherOptions,
    ZooEntry,
    method_option,
)

__all__ = [
    "FEATURES",
    "LOGITS",
    "PROJECT_NAME",
    "Aggregator",
    "EntryFieldError",
    "HubFiles",
    "LocalFile",
    "Method",
    "MethodSetup",
    "Metric",
    "SourceProvider",
    "Teacher",
    "TeacherIdentity",
    "TeacherOptions",
    "ZooEntry",
    "hookimpl",
    "hookspec",
    "method_option",
]
