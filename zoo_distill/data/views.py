"""Deterministic augmented views of target images, shared by teachers and student.

Distillation with cached teacher targets needs the student to see exactly the view the
teacher saw. A view is a function of (policy, seed, image index, view index) only: its
random parameters come from a generator seeded by those numbers, so view ``v`` of image
``i`` is the same image in every process, epoch and run. View 0 is the un-augmented image,
so its teacher features are the ones ``rank`` already cached.

Views are made on the raw image (crop, flip, colour) at its own resolution; each model
then applies its own preprocessing (resize, normalise) from its timm data config.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance

from zoo_distill.data.policy import ViewPolicy

__all__ = ["EVAL_VIEW", "augment", "make_view", "view_name", "view_rng"]

EVAL_VIEW = "eval"


def view_name(policy: ViewPolicy, seed: int, view: int) -> str:
    """The feature-cache view id: ``eval`` for view 0, else the policy, seed and index."""
    return EVAL_VIEW if view == 0 else f"aug:{policy.digest}:{seed}:{view}"


def view_rng(seed: int, index: int, view: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index, view]))


def _crop_box(rng: np.random.Generator, width: int, height: int, policy: ViewPolicy) -> tuple[int, int, int, int]:
    area = width * height
    log_ratio = (math.log(policy.ratio[0]), math.log(policy.ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*policy.scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    return 0, 0, width, height


def augment(image: Image.Image, rng: np.random.Generator, policy: ViewPolicy) -> Image.Image:
    """One random view drawn from ``rng``: resized crop (back to the same size), flip, colour."""
    width, height = image.size
    out = image.resize((width, height), Image.BILINEAR, box=_crop_box(rng, width, height, policy))
    if policy.hflip and rng.random() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    for enhancer, strength in (
        (ImageEnhance.Brightness, policy.brightness),
        (ImageEnhance.Contrast, policy.contrast),
        (ImageEnhance.Color, policy.saturation),
    ):
        if strength > 0:
            out = enhancer(out).enhance(float(rng.uniform(1 - strength, 1 + strength)))
    return out


def make_view(image: Image.Image, policy: ViewPolicy, seed: int, index: int, view: int) -> Image.Image:
    """View ``view`` of image ``index``: the image itself for view 0, else a seeded augmentation."""
    if view == 0:
        return image
    return augment(image, view_rng(seed, index, view), policy)
