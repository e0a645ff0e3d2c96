"""FreeMatch and SoftMatch as baselines: FixMatch's views, batch and budget, other pseudo-labelling.

Only how an unlabeled image's pseudo-label is admitted differs from ``fixmatch.py`` (the state of each
lives in ``freematch.py`` / ``softmatch.py``), so the three baselines compare the pseudo-labelling rules
and nothing else: the same student, labeled/weak/strong views, mu, lambda_u and steps. The state is a
module of the objective, so checkpoints carry it and ``--resume`` continues it.
"""

from __future__ import annotations

import torch

from zoo_distill.plugin.types import MethodSetup
from zoo_distill.training.methods.fixmatch import FixMatch
from zoo_distill.training.methods.freematch import FreeMatchThresholds
from zoo_distill.training.methods.options import FreeMatchOptions, SoftMatchOptions
from zoo_distill.training.methods.softmatch import SoftMatchWeights

__all__ = ["FreeMatch", "SoftMatch", "build_freematch", "build_softmatch"]


class FreeMatch(FixMatch):
    """FixMatch with FreeMatch's self-adaptive thresholds and fairness term."""

    config: FreeMatchOptions  # the registry builds it with its own options (``setup.options``)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state = FreeMatchThresholds(self.student.num_classes, self.config.ema)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {**super().modules(), "freematch": self.state}

    def unlabeled_loss(self, weak, strong):
        out = self.state.losses(weak, strong)
        return (
            out["loss_unsup"],
            self.config.lambda_f * out["loss_fair"],
            {
                "mask": out["mask"].mean(),
                "loss_fair": out["loss_fair"].detach(),
                "threshold": self.state.global_threshold.detach().clone(),
            },
        )


class SoftMatch(FixMatch):
    """FixMatch with SoftMatch's truncated-Gaussian weights and distribution alignment."""

    config: SoftMatchOptions  # the registry builds it with its own options (``setup.options``)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state = SoftMatchWeights(self.student.num_classes, self.config.ema, self.config.n_sigma)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {**super().modules(), "softmatch": self.state}

    def unlabeled_loss(self, weak, strong):
        out = self.state.losses(weak, strong)
        return out["loss_unsup"], 0.0, {"mask": out["mask"].mean()}


def _build(cls, setup: MethodSetup):
    return cls(
        setup.student,
        setup.labeled,
        setup.labels,
        setup.unlabeled,
        setup.device,
        setup.policy,
        setup.options,
        name=cls.__name__.lower(),
    )


def build_freematch(setup: MethodSetup) -> FreeMatch:
    return _build(FreeMatch, setup)


def build_softmatch(setup: MethodSetup) -> SoftMatch:
    return _build(SoftMatch, setup)
