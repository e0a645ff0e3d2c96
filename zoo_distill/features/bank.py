"""The teacher-target bank: each teacher's features on V deterministic views of every image.

Built once through the feature cache (view 0 is the plain image that ``rank`` cached), then
read by index during training, so distillation does not run a single teacher forward pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from rich.progress import Progress

from zoo_distill.features.cache import FeatureCache
from zoo_distill.data.target import fingerprint
from zoo_distill.features.extract import extract, lookup
from zoo_distill.plugin.types import SourceProvider, Teacher, ZooEntry
from zoo_distill.data.views import ViewPolicy, make_view, view_name


def _image_fn(policy: ViewPolicy, seed: int, view: int):
    return lambda index, image: make_view(image, policy, seed, index, view)


def teacher_views(
    entry: ZooEntry,
    provider: SourceProvider,
    paths: Sequence[Path],
    views: int,
    policy: ViewPolicy,
    view_seed: int,
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    data_fingerprint: str | None = None,
) -> torch.Tensor:
    """Features ``[V, N, D]`` (float16) of one teacher on every view; builds the teacher only on a miss."""
    data_fingerprint = data_fingerprint or fingerprint(paths)  # once, not once per view
    found: dict[int, np.ndarray] = {}
    if cache is not None and provider.identify is not None:
        identity = provider.identify(entry)
        for v in range(views):
            hit = lookup(entry.name, identity.digest, identity.data_config, paths, cache,
                         view_name(policy, view_seed, v), data_fingerprint)
            if hit is not None:
                found[v] = hit.features
    if len(found) < views:
        teacher: Teacher = provider.load(entry)
        for v in range(views):
            if v not in found:
                fs = extract(teacher, paths, cache, batch_size, device, progress,
                             view=view_name(policy, view_seed, v), image_fn=_image_fn(policy, view_seed, v),
                             data_fingerprint=data_fingerprint)
                found[v] = fs.features
    return torch.from_numpy(np.stack([found[v] for v in range(views)])).to(torch.float16)


def build_bank(
    entries: Mapping[str, tuple[ZooEntry, SourceProvider]],
    paths: Sequence[Path],
    views: int,
    policy: ViewPolicy,
    view_seed: int,
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict[str, torch.Tensor]:
    """The bank for every source with a non-zero weight."""
    data_fingerprint = fingerprint(paths)
    return {name: teacher_views(entry, provider, paths, views, policy, view_seed, cache, batch_size, device, progress,
                                data_fingerprint)
            for name, (entry, provider) in entries.items()}
