"""Built-in methods (distill, finetune, fixmatch, freematch, softmatch), registered like any plugin's.

The options dataclasses import without torch; each factory imports its objective's module only when a
run builds it, so ``zoo-distill plugins`` and ``run --help`` stay light.
"""

from __future__ import annotations

from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.types import Method, MethodSetup
from zoo_distill.training.methods.options import (
    DistillOptions,
    FineTuneOptions,
    FixMatchOptions,
    FreeMatchOptions,
    SoftMatchOptions,
)

__all__ = ["METHODS", "register_methods"]


def _distill(setup: MethodSetup):
    from zoo_distill.training.methods.distill import build_distill

    return build_distill(setup)


def _finetune(setup: MethodSetup):
    from zoo_distill.training.methods.finetune import build_finetune

    return build_finetune(setup)


def _fixmatch(setup: MethodSetup):
    from zoo_distill.training.methods.fixmatch import build_fixmatch

    return build_fixmatch(setup)


def _freematch(setup: MethodSetup):
    from zoo_distill.training.methods.pseudo_label_methods import build_freematch

    return build_freematch(setup)


def _softmatch(setup: MethodSetup):
    from zoo_distill.training.methods.pseudo_label_methods import build_softmatch

    return build_softmatch(setup)


METHODS = (
    Method(
        "distill",
        DistillOptions,
        _distill,
        uses_teachers=True,
        uses_unlabeled=True,
        description="DistillWeighted / DistillNearest (by the aggregator): CE + weighted feature term + "
        "consistency with the teachers' probe",
    ),
    Method("finetune", FineTuneOptions, _finetune, description="the student trained on the labeled images only"),
    Method(
        "fixmatch",
        FixMatchOptions,
        _fixmatch,
        uses_unlabeled=True,
        description="FixMatch (Sohn et al. 2020) on labeled + unlabeled images",
    ),
    Method(
        "freematch",
        FreeMatchOptions,
        _freematch,
        uses_unlabeled=True,
        description="FreeMatch (Wang et al. 2023): FixMatch with self-adaptive thresholds and class fairness",
    ),
    Method(
        "softmatch",
        SoftMatchOptions,
        _softmatch,
        uses_unlabeled=True,
        description="SoftMatch (Chen et al. 2023): FixMatch with truncated-Gaussian weights and distribution alignment",
    ),
)


@hookimpl
def register_methods(register) -> None:
    for method in METHODS:
        register(method)
