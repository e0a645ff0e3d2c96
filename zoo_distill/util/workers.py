"""How many DataLoader worker processes to use when the user does not say: one rule for feature
extraction and for training inputs."""

from __future__ import annotations

import os

__all__ = ["MAX_DEFAULT_WORKERS", "MAX_WORKERS", "default_workers"]

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
