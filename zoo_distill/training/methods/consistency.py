"""FixMatch-style consistency on unlabeled images, shared by the FixMatch baseline and distillation.

A weak view's confident prediction (softmax maximum >= threshold) becomes a hard pseudo-label
that the model must predict on a strong view of the same image (weak augmentation + RandAugment
+ Cutout; drawn by ``data/view_params.strong_views``, made on the device by ``data/render.py``), as
in Sohn et al. (NeurIPS 2020) and microsoft USB's ``semilearn/algorithms/fixmatch``.
One implementation, so that ``baseline fixmatch`` and ``run --method-opt unlabeled_loss=fixmatch`` train the
very same term and their comparison measures the teachers, not two versions of FixMatch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.view_params import ViewParams, strong_views
from zoo_distill.training.methods.options import FixMatchOptions

__all__ = ["StrongViews", "consistency_loss"]


class StrongViews:
    """The strong views' parameters of a step's unlabeled images: a fresh weak view (the view policy),
    then RandAugment's ops, then Cutout, every draw from the step's generator."""

    def __init__(self, policy: ViewPolicy, config: FixMatchOptions) -> None:
        self.policy, self.config = policy, config

    @property
    def magnitude(self) -> int:
        return self.config.randaugment_magnitude

    def draw(self, rng: np.random.Generator, sizes: np.ndarray) -> ViewParams:
        """Strong views of images with own ``sizes`` (``[n, 2]``), made from batch rows ``0 .. n-1``."""
        return strong_views(rng, sizes, self.policy, self.config.randaugment_ops, self.config.cutout)


def consistency_loss(
    weak: torch.Tensor, strong: torch.Tensor, threshold: float, prior: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """FixMatch's unlabeled term and its mask (1 where the weak view's pseudo-label is confident).

    Pseudo-labels come from the detached weak logits; the loss is averaged over all unlabeled
    images (masked ones count as 0), as in USB, so it is exactly 0 when nothing is confident.
    ``prior`` ([n, classes] probabilities of another predictor on the weak views, e.g. the teacher
    probes of ``unlabeled_loss=fixmatch-teachers``) multiplies the weak prediction before the
    threshold: the normalised product is confident where one is sure and the other does not object.
    """
    with torch.no_grad():
        if prior is None:
            p = torch.softmax(weak.detach().float(), dim=1)
        else:
            p = torch.softmax(
                torch.log_softmax(weak.detach().float(), dim=1) + prior.detach().float().clamp_min(1e-12).log(), dim=1
            )
        confidence, pseudo = p.max(dim=1)
        mask = (confidence >= threshold).float()
    return (F.cross_entropy(strong, pseudo, reduction="none") * mask).mean(), mask
