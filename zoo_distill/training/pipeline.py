"""The training input pipeline: each step's inputs made in DataLoader worker processes.

A method splits its step in two (``training/loop.py``): ``make_inputs(StepBatch)`` does the CPU
work (decoded images from the pool, views, strong views, the student's preprocessing, bank rows)
and returns tensors; ``loss(inputs)`` runs the model. Here the first half runs in ``workers``
processes of a ``torch.utils.data.DataLoader`` while the main process trains on earlier steps.

One item is one whole step, keyed by ``(epoch, step)``: its indices and its generator are drawn
from ``SeedSequence([seed, epoch, step])`` in the process that makes it, exactly as they were in
the main process, so a step's pixels (and the run's losses and weights) do not depend on the
number of workers or on which worker made it. The DataLoader returns items in key order. One
iterator covers every remaining step of the run, so the workers live (and prefetch across epoch
ends) for the whole run, and a resumed run simply starts its keys at the resumed epoch.

With 0 workers everything runs in the main process, as before. On Linux the workers are forked:
the decoded image pools (``preload`` fills them first) and the teacher banks are shared
copy-on-write. With ``spawn`` (macOS, Windows) each worker gets a pickled copy of the dataset,
pools without their decoded images (see ``data/pool.py``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo_distill.data.pool import ImagePool
from zoo_distill.data.target import load_rgb
from zoo_distill.errors import ZooDistillError
from zoo_distill.util.interrupts import ignore_in_worker
from zoo_distill.util.workers import resolve_workers

__all__ = [
    "Failed",
    "ImageBatches",
    "Inputs",
    "StepBatch",
    "StepDataset",
    "StepPlan",
    "StepSampler",
    "image_loader",
    "preload",
    "resolve_workers",
    "sample",
    "step_loader",
    "step_rng",
    "to_device",
    "unwrap",
]

#: A step's (or an evaluation batch's) inputs: tensors, moved to the device by the loop, and plain ints.
Inputs = dict[str, Any]


@dataclass
class StepBatch:
    """Indices for one step; methods turn them into tensors (views, augmentations, targets)."""

    labeled: np.ndarray
    unlabeled: np.ndarray
    rng: np.random.Generator  # for any further randomness of this step (augmentations, views)
    epoch: int
    step: int


def step_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, step]))


def sample(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """k indices out of n, without replacement when possible."""
    if n == 0 or k == 0:
        return np.zeros(0, dtype=np.int64)
    return rng.choice(n, size=k, replace=k > n).astype(np.int64)


@dataclass(frozen=True)
class StepPlan:
    """Which images a step uses: everything ``StepBatch`` holds, from (seed, epoch, step) alone.

    Under DDP every rank draws the same global batch, takes its slice (as ``distributed.split_batch``)
    and draws its augmentations from a generator of its own; ``rank`` and ``world`` are fixed here, in
    the main process, since a worker process is not part of the process group.
    """

    seed: int
    n_labeled: int
    n_unlabeled: int
    batch_size: int
    unlabeled_per_step: int
    rank: int = 0
    world: int = 1

    def batch(self, epoch: int, step: int) -> StepBatch:
        rng = step_rng(self.seed, epoch, step)
        labeled = sample(rng, self.n_labeled, self.batch_size)
        unlabeled = sample(rng, self.n_unlabeled, self.unlabeled_per_step)
        if self.world > 1:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, step, self.rank]))
            labeled, unlabeled = labeled[self.rank :: self.world], unlabeled[self.rank :: self.world]
        return StepBatch(labeled, unlabeled, rng, epoch, step)


@dataclass(frozen=True)
class Failed:
    """A user-facing error raised in a worker, carried to the main process as a value and raised
    there as itself (not wrapped in a worker traceback)."""

    error: ZooDistillError


def unwrap(item: Any) -> Any:
    if isinstance(item, Failed):
        raise item.error
    return item


class StepDataset(Dataset):
    """Item ``(epoch, step)``: the inputs of that step, ``make_inputs(plan.batch(epoch, step))``."""

    def __init__(self, plan: StepPlan, make_inputs: Callable[[StepBatch], Inputs]) -> None:
        self.plan, self.make_inputs = plan, make_inputs

    def __getitem__(self, key: tuple[int, int]) -> Inputs | Failed:
        try:
            return self.make_inputs(self.plan.batch(*key))
        except ZooDistillError as exc:
            return Failed(exc)


class StepSampler(Sampler):
    """The keys ``(epoch, step)`` of every step from ``start_epoch`` to the end, in training order."""

    def __init__(self, start_epoch: int, epochs: int, steps: int) -> None:
        self.start_epoch, self.epochs, self.steps = start_epoch, epochs, steps

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((epoch, step) for epoch in range(self.start_epoch, self.epochs) for step in range(self.steps))

    def __len__(self) -> int:
        return max(0, self.epochs - self.start_epoch) * self.steps


def _context() -> str | None:
    """``fork`` where it is the safe default (Linux): workers share the decoded pools copy-on-write."""
    return "fork" if sys.platform.startswith("linux") else None


def _loader(
    dataset: Dataset, workers: int, pin_memory: bool, sampler: Sampler | None = None, seed: int = 0
) -> DataLoader:
    """Items as the dataset makes them (``batch_size=None``), in order, ``2 * workers`` prefetched.

    The DataLoader's own seed comes from a private generator, so the global torch stream (the
    student's dropout, ...) is the same with and without workers."""
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers else None,
        multiprocessing_context=_context() if workers else None,
        worker_init_fn=ignore_in_worker if workers else None,
        generator=torch.Generator().manual_seed(seed),
    )


def step_loader(
    dataset: StepDataset, start_epoch: int, epochs: int, steps: int, workers: int, pin_memory: bool = False
) -> DataLoader:
    """Every remaining step's inputs, made by ``workers`` processes (0: in this process)."""
    return _loader(dataset, workers, pin_memory, StepSampler(start_epoch, epochs, steps), dataset.plan.seed)


class ImageBatches(Dataset):
    """Item ``i``: ``{"x": [B, 3, H, W]}``, batch ``i`` of ``paths`` decoded and preprocessed (evaluation)."""

    def __init__(
        self, paths: Sequence[Path], transform: Callable[[Image.Image], torch.Tensor], batch_size: int
    ) -> None:
        self.paths, self.transform, self.batch_size = list(paths), transform, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.batch_size)

    def __getitem__(self, index: int) -> Inputs | Failed:
        chunk = self.paths[index * self.batch_size : (index + 1) * self.batch_size]
        try:
            return {"x": torch.stack([self.transform(load_rgb(path)) for path in chunk])}
        except ZooDistillError as exc:
            return Failed(exc)


def image_loader(
    paths: Sequence[Path],
    transform: Callable[[Image.Image], torch.Tensor],
    batch_size: int,
    workers: int,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of preprocessed images, in order, made by ``workers`` processes; no more than
    ``2 * workers`` batches are held at once, never the whole split."""
    return _loader(ImageBatches(paths, transform, batch_size), workers, pin_memory)


class _Decode(Dataset):
    def __init__(self, paths: Sequence[Path], indices: Sequence[int]) -> None:
        self.paths, self.indices = paths, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> torch.Tensor | Failed:
        try:
            return torch.from_numpy(np.array(load_rgb(self.paths[self.indices[k]])))
        except ZooDistillError as exc:
            return Failed(exc)


def preload(pools: Sequence[ImagePool], workers: int) -> None:
    """Decode the pools' images in ``workers`` processes into the pools of this process, until a
    pool's budget is full, so that the training workers forked next share them instead of each
    decoding (and keeping) its own copy. Does nothing with 0 workers: the pools fill as they are read."""
    if workers < 1:
        return
    for pool in pools:
        missing = pool.missing()
        if not missing:
            continue
        for index, pixels in zip(missing, _loader(_Decode(pool.paths, missing), workers, False)):
            if not pool.keep(index, Image.fromarray(unwrap(pixels).numpy())):
                break  # the budget is full: later images are decoded whenever a step needs them


def to_device(inputs: Mapping[str, Any], device: torch.device, channels_last: bool = False) -> Inputs:
    """The tensors of ``inputs`` on ``device`` (non-blocking from pinned memory); images
    ``[B, C, H, W]`` in channels-last layout when asked; plain values as they are."""
    out = {}
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor):
            layout = torch.channels_last if channels_last and value.dim() == 4 else torch.preserve_format
            value = value.to(device, non_blocking=True, memory_format=layout)
        out[key] = value
    return out
