"""The feature cache: teacher outputs stored once as safetensors, keyed by everything they depend on.

A key combines the teacher's weights digest, the data fingerprint, the preprocessing
and the augmentation view. Files are written to a temporary name and renamed into
place, so a crash never leaves a file that a later run would read as valid.

Several processes may share one cache (two ``rank`` runs, a sweep): a ``<file>.lock`` next to
a file (``filelock``, an OS-level lock the OS releases if its holder dies) serialises the
score file's read-merge-write and the extraction of one set of features, so no score is lost
and the second extractor waits and reads the first one's file. Readers take no lock: every
file appears complete, by an atomic rename.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock, Timeout
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from zoo_distill.errors import CacheError
from zoo_distill.features.rowfile import Rows, RowWriter, locate
from zoo_distill.util.atomic import atomic_write, atomic_write_text
from zoo_distill.util.digest import json_digest
from zoo_distill.util.paths import default_cache_dir

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CacheEntry", "FORMAT_VERSION", "FeatureCache", "LOCK_SUFFIX", "cache_key"]

FORMAT_VERSION = 1
_META_KEY = "zoo_distill"
LOCK_SUFFIX = ".lock"
_NO_CACHE_HINT = "; free space, choose another --cache-dir, or pass --no-cache"


def cache_key(teacher_digest: str, data_fingerprint: str, preprocessing: Mapping[str, Any], view: str) -> str:
    return json_digest(
        {"format": FORMAT_VERSION, "teacher": teacher_digest, "data": data_fingerprint,
         "preprocessing": preprocessing, "view": view}
    )


@dataclass(frozen=True)
class CacheEntry:
    """One cached file and what it holds, for ``zoo-distill cache ls``."""

    path: Path
    size: int
    metadata: dict[str, Any]


class FeatureCache:
    """A folder of ``<teacher>-<key>.safetensors`` files with JSON metadata in their headers."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.dir = self.root / "features"

    def path_for(self, teacher_name: str, key: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", teacher_name)[:64]
        return self.dir / f"{safe}-{key[:24]}.safetensors"

    def lock(self, teacher_name: str, key: str) -> FileLock:
        """The lock a process holds while it extracts (and stores) the features of this key."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the feature cache {self.dir}: {exc}{_NO_CACHE_HINT}") from None
        path = self.path_for(teacher_name, key)
        return FileLock(path.with_name(path.name + LOCK_SUFFIX))

    def load(self, teacher_name: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The cached arrays and metadata, or None on a miss (or an unreadable/foreign file)."""
        path = self.path_for(teacher_name, key)
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="np") as fh:
                meta = json.loads((fh.metadata() or {}).get(_META_KEY, "{}"))
                if meta.get("key") != key:
                    return None
                arrays = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 (not a dict)
        except (SafetensorError, OSError, ValueError):
            return None  # a damaged file is a miss; it gets rewritten atomically
        return arrays, meta

    def save(self, teacher_name: str, key: str, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> Path:
        """Write atomically: temporary file in the same folder, fsync, then rename over."""
        path = self.path_for(teacher_name, key)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            meta = {**metadata, "key": key, "format": FORMAT_VERSION, "created": time.time()}
            tensors = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
            atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={_META_KEY: json.dumps(meta, default=str)}))
        except (OSError, SafetensorError) as exc:  # safetensors reports a full disk as SafetensorError
            raise CacheError(f"cannot write the feature cache at {path}: {exc}{_NO_CACHE_HINT}") from None
        return path

    def writer(self, teacher_name: str, key: str, shapes: Mapping[str, tuple[tuple[int, ...], Any]],
               metadata: Mapping[str, Any]) -> RowWriter:
        """A writer that streams rows into this key's file (shapes known up front, metadata as ``save``
        stamps it): bounded memory, and the same atomic rename as ``save`` once every row is there."""
        meta = {**metadata, "key": key, "format": FORMAT_VERSION, "created": time.time()}
        return _CacheWriter(self.path_for(teacher_name, key), shapes, {_META_KEY: json.dumps(meta, default=str)})

    def locate(self, teacher_name: str, key: str) -> dict[str, Rows] | None:
        """Where this key's arrays lie in their file, from its header alone (no row is read), or None
        on a miss (or an unreadable, truncated or foreign file)."""
        try:
            arrays, metadata = locate(self.path_for(teacher_name, key))
            meta = json.loads(metadata.get(_META_KEY, "{}"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return arrays if isinstance(meta, dict) and meta.get("key") == key else None

    def _scores_path(self, key: str) -> Path:
        return self.root / "scores" / f"{key[:32]}.json"

    def load_scores(self, key: str) -> dict[str, float]:
        """Metric scores computed earlier on features with this key (empty on a miss)."""
        path = self._scores_path(key)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data.get("scores", {}) if data.get("key") == key else {}

    def save_scores(self, key: str, scores: Mapping[str, float]) -> None:
        """Merge scores into the key's file under its lock (two processes never drop each other's
        scores), atomically (a crash leaves the old file or none)."""
        path = self._scores_path(key)
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with FileLock(path.with_name(path.name + LOCK_SUFFIX)):
                merged = {**self.load_scores(key), **scores}
                atomic_write_text(path, json.dumps({"key": key, "scores": merged}))
        except OSError as exc:
            raise CacheError(f"cannot write metric scores to {folder}: {exc}{_NO_CACHE_HINT}") from None

    def entries(self) -> list[CacheEntry]:
        found = []
        for path in sorted(self.dir.glob("*.safetensors")) if self.dir.exists() else []:
            if not path.is_file():  # a folder someone named *.safetensors is not ours
                continue
            try:
                with safe_open(str(path), framework="np") as fh:
                    meta = json.loads((fh.metadata() or {}).get(_META_KEY, "{}"))
            except (SafetensorError, OSError, ValueError):
                meta = {"error": "unreadable"}
            found.append(CacheEntry(path, path.stat().st_size, meta))
        return found

    def clear(self, teacher: str | None = None) -> tuple[int, int]:
        """Delete cached files (only one teacher's when named) and stray temporaries: (files, bytes).

        Lock files go with the files they guard (all of them when no teacher is named), except
        those held right now by a process still extracting or saving; they are not counted.
        Sub-folders (not written by the cache) are left alone; a file that cannot be removed is a
        CacheError naming it.
        """
        try:
            return self._clear(teacher)
        except OSError as exc:
            where = exc.filename or self.root
            raise CacheError(f"cannot clear the feature cache: {where}: {exc.strerror or exc}") from None

    def _clear(self, teacher: str | None) -> tuple[int, int]:
        count = size = 0
        scores = self.root / "scores"
        if teacher is None and scores.exists():
            for path in scores.iterdir():
                if path.name.endswith(LOCK_SUFFIX) or not _is_plain_file(path):
                    continue
                size += path.lstat().st_size
                path.unlink()
            _remove_free_locks(scores.glob("*" + LOCK_SUFFIX))
        if not self.dir.exists():
            return count, size
        removed = []
        for path in list(self.dir.iterdir()):
            if path.name.endswith(LOCK_SUFFIX) or not _is_plain_file(path):
                continue
            stray = path.name.startswith(".") and path.name.endswith(".tmp")
            if teacher is not None and not stray:
                try:
                    with safe_open(str(path), framework="np") as fh:
                        meta = json.loads((fh.metadata() or {}).get(_META_KEY, "{}"))
                except (SafetensorError, OSError, ValueError):
                    meta = {}
                if meta.get("teacher") != teacher:
                    continue
            if stray or path.suffix == ".safetensors":
                size += path.lstat().st_size
                path.unlink()
                count += 1
                removed.append(path)
        locks = self.dir.glob("*" + LOCK_SUFFIX) if teacher is None else (
            p.with_name(p.name + LOCK_SUFFIX) for p in removed)
        _remove_free_locks(locks)
        return count, size


class _CacheWriter(RowWriter):
    """A RowWriter whose I/O errors are CacheErrors saying how to get past them (a full disk, ...)."""

    def __enter__(self) -> Self:
        with _write_errors(self.path):
            return super().__enter__()

    def write(self, name: str, start: int, rows: np.ndarray) -> None:
        with _write_errors(self.path):
            super().write(name, start, rows)

    def __exit__(self, *exc_info: object) -> None:
        with _write_errors(self.path):
            super().__exit__(*exc_info)


@contextlib.contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise CacheError(f"cannot write the feature cache at {path}: {exc}{_NO_CACHE_HINT}") from None


def _is_plain_file(path: Path) -> bool:
    """A regular file or a link (never followed): what ``unlink`` removes; folders are not ours."""
    return path.is_symlink() or path.is_file()


def _remove_free_locks(paths: Iterable[Path]) -> None:
    """Delete lock files no process holds (a held one belongs to a running extraction or save)."""
    for path in paths:
        if not path.exists():
            continue
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):  # held, or gone meanwhile
            continue
        try:
            path.unlink(missing_ok=True)
        finally:
            lock.release()
