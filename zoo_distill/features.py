"""Teacher feature extraction, batched under inference mode, read through the feature cache."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from rich.progress import Progress
from timm.data import create_transform

from .cache import FeatureCache, cache_key
from .data import fingerprint, load_rgb
from .errors import ZooDistillError
from .interfaces import Teacher

EVAL_VIEW = "eval"


@dataclass(frozen=True)
class FeatureSet:
    """Teacher outputs on a list of images: features [N, D] and source logits [N, C] or None."""

    features: np.ndarray
    logits: np.ndarray | None
    cached: bool
    seconds: float
    path: Path | None = None


class _ImageList(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[Path], transform) -> None:
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(load_rgb(self.paths[index]))


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
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the frozen teacher over images in batches; no cache involved."""
    dev = resolve_device(device)
    teacher.to(dev)
    loader = torch.utils.data.DataLoader(
        _ImageList(paths, eval_transform(teacher)), batch_size=batch_size, shuffle=False, num_workers=workers
    )
    task = progress.add_task(f"features {teacher.name}", total=len(paths), info="") if progress else None
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
    return features, (np.concatenate(logits) if logits else None)


def lookup(
    name: str, digest: str, data_config: Mapping[str, Any], paths: Sequence[Path], cache: FeatureCache,
    view: str = EVAL_VIEW,
) -> FeatureSet | None:
    """Cached teacher outputs for these inputs, or None: needs no model, only its identity."""
    start = time.perf_counter()
    key = cache_key(digest, fingerprint(paths), dict(data_config), view)
    hit = cache.load(name, key)
    if hit is None or hit[0]["features"].shape[0] != len(paths):
        return None
    arrays, _ = hit
    return FeatureSet(arrays["features"], arrays.get("logits"), True, time.perf_counter() - start,
                      cache.path_for(name, key))


def extract(
    teacher: Teacher,
    paths: Sequence[Path],
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    view: str = EVAL_VIEW,
) -> FeatureSet:
    """Teacher outputs on ``paths``: from the cache when the same inputs were seen, else computed and stored."""
    start = time.perf_counter()
    key = cache_key(teacher.digest, fingerprint(paths), dict(teacher.data_config), view)
    if cache is not None:
        hit = lookup(teacher.name, teacher.digest, teacher.data_config, paths, cache, view)
        if hit is not None:
            return hit
    features, logits = compute_features(teacher, paths, batch_size, device, progress)
    saved = None
    if cache is not None:
        arrays = {"features": features} | ({"logits": logits} if logits is not None else {})
        meta = {"teacher": teacher.name, "digest": teacher.digest, "view": view, "images": len(paths),
                "preprocessing": dict(teacher.data_config)}
        saved = cache.save(teacher.name, key, arrays, meta)
    return FeatureSet(features, logits, False, time.perf_counter() - start, saved)
