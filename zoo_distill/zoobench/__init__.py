"""zoobench: the project's own offline model zoo and targets, built on this machine from a seed.

A generic ("ImageNet-like") start trained on a shallow mixture of every source domain, one larger
teacher per source domain fine-tuned from it, and few-label targets (some close to one source,
some needing several, one of real handwritten digits). ``zoo-distill demo build`` makes it;
``zoo-distill demo`` and the accuracy benchmarks (``benchmarks/``, outside the package) use it, through
``workspace`` (the built zoo opened) and ``comparison`` (a method as a dict of overrides → its run).
"""

from zoo_distill.zoobench.build import ZoobenchBuild, build_zoobench
from zoo_distill.zoobench.spec import (
    PRESETS,
    SOURCE_DOMAINS,
    TARGETS,
    TargetSpec,
    TargetSplits,
    ZoobenchSettings,
    target_spec,
)

__all__ = [
    "PRESETS",
    "SOURCE_DOMAINS",
    "TARGETS",
    "TargetSpec",
    "TargetSplits",
    "ZoobenchBuild",
    "ZoobenchSettings",
    "build_zoobench",
    "target_spec",
]
