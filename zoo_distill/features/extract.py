"""Teacher feature extraction, batched under inference mode, read through the feature cache.

Images are decoded once into the image store (``data/store.py``); DataLoader workers read a batch's
rows while the teacher runs, its views are made on the teacher's device (``data/render.py``), and the
features are written to the cache file batch by batch: memory holds a few batches, whatever the
number of images.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.progress import Progress

from zoo_distill.data.target import fingerprint
from zoo_distill.data.view_params import EVAL_VIEW, ViewParams, eval_views
from zoo_distill.errors import CacheError
from zoo_distill.features.cache import FeatureCache, cache_key
from zoo_distill.plugin.types import Teacher
from zoo_distill.util import distributed
from zoo_distill.util.device import check_device, resolve_device
from zoo_distill.util.workers import MAX_DEFAULT_WORKERS, default_workers, resolve_workers

if TYPE_CHECKING:  # torch and the image store load when features are computed, not when they are cached
    from zoo_distill.data.store import ImageStore

__all__ = [
    "FeatureSet",
    "MAX_DEFAULT_WORKERS",
    "check_device",
    "compute_features",
    "default_workers",
    "teacher_store",
    "extract",
    "iter_features",
    "lookup",
    "resolve_device",
    "resolve_workers",
]


@dataclass(frozen=True)
class FeatureSet:
    """Teacher outputs on a list of images: features [N, D] and source logits [N, C] or None.

    The arrays are in memory, or memory-mapped read-only from the cache file (``extract(keep=False)``).
    """

    features: np.ndarray
    logits: np.ndarray | None
    cached: bool
    seconds: float
    path: Path | None = None
    key: str | None = None  # the cache key (what the features depend on)


ViewsFn = Callable[[np.ndarray], ViewParams]  # image indices -> their views (made from batch rows 0..B-1)
Batches = Generator[
    tuple[np.ndarray, "np.ndarray | None"], None, None
]  # (features [B, D], logits [B, C] or None) per batch


def teacher_store(
    teacher: Teacher,
    paths: Sequence[Path],
    cache: FeatureCache | None,
    workers: int = 0,
    progress: Progress | None = None,
    data_fingerprint: str | None = None,
    splits: Sequence[int] = (),
) -> ImageStore:
    """The image store a teacher's views are made from (its rung), in the cache's folder (or a scratch one).

    ``splits``: the sizes of the consecutive splits ``paths`` is made of (the bank's labeled, then
    unlabeled images): each split is its own store, joined, so the labeled images ``rank`` decoded are
    read from its store rather than decoded again into one of the whole list."""
    from zoo_distill.data.store import open_store, store_side

    root, side = (cache.root if cache is not None else None), store_side(teacher.data_config)
    if len(splits) > 1 and sum(splits) == len(paths):
        ends = [int(e) for e in np.cumsum(splits)]
        parts = [open_store(list(paths[e - n : e]), side, root, workers, progress) for n, e in zip(splits, ends)]
        return sum(parts[1:], parts[0])
    return open_store(paths, side, root, workers, progress, data_fingerprint=data_fingerprint)


def iter_features(
    teacher: Teacher,
    store: ImageStore,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    workers: int | None = None,
    views: ViewsFn | None = None,
    description: str | None = None,
    indices: np.ndarray | None = None,
) -> Batches:
    """The frozen teacher's outputs on the store's images (or views of them), one batch at a time, in order.

    ``workers`` DataLoader processes read the rows while the teacher runs; the views are made on the
    teacher's device; memory holds a few batches (``2 * workers`` prefetched), never all of them. The
    batches, and so the features, are the same for any worker count. ``indices``: a subset, in order.
    """
    import torch

    from zoo_distill.data.batches import item_loader, unwrap
    from zoo_distill.data.render import Consumer, render, view_tensors
    from zoo_distill.data.store_batches import StoreBatches

    dev = resolve_device(device)
    teacher.to(dev)
    chosen = np.arange(len(store), dtype=np.int64) if indices is None else np.asarray(indices, np.int64)
    workers = resolve_workers(workers, len(chosen), batch_size)
    loader = item_loader(
        StoreBatches(store, batch_size, views or (lambda index: eval_views(len(index))), chosen),
        workers,
        pin_memory=dev.type == "cuda",
    )
    consumer = Consumer.of(teacher.data_config)
    label = description or f"features {teacher.name}"
    task = progress.add_task(label, total=len(chosen), info="") if progress else None
    with torch.inference_mode():
        for item in loader:
            batch = unwrap(item)
            pixels = batch["pixels"].to(dev, non_blocking=True)
            x = render(pixels, batch["sizes"].to(dev), view_tensors(batch, "e"), consumer)
            f, z = teacher.forward(x)
            if progress is not None and task is not None:
                progress.advance(task, len(x))
            yield f.float().cpu().numpy(), (None if z is None else z.float().cpu().numpy())


def compute_features(
    teacher: Teacher,
    paths: Sequence[Path],
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    workers: int | None = None,
    views: ViewsFn | None = None,
    description: str | None = None,
    cache: FeatureCache | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the frozen teacher over images (or views of them) in batches, all in memory; no feature cache
    involved (``cache``: where the image store lives, else a scratch folder)."""
    store = teacher_store(teacher, paths, cache, resolve_workers(workers, len(paths), batch_size), progress)
    feats, logits = [], []
    for f, z in iter_features(teacher, store, batch_size, device, progress, workers, views, description):
        feats.append(f)
        if z is not None:
            logits.append(z)
    features = np.concatenate(feats) if feats else np.zeros((0, teacher.feature_dim), np.float32)
    if logits:
        return features, np.concatenate(logits)
    return features, (np.zeros((0, teacher.num_source_classes), np.float32) if teacher.num_source_classes else None)


def lookup(
    name: str,
    digest: str,
    data_config: Mapping[str, Any],
    paths: Sequence[Path],
    cache: FeatureCache,
    view: str = EVAL_VIEW,
    data_fingerprint: str | None = None,
    keep: bool = True,
) -> FeatureSet | None:
    """Cached teacher outputs for these inputs, or None: needs no model, only its identity.

    ``data_fingerprint`` (of ``paths``) can be passed by callers that look up many views of the
    same images, so the files are not stat-ed again for every view. ``keep=False`` maps the arrays
    from the file instead of reading them (nothing is read until touched): for the bank's N rows.
    """
    start = time.perf_counter()
    key = cache_key(digest, data_fingerprint or fingerprint(paths), dict(data_config), view)
    if keep:
        hit = cache.load(name, key)
        arrays = hit[0] if hit is not None else None
    else:
        rows = cache.locate(name, key)
        arrays = {array: r.memmap() for array, r in rows.items()} if rows is not None else None
    if arrays is None or "features" not in arrays or arrays["features"].shape[0] != len(paths):
        return None
    return FeatureSet(
        arrays["features"], arrays.get("logits"), True, time.perf_counter() - start, cache.path_for(name, key), key
    )


def _shared_lookup(
    teacher: Teacher, paths: Sequence[Path], cache: FeatureCache, view: str, data_fingerprint: str, keep: bool
) -> FeatureSet | None:
    """Rank 0 looks the features up and every rank follows its answer: all extract, or none do."""

    def find() -> FeatureSet | None:
        return lookup(teacher.name, teacher.digest, teacher.data_config, paths, cache, view, data_fingerprint, keep)

    hit = find() if distributed.is_main() else None
    if not distributed.broadcast_object(hit is not None):
        return None
    if hit is None:  # rank 0 found the file: read it here too
        hit = find()
        if hit is None:
            raise CacheError(
                f"the cached features of {teacher.name} vanished while being read (was the cache cleared meanwhile?)"
            )
    return hit


def extract(
    teacher: Teacher,
    paths: Sequence[Path],
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    view: str = EVAL_VIEW,
    views: ViewsFn | None = None,
    data_fingerprint: str | None = None,
    workers: int | None = None,
    keep: bool = True,
    store: ImageStore | None = None,
) -> FeatureSet:
    """Teacher outputs on ``paths`` (under ``view``, made by ``views``): cached, else computed and stored.

    ``store``: the images of ``paths`` at the teacher's rung (opened from the cache's folder if not given).
    ``view`` must name ``views`` uniquely: it is part of the cache key. A process that finds
    another one extracting the same features (the cache key's lock is held) waits for it and
    then reads its file instead of extracting again. The rows are written to the cache file batch by
    batch as they are computed; with ``keep=False`` (a cache is needed) they are not also gathered in
    memory and the result's arrays are memory-mapped from the file. ``workers``: DataLoader
    processes decoding images (None: ``resolve_workers``' default); the features do not depend on it.
    """
    data_fingerprint = data_fingerprint or fingerprint(paths)
    if cache is None:
        return _compute(
            teacher, paths, None, batch_size, device, progress, view, views, data_fingerprint, workers, True, store
        )
    hit = _shared_lookup(teacher, paths, cache, view, data_fingerprint, keep)  # no lock for a plain hit
    if hit is not None:
        return hit
    key = cache_key(teacher.digest, data_fingerprint, dict(teacher.data_config), view)
    # Only rank 0 locks: the other ranks follow its decision, and would deadlock it in a collective.
    with cache.lock(teacher.name, key) if distributed.is_main() else contextlib.nullcontext():
        hit = _shared_lookup(teacher, paths, cache, view, data_fingerprint, keep)  # stored while we waited?
        if hit is not None:
            return hit
        return _compute(
            teacher, paths, cache, batch_size, device, progress, view, views, data_fingerprint, workers, keep, store
        )


def _compute(
    teacher: Teacher,
    paths: Sequence[Path],
    cache: FeatureCache | None,
    batch_size: int,
    device: str,
    progress: Progress | None,
    view: str,
    views: ViewsFn | None,
    data_fingerprint: str,
    workers: int | None,
    keep: bool,
    store: ImageStore | None = None,
) -> FeatureSet:
    """Encode ``paths`` (sharded over ranks under torchrun), streaming the rows into ``cache``."""
    start = time.perf_counter()
    n = len(paths)
    key = cache_key(teacher.digest, data_fingerprint, dict(teacher.data_config), view)
    description = f"features {teacher.name}" + ("" if view == EVAL_VIEW else f" [{view.rsplit(':', 1)[-1]}]")
    mine = distributed.shard(n)  # under torchrun each process encodes every world_size-th image
    if store is None:
        decoders = resolve_workers(workers, n, batch_size)
        store = teacher_store(teacher, paths, cache, decoders, progress, data_fingerprint)
    batches = iter_features(
        teacher,
        store,
        batch_size,
        distributed.local_device(device),
        progress,
        workers,
        views,
        description,
        np.asarray(mine, np.int64),
    )
    writes_to = cache if distributed.is_main() else None  # rank 0 writes the file
    meta = {
        "teacher": teacher.name,
        "digest": teacher.digest,
        "view": view,
        "images": n,
        "preprocessing": dict(teacher.data_config),
    }
    kept: dict[str, list[np.ndarray]] = {"features": [], "logits": []}
    with contextlib.closing(batches), contextlib.ExitStack() as stack:
        writer = None
        for row, features, logits in _whole_blocks(batches, n, batch_size, teacher):
            arrays = {"features": features} | ({"logits": logits} if logits is not None else {})
            if writes_to is not None and writer is None:  # shapes known from the first block: header first
                shapes = {name: ((n, *a.shape[1:]), np.float32) for name, a in arrays.items()}
                writer = stack.enter_context(writes_to.writer(teacher.name, key, shapes, meta))
            for name, a in arrays.items():
                if writer is not None:
                    writer.write(name, row, a)
                if keep:
                    kept[name].append(a)
        if writes_to is not None and writer is None:  # no image at all: an empty file, as before
            shapes = {"features": ((0, teacher.feature_dim), np.float32)}
            if teacher.num_source_classes:
                shapes["logits"] = ((0, teacher.num_source_classes), np.float32)
            stack.enter_context(writes_to.writer(teacher.name, key, shapes, meta))
    distributed.barrier()  # no rank moves on (and looks the file up) before it exists
    saved = cache.path_for(teacher.name, key) if cache is not None else None
    if keep or cache is None:
        features = (
            np.concatenate(kept["features"]) if kept["features"] else np.zeros((0, teacher.feature_dim), np.float32)
        )
        logits = (
            np.concatenate(kept["logits"])
            if kept["logits"]
            else (np.zeros((0, teacher.num_source_classes), np.float32) if teacher.num_source_classes else None)
        )
        return FeatureSet(features, logits, False, time.perf_counter() - start, saved, key)
    rows = cache.locate(teacher.name, key, verify=False)  # just written and checksummed by this process
    if rows is None:
        raise CacheError(
            f"the features of {teacher.name} just written to {saved} cannot be read back "
            f"(was the cache cleared meanwhile?)"
        )
    return FeatureSet(
        rows["features"].memmap(),
        rows["logits"].memmap() if "logits" in rows else None,
        False,
        time.perf_counter() - start,
        saved,
        key,
    )


def _whole_blocks(
    batches: Batches, n: int, batch_size: int, teacher: Teacher
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """``(first row, features, logits)`` of consecutive blocks of the whole list, one batch per rank.

    Under torchrun the shards are strided, so the ranks' k-th batches interleave into the rows
    ``[k * world * batch_size, (k + 1) * world * batch_size)``: gathered per batch, never whole. A
    rank whose shard has run out sends empty rows (rank 0 has the most batches).
    """
    world = distributed.world_size()
    if world == 1:
        row = 0
        for features, logits in batches:
            yield row, features, logits
            row += len(features)
        return
    block = world * batch_size
    none = (
        np.zeros((0, teacher.feature_dim), np.float32),
        np.zeros((0, teacher.num_source_classes), np.float32) if teacher.num_source_classes else None,
    )
    for k in range(math.ceil(n / block)):
        features, logits = next(batches, none)
        size = min(n, (k + 1) * block) - k * block
        gathered = distributed.gather_rows(features, size)
        assert gathered is not None  # features are never None, so neither are their gathered rows
        yield k * block, gathered, distributed.gather_rows(logits, size)
