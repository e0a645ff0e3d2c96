"""The feature cache: teacher outputs stored once as safetensors, keyed by everything they depend on.

A key combines the teacher's weights digest, the data fingerprint, the preprocessing
and the augmentation view. Files are written to a temporary name and renamed into
place, so a crash never leaves a file that a later run would read as valid.

Several processes may share one cache (two ``rank`` runs, a sweep): a ``<file>.lock`` next to
a file (``filelock``, an OS-level lock the OS releases if its holder dies) serialises the
score file's read-merge-write and the extraction of one set of features, so no score is lost
and the second extractor waits and reads the first one's file. Every file appears complete, by an
atomic rename.

A file in use is pinned: a run reading its bank (``pin``) holds a shared lock on the file's
``.lock``, an extraction holds the exclusive one, and ``cache clear`` deletes only files whose lock
it can take at once; the others (and their temporaries) are skipped and reported as in use.

Each file carries a checksum of its arrays (``rowfile.arrays_digest``, in the header's metadata
under ``zoo_distill_sha256``; scores files carry one of their JSON): ``load`` and ``locate`` verify
it, and a mismatch (flipped bytes on disk) is a miss, so the features are extracted again.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from zoo_distill.errors import CacheError
from zoo_distill.util.atomic import atomic_write, atomic_write_text
from zoo_distill.util.digest import json_digest
from zoo_distill.util.lock import SharedLock, exclusive_now
from zoo_distill.util.paths import default_cache_dir
from zoo_distill.util.rowfile import Rows, RowWriter, arrays_digest, locate, rows_digest

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CacheEntry", "ClearResult", "FORMAT_VERSION", "FeatureCache", "LOCK_SUFFIX", "cache_key"]

FORMAT_VERSION = 3  # 2: every file carries a checksum; 3: views made from the image store (older keys: misses)
_META_KEY = "zoo_distill"
_SUM_KEY = "zoo_distill_sha256"
LOCK_SUFFIX = ".lock"
_NO_CACHE_HINT = "; free space, choose another --cache-dir, or pass --no-cache"


def cache_key(teacher_digest: str, data_fingerprint: str, preprocessing: Mapping[str, Any], view: str) -> str:
    return json_digest(
        {
            "format": FORMAT_VERSION,
            "teacher": teacher_digest,
            "data": data_fingerprint,
            "preprocessing": preprocessing,
            "view": view,
        }
    )


@dataclass(frozen=True)
class ClearResult:
    """What ``clear`` did: files and bytes removed, and the files skipped because a process uses them."""

    count: int
    size: int
    in_use: tuple[Path, ...] = ()

    def __iter__(self) -> Iterator[int]:  # ``count, size = cache.clear()`` as before
        return iter((self.count, self.size))

    def __getitem__(self, index: int) -> int:
        return (self.count, self.size)[index]


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

    def pin(self, teacher_name: str, key: str) -> SharedLock:
        """A shared lock (taken) on this key's file, held while it is read (a bank during training), so
        ``cache clear`` leaves it; waits while another process extracts it. Release it before extracting
        this key in the same process (the extraction's exclusive lock would wait for it)."""
        path = self.path_for(teacher_name, key)
        try:
            return SharedLock(path.with_name(path.name + LOCK_SUFFIX)).acquire()
        except OSError as exc:
            raise CacheError(
                f"cannot lock the feature cache file {path}: {exc.strerror or exc}{_NO_CACHE_HINT}"
            ) from None

    def load(self, teacher_name: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The cached arrays and metadata, or None on a miss (or an unreadable/foreign file)."""
        path = self.path_for(teacher_name, key)
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="np") as fh:
                header = fh.metadata() or {}
                meta = json.loads(header.get(_META_KEY, "{}"))
                if meta.get("key") != key:
                    return None
                arrays = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 (not a dict)
        except (SafetensorError, OSError, ValueError, AttributeError):
            return None  # a damaged file is a miss; it gets rewritten atomically
        if header.get(_SUM_KEY) != arrays_digest(arrays):
            return None  # damaged on disk since it was written (or no checksum): a miss, extracted again
        return arrays, meta

    def save(self, teacher_name: str, key: str, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> Path:
        """Write atomically: temporary file in the same folder, fsync, then rename over."""
        path = self.path_for(teacher_name, key)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            meta = {**metadata, "key": key, "format": FORMAT_VERSION, "created": time.time()}
            tensors = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
            header = {_META_KEY: json.dumps(meta, default=str), _SUM_KEY: arrays_digest(tensors)}
            atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
        except (OSError, SafetensorError) as exc:  # safetensors reports a full disk as SafetensorError
            raise CacheError(f"cannot write the feature cache at {path}: {exc}{_NO_CACHE_HINT}") from None
        return path

    def writer(
        self,
        teacher_name: str,
        key: str,
        shapes: Mapping[str, tuple[tuple[int, ...], Any]],
        metadata: Mapping[str, Any],
    ) -> RowWriter:
        """A writer that streams rows into this key's file (shapes known up front, metadata as ``save``
        stamps it): bounded memory, and the same atomic rename as ``save`` once every row is there."""
        meta = {**metadata, "key": key, "format": FORMAT_VERSION, "created": time.time()}
        return _CacheWriter(
            self.path_for(teacher_name, key), shapes, {_META_KEY: json.dumps(meta, default=str)}, checksum=_SUM_KEY
        )

    def locate(self, teacher_name: str, key: str, verify: bool = True) -> dict[str, Rows] | None:
        """Where this key's arrays lie in their file, or None on a miss (or an unreadable, truncated,
        foreign or damaged file). ``verify`` reads the rows once to check the file's checksum (about
        a second per GB); ``verify=False`` reads the header alone, for a file this process just wrote."""
        try:
            arrays, metadata = locate(self.path_for(teacher_name, key))
            meta = json.loads(metadata.get(_META_KEY, "{}"))
            if not isinstance(meta, dict) or meta.get("key") != key:
                return None
            if verify and metadata.get(_SUM_KEY) != rows_digest(arrays):
                return None  # damaged since it was written: a miss, extracted again
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return arrays

    def _scores_path(self, key: str) -> Path:
        return self.root / "scores" / f"{key[:32]}.json"

    def load_scores(self, key: str) -> dict[str, float]:
        """Metric scores computed earlier on features with this key (empty on a miss)."""
        path = self._scores_path(key)
        try:
            data = json.loads(path.read_text())
            scores = data.get("scores", {})
            if data.get("key") != key or data.get("sha256") != json_digest({"key": key, "scores": scores}):
                return {}  # another key's, or damaged since it was written: a miss, scored again
        except (OSError, ValueError, AttributeError):
            return {}
        return scores

    def save_scores(self, key: str, scores: Mapping[str, float]) -> None:
        """Merge scores into the key's file under its lock (two processes never drop each other's
        scores), atomically (a crash leaves the old file or none)."""
        path = self._scores_path(key)
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with FileLock(path.with_name(path.name + LOCK_SUFFIX)):
                merged = {**self.load_scores(key), **scores}
                payload = {"key": key, "scores": merged}
                atomic_write_text(path, json.dumps({**payload, "sha256": json_digest(payload)}))
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

    def clear(self, teacher: str | None = None) -> ClearResult:
        """Delete cached files (only one teacher's when named) and stray temporaries.

        A file in use (a run reading it, a process extracting or scoring into it: its lock is held)
        is skipped and listed in ``in_use``, with its temporaries; each removal happens under the
        file's exclusive lock, so nobody starts using a file while it goes. Lock files go with the
        files they guard, except those held right now. Sub-folders (not written by the cache) are
        left alone; a file that cannot be removed is a CacheError naming it.
        """
        try:
            return self._clear(teacher)
        except OSError as exc:
            where = exc.filename or self.root
            raise CacheError(f"cannot clear the feature cache: {where}: {exc.strerror or exc}") from None

    def _clear(self, teacher: str | None) -> ClearResult:
        count = size = 0
        in_use: list[Path] = []
        scores = self.root / "scores"
        if teacher is None and scores.exists():
            for path in list(scores.iterdir()):
                if not path.name.endswith(LOCK_SUFFIX) and _is_plain_file(path):
                    size += _remove_unused(path, in_use)
            _remove_free_locks(scores.glob("*" + LOCK_SUFFIX))
        if not self.dir.exists():
            return ClearResult(count, size, tuple(in_use))
        removed = []
        for path in list(self.dir.iterdir()):
            if path.name.endswith(LOCK_SUFFIX) or not _is_plain_file(path):
                continue
            stray = _is_temporary(path)
            if teacher is not None and not stray and _teacher_of(path) != teacher:
                continue
            if stray or path.suffix == ".safetensors":
                freed = _remove_unused(path, in_use)
                if freed >= 0:
                    size += freed
                    count += 1
                    removed.append(path)
        locks = (
            self.dir.glob("*" + LOCK_SUFFIX)
            if teacher is None
            else (p.with_name(p.name + LOCK_SUFFIX) for p in removed)
        )
        _remove_free_locks(locks)
        return ClearResult(count, size, tuple(in_use))


def _teacher_of(path: Path) -> Any:
    try:
        with safe_open(str(path), framework="np") as fh:
            return json.loads((fh.metadata() or {}).get(_META_KEY, "{}")).get("teacher")
    except (SafetensorError, OSError, ValueError, AttributeError):
        return None


def _is_temporary(path: Path) -> bool:
    """An ``atomic_write`` / RowWriter temporary: ``.<final name>.<random>.tmp``."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _guard(path: Path) -> Path:
    """The lock file that guards ``path``: its own, or for a temporary, that of the file it becomes."""
    name = path.name[1:].rsplit(".", 2)[0] if _is_temporary(path) else path.name
    return path.with_name(name + LOCK_SUFFIX)


def _remove_unused(path: Path, in_use: list[Path]) -> int:
    """Remove ``path`` under its lock and return its size; -1 (and ``path`` added to ``in_use``) if a
    process holds the lock (reads, extracts or writes it)."""
    with exclusive_now(_guard(path)) as held:
        if not held:
            in_use.append(path)
            return -1
        try:
            freed = path.lstat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return freed


class _CacheWriter(RowWriter):
    """A RowWriter whose I/O errors are CacheErrors saying how to get past them (a full disk, ...)."""

    def __enter__(self) -> Self:
        with _write_errors(self.path):
            return super().__enter__()

    def write(self, name: str, start: int, rows: np.ndarray) -> None:
        with _write_errors(self.path):
            super().write(name, start, rows)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with _write_errors(self.path):
            super().__exit__(kind, exc, tb)


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
    """Delete lock files no process holds (a held one belongs to a running extraction, save or reader)."""
    for path in paths:
        if not path.exists():
            continue
        with exclusive_now(path) as held:
            if held:
                path.unlink(missing_ok=True)
