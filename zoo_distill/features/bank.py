"""The teacher-target bank: each teacher's features on V deterministic views of every image.

Built once through the feature cache (view 0 is the plain image that ``rank`` cached), then
read by index during training, so distillation does not run a single teacher forward pass.

The bank is never held in memory: each view is one cache file, written batch by batch while it
is extracted, and training reads the rows of a batch from those files with positioned reads.
They go through the OS page cache, which the processes of a DDP job on one machine share, and
are not mapped into any process, so no process's RSS grows with the number of images.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.target import fingerprint
from zoo_distill.data.view_params import ViewParams, view_name, view_table
from zoo_distill.errors import CacheError
from zoo_distill.features.cache import FeatureCache, cache_key
from zoo_distill.features.extract import extract, teacher_store
from zoo_distill.plugin.types import SourceProvider, Teacher, ZooEntry
from zoo_distill.util import distributed
from zoo_distill.util.lock import SharedLock
from zoo_distill.util.rowfile import Rows, read_into
from zoo_distill.util.workers import resolve_workers

__all__ = ["TeacherBank", "build_bank", "teacher_views"]


class TeacherBank:
    """One source's features ``[V, N, D]`` on V views of N images, read by row from V files.

    ``bank[view, index]`` takes ints, slices or 1-D index tensors/arrays (advanced indices broadcast
    together, a slice makes its own axis, as in torch) and returns those rows as a new tensor of
    ``dtype``: ``bank[vt, it]`` is ``[B, D]``, ``bank[0, :n]`` is ``[n, D]``. The values are the stored
    float32 rows converted with torch, so they equal those of the stacked in-memory tensor.
    """

    def __init__(
        self,
        views: Sequence[Rows],
        dtype: torch.dtype = torch.float16,
        owner: Any = None,
        pins: Sequence[SharedLock] = (),
    ) -> None:
        if not views or len({(r.shape, r.dtype) for r in views}) != 1 or len(views[0].shape) != 2:
            raise ValueError(
                f"a bank needs views of one [N, D] shape and dtype, got {[(r.shape, str(r.dtype)) for r in views]}"
            )
        self.views, self.dtype = tuple(views), dtype
        self.shape = torch.Size((len(views), *views[0].shape))
        self.owner = owner  # what must live as long as the bank: its scratch folder when there is no cache
        self.pins = tuple(pins)  # shared locks on its cache files: ``cache clear`` leaves them while the bank lives
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    @property
    def nbytes(self) -> int:
        """Bytes of the rows on disk (all views)."""
        return sum(r.nbytes for r in self.views)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> torch.Tensor:
        view, index = key if isinstance(key, tuple) else (key, slice(None))
        v, v_slice = _axis(view, self.shape[0])
        i, i_slice = _axis(index, self.shape[1])
        if (v_slice or i_slice) and v.ndim and i.ndim:  # a slice is an axis of its own: outer product
            v, i = v[:, None], i[None, :]
        try:
            v, i = np.broadcast_arrays(v, i)
        except ValueError:
            raise IndexError(f"bank indices of shapes {v.shape} and {i.shape} do not broadcast") from None
        out = np.empty((v.size, self.shape[2]), self.views[0].dtype)
        self._read(v.reshape(-1), i.reshape(-1), out)
        return torch.from_numpy(out).to(self.dtype).reshape(*v.shape, self.shape[2])

    def _read(self, v: np.ndarray, i: np.ndarray, out: np.ndarray) -> None:
        """Rows ``(v[k], i[k])`` into ``out[k]``: one read per run of consecutive rows of one view."""
        if not len(v):
            return
        row_bytes = self.views[0].row_bytes
        cut = np.flatnonzero((np.diff(v) != 0) | (np.diff(i) != 1)) + 1
        raw = out.reshape(-1).view(np.uint8).data
        for begin, end in zip(np.concatenate([[0], cut]), np.concatenate([cut, [len(v)]])):
            rows = self.views[v[begin]]
            read_into(
                self._fd(int(v[begin])),
                raw[begin * row_bytes : end * row_bytes],
                rows.offset + int(i[begin]) * row_bytes,
            )

    def _fd(self, view: int) -> int:
        if self._pid != os.getpid():  # a forked child: its own descriptors
            self._fds, self._pid = {}, os.getpid()
        if view not in self._fds:
            self._fds[view] = os.open(self.views[view].path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return self._fds[view]

    def close(self) -> None:
        """Close the files (reading again reopens them)."""
        if self._pid == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}

    def __del__(self) -> None:
        try:
            self.close()
        except (OSError, AttributeError):
            pass

    def __getstate__(self) -> dict[str, Any]:  # descriptors do not travel to another process
        return {**self.__dict__, "_fds": {}, "owner": None, "pins": ()}

    def __repr__(self) -> str:
        return f"TeacherBank(shape={tuple(self.shape)}, dtype={self.dtype}, files={len(self.views)})"


def _axis(index: Any, size: int) -> tuple[np.ndarray, bool]:
    """One axis of a bank index as int64 positions (negatives counted from the end), and whether it was a slice."""
    if isinstance(index, slice):
        return np.arange(*index.indices(size), dtype=np.int64), True
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu().numpy()
    positions = np.asarray(index)
    if positions.dtype == bool or not np.issubdtype(positions.dtype, np.integer) or positions.ndim > 1:
        raise IndexError(f"a bank index must be an int, a slice or a 1-D integer tensor, got {index!r}")
    positions = positions.astype(np.int64)
    if positions.size and (positions.min() < -size or positions.max() >= size):
        raise IndexError(f"bank index out of range for size {size}")
    return np.where(positions < 0, positions + size, positions), False


@dataclass(frozen=True)
class _View:
    """The parameters of view ``view`` of every image, as ``extract`` asks for them (picklable, for workers)."""

    table: ViewParams

    def __call__(self, index: np.ndarray) -> ViewParams:
        return self.table.take(np.asarray(index, np.int64)).on_images(np.arange(len(index)))


def _rows(cache: FeatureCache, name: str, key: str, images: int) -> Rows | None:
    """The features of ``key`` if they are cached whole and intact (their checksum is verified)."""
    found = cache.locate(name, key)
    rows = found.get("features") if found is not None else None
    return rows if rows is not None and rows.shape[0] == images else None


def _pinned_rows(cache: FeatureCache, name: str, key: str, images: int, pins: list[SharedLock]) -> Rows | None:
    """``_rows`` read under a shared lock kept in ``pins`` (rank 0 only: one holder per machine suffices),
    so the file cannot be cleared between this check and the last read of training; None (unpinned) on a miss."""
    pin = cache.pin(name, key) if distributed.is_main() else None
    rows = _rows(cache, name, key, images)
    if pin is not None:
        if rows is None:
            pin.release()  # before extracting it: the extraction's exclusive lock would wait for our pin
        else:
            pins.append(pin)
    return rows


def teacher_views(
    entry: ZooEntry,
    provider: SourceProvider,
    paths: Sequence[Path],
    views: int,
    policy: ViewPolicy,
    view_seed: int,
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    data_fingerprint: str | None = None,
    workers: int | None = None,
    splits: Sequence[int] = (),
) -> TeacherBank:
    """Features ``[V, N, D]`` (float16) of one teacher on every view; builds the teacher only on a miss.

    Without a ``cache`` the views are written to a scratch folder (``$TMPDIR``) that lives as long as
    the bank. Rank 0 decides which views are missing and every rank follows it (all extract or none).
    """
    owner = None
    if cache is None:
        cache, owner = _scratch_cache()
    data_fingerprint = data_fingerprint or fingerprint(paths)  # once, not once per view
    names = [view_name(policy, view_seed, v) for v in range(views)]
    found: dict[int, Rows] = {}
    pins: list[SharedLock] = []
    if provider.identify is not None:
        identity = provider.identify(entry)
        keys = [cache_key(identity.digest, data_fingerprint, dict(identity.data_config), n) for n in names]
        if distributed.is_main():
            found = {
                v: rows
                for v in range(views)
                if (rows := _pinned_rows(cache, entry.name, keys[v], len(paths), pins)) is not None
            }
        present = distributed.broadcast_object(sorted(found))
        if not distributed.is_main():
            for v in present:
                rows = _rows(cache, entry.name, keys[v], len(paths))
                if rows is None:
                    raise CacheError(
                        f"the cached features of {entry.name} vanished while being read "
                        f"(was the cache cleared meanwhile?)"
                    )
                found[v] = rows
    if len(found) < views:
        teacher: Teacher = provider.load(entry)
        decoders = resolve_workers(workers, len(paths), batch_size)
        store = teacher_store(teacher, paths, cache, decoders, progress, data_fingerprint, splits)
        own_sizes = store.shapes[:, 2:]  # each decoded image's own size: the same in a store of any rung
        for v in range(views):
            if v not in found:
                fs = extract(
                    teacher,
                    paths,
                    cache,
                    batch_size,
                    device,
                    progress,
                    view=names[v],
                    views=_View(view_table(policy, view_seed, v, own_sizes)),
                    data_fingerprint=data_fingerprint,
                    workers=workers,
                    keep=False,
                    store=store,
                )
                rows = _pinned_rows(cache, teacher.name, fs.key, len(paths), pins) if fs.key else None
                if rows is None:
                    raise CacheError(f"the features of {teacher.name} just written to {fs.path} cannot be read back")
                found[v] = rows
    return TeacherBank([found[v] for v in range(views)], owner=owner, pins=pins)


def _scratch_cache() -> tuple[FeatureCache, Any]:
    """A feature cache in a temporary folder (rank 0's, shared by the ranks), removed with its owner."""
    scratch = tempfile.TemporaryDirectory(prefix="zoo-distill-bank-") if distributed.is_main() else None
    root = distributed.broadcast_object(scratch.name if scratch is not None else None)
    return FeatureCache(root), scratch


def build_bank(
    entries: Mapping[str, tuple[ZooEntry, SourceProvider]],
    paths: Sequence[Path],
    views: int,
    policy: ViewPolicy,
    view_seed: int,
    cache: FeatureCache | None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Progress | None = None,
    workers: int | None = None,
    splits: Sequence[int] = (),
) -> dict[str, TeacherBank]:
    """The bank for every source with a non-zero weight (``workers``: DataLoader processes on a miss;
    ``splits``: the sizes of the splits ``paths`` is made of, each read from its own image store).

    Without a ``cache`` all sources share one scratch folder, removed once the banks are gone.
    """
    owner = None
    if cache is None:
        cache, owner = _scratch_cache()
    data_fingerprint = fingerprint(paths)
    banks = {
        name: teacher_views(
            entry,
            provider,
            paths,
            views,
            policy,
            view_seed,
            cache,
            batch_size,
            device,
            progress,
            data_fingerprint,
            workers,
            splits,
        )
        for name, (entry, provider) in entries.items()
    }
    for bank in banks.values():
        bank.owner = owner
    return banks
