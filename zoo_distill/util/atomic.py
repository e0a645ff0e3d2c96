"""Atomic file writes: a crash leaves the old file or none, never a half-written one that a later
run would read as valid (temporary file in the same folder, fsync, rename over)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from zoo_distill.util.strict_json import json_text

__all__ = ["atomic_write", "atomic_write_json", "atomic_write_text"]


def atomic_write(path: Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, fsync the result, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, payload: Any) -> Path:
    """Strict JSON: a NaN or infinite number is written as null (``util.strict_json``)."""
    return atomic_write_text(path, json_text(payload))
