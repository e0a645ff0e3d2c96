"""Teacher feature extraction, batched under inference mode, read through the feature cache."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rich.progress import Progress
from timm.data import create_transform

from zoo_distill.data.target import fingerprint, load_rgb
from zoo_distill.data.views import EVAL_VIEW
from zoo_distill.errors import CacheError, ZooDistillError
from zoo_distill.features.cache import FeatureCache, cache_key
from zoo_distill.plugin.types import Teacher
from zoo_distill.util import distributed


@dataclass(frozen=True)
class FeatureSet:
    """Teacher outputs on a list of images: features [N, D] and source logits [N, C] or None."""

    features: np.ndarray
    logits: np.ndarray | None
    cached: bool
    seconds: float
    path: Path | None = None
    key: str | None = None  # the cache key (what the features depend on)


ImageFn = Callable[[int, Image.Image], Image.Image]  # (index, decoded image) -> the view to encode


class _ImageList(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[Path], transform, image_fn: ImageFn | None = None) -> None:
        self.paths, self.transform, self.image_fn = list(paths), transform, image_fn

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = load_rgb(self.paths[index])
        if self.image_fn is not None:
            image = self.image_fn(index, image)
        return self.transform(image)


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``, with a clear error if CUDA is asked for but missing."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ZooDistillError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ZooDistillError(f"--device {device!r} is not a valid device: {exc}") from None


def eval_transform(teacher: Teacher):
    """The teacher's own deterministic preprocessing (timm data config, no augmentation)."""
    return create_transform(**teacher.data_config, is_training=False)


def compute_features(
    teacher: Teacher,
    paths: Sequence[Path],
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    workers: int = 0,
    image_fn: ImageFn | None = None,
    description: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the frozen teacher over images (or views of them) in batches; no cache involved."""
    dev = resolve_device(device)
    teacher.to(dev)
    loader = torch.utils.data.DataLoader(
        _ImageList(paths, eval_transform(teacher), image_fn), batch_size=batch_size, shuffle=False,
        num_workers=workers,
    )
    label = description or f"features {teacher.name}"
    task = progress.add_task(label, total=len(paths), info="") if progress else None
    feats, logits = [], []
    with torch.inference_mode():
        for batch in loader:
            f, z = teacher.forward(batch.to(dev, non_blocking=True))
            feats.append(f.float().cpu().numpy())
            if z is not None:
                logits.append(z.float().cpu().numpy())
            if progress is not None:
                progress.advance(task, len(batch))
    features = np.concatenate(feats) if feats else np.zeros((0, teacher.feature_dim), np.float32)
    if logits:
        return features, np.concatenate(logits)
    return features, (np.zeros((0, teacher.num_source_classes), np.float32) if teacher.num_source_classes else None)


def lookup(
    name: str, digest: str, data_config: Mapping[str, Any], paths: Sequence[Path], cache: FeatureCache,
    view: str = EVAL_VIEW,
    data_fingerprint: str | None = None,
) -> FeatureSet | None:
    """Cached teacher outputs for these inputs, or None: needs no model, only its identity.

    ``data_fingerprint`` (of ``paths``) can be passed by callers that look up many views of the
    same images, so the files are not stat-ed again for every view.
    """
    start = time.perf_counter()
    key = cache_key(digest, data_fingerprint or fingerprint(paths), dict(data_config), view)
    hit = cache.load(name, key)
    if hit is None or hit[0]["features"].shape[0] != len(paths):
        return None
    arrays, _ = hit
    return FeatureSet(arrays["features"], arrays.get("logits"), True, time.perf_counter() - start,
                      cache.path_for(name, key), key)


def _shared_lookup(teacher: Teacher, paths: Sequence[Path], cache: FeatureCache, view: str,
                   data_fingerprint: str) -> FeatureSet | None:
    """Rank 0 looks the features up and every rank follows its answer: all extract, or none do."""

    def find() -> FeatureSet | None:
        return lookup(teacher.name, teacher.digest, teacher.data_config, paths, cache, view, data_fingerprint)

    hit = find() if distributed.is_main() else None
    if not distributed.broadcast_object(hit is not None):
        return None
    if hit is None:  # rank 0 found the file: read it here too
        hit = find()
        if hit is None:
            raise CacheError(f"the cached features of {teacher.name} vanished while being read "
                             f"(was the cache cleared meanwhile?)")
    return hit


def extract(
    teacher: Teacher,
    paths: Sequence[Path],
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    view: str = EVAL_VIEW,
    image_fn: ImageFn | None = None,
    data_fingerprint: str | None = None,
) -> FeatureSet:
    """Teacher outputs on ``paths`` (under ``view``, made by ``image_fn``): cached, else computed and stored.

    ``view`` must name ``image_fn`` uniquely: it is part of the cache key. A process that finds
    another one extracting the same features (the cache key's lock is held) waits for it and
    then reads its file instead of extracting again.
    """
    data_fingerprint = data_fingerprint or fingerprint(paths)
    if cache is None:
        return _compute(teacher, paths, None, batch_size, device, progress, view, image_fn, data_fingerprint)
    hit = _shared_lookup(teacher, paths, cache, view, data_fingerprint)  # no lock for a plain hit
    if hit is not None:
        return hit
    key = cache_key(teacher.digest, data_fingerprint, dict(teacher.data_config), view)
    # Only rank 0 locks: the other ranks follow its decision, and would deadlock it in a collective.
    with cache.lock(teacher.name, key) if distributed.is_main() else contextlib.nullcontext():
        hit = _shared_lookup(teacher, paths, cache, view, data_fingerprint)  # stored while we waited?
        if hit is not None:
            return hit
        return _compute(teacher, paths, cache, batch_size, device, progress, view, image_fn, data_fingerprint)


def _compute(teacher: Teacher, paths: Sequence[Path], cache: FeatureCache | None, batch_size: int, device: str,
             progress: Progress | None, view: str, image_fn: ImageFn | None, data_fingerprint: str) -> FeatureSet:
    """Encode ``paths`` (sharded over ranks under torchrun) and store the result in ``cache``."""
    start = time.perf_counter()
    key = cache_key(teacher.digest, data_fingerprint, dict(teacher.data_config), view)
    description = f"features {teacher.name}" + ("" if view == EVAL_VIEW else f" [{view.rsplit(':', 1)[-1]}]")
    mine = distributed.shard(len(paths))  # under torchrun each process encodes every world_size-th image
    shard_fn = None if image_fn is None else (lambda i, image: image_fn(int(mine[i]), image))
    features, logits = compute_features(teacher, [paths[i] for i in mine], batch_size,
                                        distributed.local_device(device), progress, image_fn=shard_fn,
                                        description=description)
    features = distributed.gather_rows(features, len(paths))
    logits = distributed.gather_rows(logits, len(paths))
    saved = None
    if cache is not None and distributed.is_main():
        arrays = {"features": features} | ({"logits": logits} if logits is not None else {})
        meta = {"teacher": teacher.name, "digest": teacher.digest, "view": view, "images": len(paths),
                "preprocessing": dict(teacher.data_config)}
        saved = cache.save(teacher.name, key, arrays, meta)
    distributed.barrier()  # no rank moves on (and looks the file up) before it exists
    return FeatureSet(features, logits, False, time.perf_counter() - start, saved, key)
