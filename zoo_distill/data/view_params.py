"""The random parameters of every view, drawn on the CPU as arrays; the pixels are made on the device.

A view is a crop box (relative to its image, so it means the same region in a store of any side), a
flip, colour-jitter factors and, for FixMatch's strong views, RandAugment's ops with their signs and
a Cutout square. Drawing them is cheap and vectorised; ``data/render.py`` applies them to a whole
batch at once. Every draw comes from a numpy generator that is a function of seeds only (the step's
``SeedSequence([seed, epoch, step])``, or ``[view_seed, view]`` for the bank's views), never of the
worker count or the device, so a run's pixels are the same in any process.

The bank's view ``v`` of image ``i`` is row ``i`` of ``view_table(policy, seed, v, ...)``: drawn once
per view for the whole split, so the teachers' features at bank time and the student's input at
training time come from the very same parameters. View 0 is the plain image (``EVAL_VIEW``), whose
teacher features are the ones ``rank`` caches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from zoo_distill.data.policy import ViewPolicy

__all__ = [
    "EVAL_VIEW",
    "RANDAUGMENT_OPS",
    "SeededViews",
    "ViewParams",
    "eval_views",
    "strong_views",
    "view_name",
    "view_table",
    "weak_views",
]

EVAL_VIEW = "eval"
#: RandAugment's ops, as torchvision's ``RandAugment`` lists them; ``render.py`` applies them by index.
RANDAUGMENT_OPS = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)


def view_name(policy: ViewPolicy, seed: int, view: int) -> str:
    """The feature-cache view id: ``eval`` for view 0, else the policy, seed and index."""
    return EVAL_VIEW if view == 0 else f"aug:{policy.digest}:{seed}:{view}"


@dataclass(frozen=True)
class ViewParams:
    """``K`` views of the images of one batch (all arrays have ``K`` rows)."""

    image: np.ndarray  # int64 [K]: the row of the batch's images this view is made from
    box: np.ndarray  # float32 [K, 4]: x0, y0, x1, y1 as fractions of the image's width and height
    flip: np.ndarray  # bool [K]: mirrored left-right
    jitter: np.ndarray  # float32 [K, 3]: brightness, contrast, saturation factors (1: unchanged)
    ops: np.ndarray  # int64 [K, n]: RandAugment op per position (index in RANDAUGMENT_OPS), -1: none
    signs: np.ndarray  # float32 [K, n]: the sign of each op's magnitude
    cutout: np.ndarray  # float32 [K, 3]: Cutout square's centre x, y and side, as fractions (side 0: none)

    def __len__(self) -> int:
        return len(self.image)

    def take(self, rows: np.ndarray) -> ViewParams:
        """The views ``rows`` of these."""
        return ViewParams(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def on_images(self, image: np.ndarray) -> ViewParams:
        """These views, made from the batch rows ``image`` instead."""
        return ViewParams(**{**self.__dict__, "image": np.asarray(image, np.int64)})

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays under ``<prefix>:<field>`` names, to travel in a step's inputs."""
        return {f"{prefix}:{f.name}": getattr(self, f.name) for f in fields(self)}

    @classmethod
    def concat(cls, parts: Sequence[ViewParams]) -> ViewParams:
        n = max((p.ops.shape[1] for p in parts), default=0)
        padded = [p if p.ops.shape[1] == n else p.with_ops(n) for p in parts]
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in padded]) for f in fields(cls)})

    def with_ops(self, n: int) -> ViewParams:
        """The same views with room for ``n`` RandAugment ops (the new positions hold none)."""
        pad = n - self.ops.shape[1]
        ops = np.concatenate([self.ops, np.full((len(self), pad), -1, np.int64)], 1)
        signs = np.concatenate([self.signs, np.ones((len(self), pad), np.float32)], 1)
        return ViewParams(**{**self.__dict__, "ops": ops, "signs": signs})


def eval_views(n: int) -> ViewParams:
    """The plain image (each consumer then takes its own centre crop), for images ``0 .. n-1``."""
    return ViewParams(
        image=np.arange(n, dtype=np.int64),
        box=np.tile(np.array([0, 0, 1, 1], np.float32), (n, 1)),
        flip=np.zeros(n, bool),
        jitter=np.ones((n, 3), np.float32),
        ops=np.full((n, 0), -1, np.int64),
        signs=np.ones((n, 0), np.float32),
        cutout=np.zeros((n, 3), np.float32),
    )


def _crop_boxes(rng: np.random.Generator, sizes: np.ndarray, policy: ViewPolicy, tries: int = 10) -> np.ndarray:
    """Random resized crop boxes (torchvision's rule: 10 tries of area and log-aspect, else the whole
    image) in each image's own pixels, rounded there, returned as fractions of its width and height."""
    n = len(sizes)
    height, width = sizes[:, 0:1].astype(np.float64), sizes[:, 1:2].astype(np.float64)
    area = height * width * rng.uniform(*policy.scale, size=(n, tries))
    aspect = np.exp(rng.uniform(math.log(policy.ratio[0]), math.log(policy.ratio[1]), size=(n, tries)))
    w, h = np.rint(np.sqrt(area * aspect)), np.rint(np.sqrt(area / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = np.argmax(fits, axis=1)
    found = fits[np.arange(n), first]
    w = np.where(found, w[np.arange(n), first], width[:, 0])
    h = np.where(found, h[np.arange(n), first], height[:, 0])
    left = np.floor(rng.random(n) * (width[:, 0] - w + 1))
    top = np.floor(rng.random(n) * (height[:, 0] - h + 1))
    left, top = np.where(found, left, 0), np.where(found, top, 0)
    box = np.stack([left / width[:, 0], top / height[:, 0], (left + w) / width[:, 0], (top + h) / height[:, 0]], 1)
    return box.astype(np.float32)


def weak_views(rng: np.random.Generator, sizes: np.ndarray, policy: ViewPolicy) -> ViewParams:
    """The view policy's augmentation (crop, flip, colour jitter) of images with ``sizes`` ([n, 2] h, w)."""
    n = len(sizes)
    box = _crop_boxes(rng, sizes, policy)
    flip = (rng.random(n) < 0.5) & policy.hflip
    strengths = np.array([policy.brightness, policy.contrast, policy.saturation], np.float64)
    jitter = 1 + strengths * rng.uniform(-1, 1, size=(n, 3))
    return ViewParams(
        image=np.arange(n, dtype=np.int64),
        box=box,
        flip=flip,
        jitter=jitter.astype(np.float32),
        ops=np.full((n, 0), -1, np.int64),
        signs=np.ones((n, 0), np.float32),
        cutout=np.zeros((n, 3), np.float32),
    )


def strong_views(
    rng: np.random.Generator, sizes: np.ndarray, policy: ViewPolicy, ops: int, cutout: float
) -> ViewParams:
    """FixMatch's strong views: a fresh weak view, then ``ops`` RandAugment ops (each one of
    ``RANDAUGMENT_OPS`` with a random sign), then a grey Cutout square of side up to ``cutout``."""
    weak = weak_views(rng, sizes, policy)
    n = len(sizes)
    chosen = rng.integers(0, len(RANDAUGMENT_OPS), size=(n, ops)).astype(np.int64)
    signs = np.where(rng.random((n, ops)) < 0.5, -1.0, 1.0).astype(np.float32)
    square = np.stack([rng.random(n), rng.random(n), rng.uniform(0, cutout, n) if cutout > 0 else np.zeros(n)], 1)
    return ViewParams(**{**weak.__dict__, "ops": chosen, "signs": signs, "cutout": square.astype(np.float32)})


def view_table(policy: ViewPolicy, seed: int, view: int, sizes: np.ndarray) -> ViewParams:
    """View ``view`` of every image (``sizes``: [N, 2] each decoded image's own height and width)."""
    if view == 0:
        return eval_views(len(sizes))
    return weak_views(np.random.default_rng(np.random.SeedSequence([seed, view])), sizes, policy)


class SeededViews:
    """The bank's ``views`` views of every image, drawn once: ``views.of(index, view)`` for a step's images."""

    def __init__(self, policy: ViewPolicy, seed: int, views: int, sizes: np.ndarray) -> None:
        tables = [view_table(policy, seed, v, sizes) for v in range(views)]
        self.stacked = {f.name: np.stack([getattr(t, f.name) for t in tables]) for f in fields(ViewParams)}

    def of(self, index: np.ndarray, view: np.ndarray) -> ViewParams:
        """View ``view[k]`` of image ``index[k]``, made from batch row ``k``."""
        index, view = np.asarray(index, np.int64), np.asarray(view, np.int64)
        picked = {name: table[view, index] for name, table in self.stacked.items()}
        return ViewParams(**{**picked, "image": np.arange(len(index), dtype=np.int64)})
