"""The per-image PIL views the toolkit made before the image store, kept as ``bench_pipeline``'s reference.

Until 0.3 every view was a chain of PIL operations on one decoded image after another, in the
DataLoader workers: the view policy's random resized crop, flip and colour jitter, for FixMatch's
strong views RandAugment (torchvision's, on PIL) and a Cutout square, then the consumer's resize,
centre crop, ``ToTensor`` and normalisation. ``bench_pipeline --part input`` times this beside the
store and batched views in one run, so the two figures share a machine and a moment. Nothing in
``zoo_distill`` imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision import transforms

from zoo_distill.data.policy import ViewPolicy

__all__ = ["PilViews"]


class PilViews:
    """Weak and strong views of decoded PIL images, one image at a time, for a consumer of ``side`` px."""

    def __init__(self, policy: ViewPolicy, side: int, crop_pct: float = 0.875, ops: int = 2, magnitude: int = 10):
        self.policy = policy
        self.flip = transforms.RandomHorizontalFlip(0.5 if policy.hflip else 0.0)
        self.jitter = transforms.ColorJitter(policy.brightness, policy.contrast, policy.saturation)
        self.randaugment = transforms.RandAugment(ops, magnitude)
        self.consumer = transforms.Compose(
            [
                transforms.Resize(int(side / crop_pct)),
                transforms.CenterCrop(side),
                transforms.ToTensor(),
                transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
            ]
        )

    def weak(self, image: Image.Image) -> Image.Image:
        """Crop (at the image's own resolution, as the views were made), flip, colour jitter."""
        box = transforms.RandomResizedCrop.get_params(image, list(self.policy.scale), list(self.policy.ratio))
        top, left, h, w = box
        return self.jitter(self.flip(image.crop((left, top, left + w, top + h))))

    def weak_view(self, image: Image.Image) -> torch.Tensor:
        return self.consumer(self.weak(image))

    def strong_view(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        view = self.randaugment(self.weak(image))
        w, h = view.size
        side = rng.uniform(0, 0.5) * min(w, h)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        ImageDraw.Draw(view).rectangle([x - side / 2, y - side / 2, x + side / 2, y + side / 2], fill=(127, 127, 127))
        return self.consumer(view)

    def step(self, labeled: Sequence[Image.Image], unlabeled: Sequence[Image.Image], rng: np.random.Generator):
        """The default method's inputs of one step: weak views of all, strong views of the unlabeled."""
        weak = [self.weak_view(im) for im in (*labeled, *unlabeled)]
        strong = [self.strong_view(im, rng) for im in unlabeled]
        return torch.stack(weak + strong)
