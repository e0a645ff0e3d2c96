"""FixMatch-style consistency on unlabeled images, shared by the FixMatch baseline and distillation.

A weak view's confident prediction (softmax maximum >= threshold) becomes a hard pseudo-label
that the model must predict on a strong view of the same image (weak augmentation + RandAugment
+ Cutout), as in Sohn et al. (NeurIPS 2020) and microsoft USB's ``semilearn/algorithms/fixmatch``.
One implementation, so that ``baseline fixmatch`` and ``run --method-opt unlabeled_loss=fixmatch`` train the
very same term and their comparison measures the teachers, not two versions of FixMatch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torchvision.transforms import RandAugment

from zoo_distill.data.views import ViewPolicy, augment
from zoo_distill.training.methods.options import FixMatchOptions

__all__ = ["StrongViews", "consistency_loss", "cutout"]


def cutout(image: Image.Image, rng: np.random.Generator, max_fraction: float) -> Image.Image:
    """Grey out a random square (side up to ``max_fraction`` of the image)."""
    w, h = image.size
    side = int(rng.uniform(0, max_fraction) * min(w, h))
    if side < 1:
        return image
    x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
    out = image.copy()
    ImageDraw.Draw(out).rectangle(
        [x0 - side // 2, y0 - side // 2, x0 + side // 2, y0 + side // 2], fill=(127, 127, 127)
    )
    return out


class StrongViews:
    """Strong views: a fresh weak view (the view policy), then RandAugment, then Cutout.

    Crop, colour and Cutout draw from the step's numpy generator. torchvision's RandAugment draws
    from torch's global generator; ``seeded`` calls first fork it and seed it from the step's
    generator, so the pixels depend on (seed, epoch, step) only and leave the global stream alone.
    """

    def __init__(self, policy: ViewPolicy, config: FixMatchOptions) -> None:
        self.policy, self.config = policy, config
        self.randaugment = RandAugment(config.randaugment_ops, config.randaugment_magnitude)

    def one(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        """One strong view; RandAugment's choices come from torch's global generator."""
        return cutout(self.randaugment(augment(image, rng, self.policy)), rng, self.config.cutout)

    def seeded(self, images: Sequence[Image.Image], rng: np.random.Generator) -> list[Image.Image]:
        """Strong views of ``images`` whose every random draw comes from ``rng``."""
        torch_seed = int(rng.integers(0, 2**63 - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            return [self.one(image, rng) for image in images]


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
