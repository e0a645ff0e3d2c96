"""DataLoaders over map-style datasets whose items are whole batches, and the one failure carrier.

Every input of the toolkit (a training step, a batch of store rows for a teacher or for evaluation,
an image decoded into the store) is one item made by a DataLoader worker. A user-facing error raised
there (an unreadable image) travels to the main process as a value, ``Failed``, and is raised there as
itself by ``unwrap``, not wrapped in a worker traceback.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.util  # noqa: F401  (registers its exit handler first, so ours runs before it)
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo_distill.errors import ZooDistillError
from zoo_distill.util.interrupts import ignore_in_worker

__all__ = ["Failed", "item_loader", "unwrap"]


@dataclass(frozen=True)
class Failed:
    """A user-facing error raised in a worker, carried to the main process as a value."""

    error: ZooDistillError


def unwrap(item: Any) -> Any:
    """The item itself, or its worker's error raised here."""
    if isinstance(item, Failed):
        raise item.error
    return item


def _kill_leftover_workers() -> None:
    """At exit, kill the DataLoader workers still alive. They ignore SIGTERM (their parent handles it,
    ``util/interrupts.py``), so multiprocessing's own exit handler, which terminates daemonic children
    with SIGTERM and then joins them, would wait forever for a worker whose iterator was never shut
    down (one left referenced by an exception's traceback until exit)."""
    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()


atexit.register(_kill_leftover_workers)  # after multiprocessing's handler is registered: runs before it


def _context() -> str | None:
    """``fork`` where it is the safe default (Linux): workers share what the parent holds copy-on-write."""
    return "fork" if sys.platform.startswith("linux") else None


def item_loader(
    dataset: Dataset, workers: int, pin_memory: bool = False, sampler: Sampler | None = None, seed: int = 0
) -> DataLoader:
    """Items as the dataset makes them (``batch_size=None``), in order, ``2 * workers`` prefetched.

    The DataLoader's own seed comes from a private generator, so the global torch stream (the
    student's dropout, ...) is the same with and without workers. ``pin_memory`` copies each item
    into pinned memory in the loader's thread, so its move to a GPU can overlap the previous step."""
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
