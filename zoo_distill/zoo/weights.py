"""Safe weight files: safetensors only, recognised by content, hashed for cache keys.

Pickle-based checkpoints (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) can run arbitrary code
on load, so they are refused with a message that says how to convert them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError

from zoo_distill.errors import UnsafeWeightsError, ZooDistillError

if TYPE_CHECKING:  # torch loads with the weights, not when a zoo is validated or listed
    import torch

__all__ = ["check_safetensors", "file_digest", "load_into", "load_state_dict", "weights_file_problem"]

_PICKLE_HINT = (
    "only safetensors weights are loaded (pickle checkpoints can run arbitrary code); convert it once with "
    "`safetensors.torch.save_file(torch.load(PATH, weights_only=True), 'model.safetensors')` in a trusted environment"
)


def weights_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a weights file (missing, a folder, a symlink loop, unreadable), or None.

    ``Path.exists`` is False for a symlink loop and True for a folder; both would be misreported.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"weights file {path} does not exist"
    except OSError as exc:  # ELOOP, EACCES on a parent folder, ENAMETOOLONG, ...
        return f"weights file {path} cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return f"weights path {path} is a folder, not a safetensors file"
    if not stat.S_ISREG(info.st_mode):
        return f"weights path {path} is not a regular file"
    if not os.access(path, os.R_OK):
        return f"weights file {path} cannot be read: permission denied"
    return None


def check_safetensors(path: Path, who: str) -> None:
    """Raise a clear error unless ``path`` is a readable file with a safetensors header."""
    problem = weights_file_problem(path)
    if problem is not None:
        raise ZooDistillError(f"{who}: {problem}")
    try:
        with path.open("rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise ZooDistillError(f"{who}: weights file {path} cannot be read: {exc.strerror or exc}") from None
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise UnsafeWeightsError(f"{who}: {path} is a pickle/zip checkpoint; {_PICKLE_HINT}")
    if len(head) < 9:
        raise UnsafeWeightsError(f"{who}: {path} is too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", head[:8])
    if head[8:9] != b"{" or header_len > path.stat().st_size:
        raise UnsafeWeightsError(f"{who}: {path} is not a safetensors file; {_PICKLE_HINT}")


def load_state_dict(path: Path, who: str) -> dict[str, torch.Tensor]:
    """Load a safetensors state dict on CPU, after checking the format."""
    check_safetensors(path, who)
    try:
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooDistillError(f"{who}: cannot read safetensors file {path}: {exc}") from None


def load_into(model: torch.nn.Module, path: Path, who: str) -> None:
    """Load weights strictly, turning a shape/key mismatch into an error naming the source."""
    state = load_state_dict(path, who)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ZooDistillError(f"{who}: weights in {path} do not fit the architecture: {' '.join(first)}") from None


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) within the process."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
