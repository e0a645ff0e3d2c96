"""Built-in methods (distill, finetune, fixmatch), registered like any plugin's.

The options dataclasses import without torch; each factory imports its objective's module only when a
run builds it, so ``zoo-distill plugins`` and ``run --help`` stay light.
"""

from __future__ import annotations

from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.types import Method, MethodSetup
from zoo_distill.training.methods.options import DistillOptions, FineTuneOptions, FixMatchOptions

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


METHODS = (
    Method("distill", DistillOptions, _distill, uses_teachers=True, uses_unlabeled=True,
           description="DistillWeighted / DistillNearest (by the aggregator): CE + weighted feature term + "
                       "consistency with the teachers' probe"),
    Method("finetune", FineTuneOptions, _finetune, description="the student trained on the labeled images only"),
    Method("fixmatch", FixMatchOptions, _fixmatch, uses_unlabeled=True,
           description="FixMatch (Sohn et al. 2020) on labeled + unlabeled images"),
)


@hookimpl
def register_methods(register) -> None:
    for method in METHODS:
        register(method)
