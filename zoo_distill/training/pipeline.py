"""The training input pipeline: each step's inputs made in DataLoader worker processes.

A method splits its step in two (``training/loop.py``): ``make_inputs(StepBatch)`` does the CPU
work (the step's images read from the store as uint8 bytes, its views' parameters, bank rows) and
returns tensors; ``loss(inputs)`` makes the views on the device and runs the model. Here the first
half runs in ``workers`` processes of a ``torch.utils.data.DataLoader`` while the main process trains on earlier steps.

One item is one whole step, keyed by ``(epoch, step)``: its indices and its generator are drawn
from ``SeedSequence([seed, epoch, step])`` in the process that makes it, exactly as they were in
the main process, so a step's pixels (and the run's losses and weights) do not depend on the
number of workers or on which worker made it. The DataLoader returns items in key order. One
iterator covers every remaining step of the run, so the workers live (and prefetch across epoch
ends) for the whole run, and a resumed run simply starts its keys at the resumed epoch.

With 0 workers everything runs in the main process. The workers hold no pixels of their own: the
image store and the teacher banks are files read with positioned reads, shared through the OS page
cache whatever the start method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo_distill.data.batches import Failed, item_loader, unwrap
from zoo_distill.errors import ZooDistillError
from zoo_distill.util.workers import resolve_workers

__all__ = [
    "Failed",
    "Inputs",
    "StepBatch",
    "StepDataset",
    "StepPlan",
    "StepSampler",
    "resolve_workers",
    "sample",
    "step_loader",
    "step_rng",
    "to_device",
    "unwrap",
    "view_count",
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


def step_loader(
    dataset: StepDataset, start_epoch: int, epochs: int, steps: int, workers: int, pin_memory: bool = False
) -> DataLoader:
    """Every remaining step's inputs, made by ``workers`` processes (0: in this process)."""
    return item_loader(dataset, workers, pin_memory, StepSampler(start_epoch, epochs, steps), dataset.plan.seed)


def to_device(inputs: Mapping[str, Any], device: torch.device, channels_last: bool = False) -> Inputs:
    """The tensors of ``inputs`` on ``device`` (non-blocking from pinned memory); images
    ``[B, C, H, W]`` in channels-last layout when asked; plain values as they are."""
    out = {}
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor):
            image = channels_last and value.dim() == 4 and value.is_floating_point()  # not the uint8 store rows
            layout = torch.channels_last if image else torch.preserve_format
            value = value.to(device, non_blocking=True, memory_format=layout)
        out[key] = value
    return out


def view_count(inputs: Mapping[str, Any]) -> int:
    """How many images a step's inputs make for the model: its views (every ``<group>:image`` array),
    or the rows of a ready ``x`` batch."""
    views = [len(value) for key, value in inputs.items() if key.endswith(":image")]
    if views:
        return int(sum(views))
    return int(inputs["x"].shape[0]) if "x" in inputs else 0
