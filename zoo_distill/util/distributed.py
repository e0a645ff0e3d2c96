"""torch.distributed, the standard engine: process-group set-up from ``torchrun``'s environment,
sharding helpers, and gathering results back in order.

Nothing here is active in a single process: every helper degrades to the identity, so the
library code that calls them reads the same with one process or many. torch is imported only when
a process group can exist (it is already loaded, or torchrun started several processes), so a
cached ``rank`` never pays for it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

__all__ = [
    "barrier",
    "broadcast_object",
    "gather_rows",
    "init_from_env",
    "is_main",
    "local_device",
    "rank",
    "shard",
    "split_batch",
    "world_size",
]


def _group():
    """``torch.distributed`` when a process group is up, else None (without importing torch)."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def world_size() -> int:
    group = _group()
    return group.get_world_size() if group else 1


def rank() -> int:
    group = _group()
    return group.get_rank() if group else 0


def is_main() -> bool:
    """Only rank 0 writes outputs (run directory, cache files, reports)."""
    return rank() == 0


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group ``torchrun`` describes (WORLD_SIZE > 1); gloo on CPU, nccl on CUDA."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        return False
    if not dist.is_initialized():
        from zoo_distill.util.device import pick_device

        device = pick_device(device)
        backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, init_method="env://")
    return True


def local_device(device: str) -> str:
    """``cuda`` becomes this process's ``cuda:LOCAL_RANK`` under torchrun."""
    if device == "cuda" and world_size() > 1:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device


def barrier() -> None:
    group = _group()
    if group and group.get_world_size() > 1:
        group.barrier()


def shard(n: int) -> np.ndarray:
    """The indices of ``range(n)`` this rank handles (strided, so shards differ by at most one)."""
    return np.arange(rank(), n, world_size())


def gather_rows(local: np.ndarray | None, n: int) -> np.ndarray | None:
    """Reassemble per-rank rows computed for ``shard(n)`` into one ``[n, ...]`` array on every rank."""
    if world_size() == 1:
        return local
    parts: list[Any] = [None] * world_size()
    _group().all_gather_object(parts, local)
    if any(p is None for p in parts):
        return None
    out = np.empty((n, *parts[0].shape[1:]), dtype=parts[0].dtype)
    for r, part in enumerate(parts):
        out[r :: world_size()] = part
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value of ``obj`` on every rank (e.g. an error to raise everywhere)."""
    if world_size() == 1:
        return obj
    box = [obj]
    _group().broadcast_object_list(box, src=0)
    return box[0]


def split_batch(indices: np.ndarray) -> np.ndarray:
    """This rank's part of a global batch drawn identically on every rank."""
    return indices[rank() :: world_size()] if world_size() > 1 else indices
