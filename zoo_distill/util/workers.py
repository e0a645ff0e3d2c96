"""How many DataLoader worker processes to use when the user does not say: one rule for feature
extraction and for training inputs."""

from __future__ import annotations

import os

from zoo_distill.util.checks import check_int

__all__ = ["MAX_DEFAULT_WORKERS", "MAX_WORKERS", "default_workers", "resolve_workers"]

#: At most this many workers by default: beyond it a forward pass, not decoding, is the limit.
MAX_DEFAULT_WORKERS = 8
#: More than this is a typo, not a setting (``--workers``).
MAX_WORKERS = 256


def default_workers() -> int:
    """The CPUs this process may use (``os.sched_getaffinity``), shared by the processes ``torchrun``
    started on this machine, less one for each process itself, at most ``MAX_DEFAULT_WORKERS``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(MAX_DEFAULT_WORKERS, cpus // local - 1))


def resolve_workers(workers: int | None, images: int | None = None, batch_size: int | None = None) -> int:
    """``workers`` (checked), or when None the default: none when the work is a single batch of
    ``batch_size`` (nothing to overlap), else ``default_workers()``. The count never changes a result,
    only how fast it comes."""
    if workers is not None:
        return check_int("--workers", workers, 0, MAX_WORKERS)
    if images is not None and batch_size is not None and images <= batch_size:
        return 0
    return default_workers()
