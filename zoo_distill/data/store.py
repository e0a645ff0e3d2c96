"""The decoded-image store: each split's images decoded once, kept as uint8 rows in one cache file.

Decoding a JPEG costs more than a small model's step on it, and a PIL view made one image at a time
costs more again; so pixels are decoded once, here, and every view is made later in batch on the
device that trains (``data/render.py``). The CPU only reads bytes.

**Layout.** One safetensors file per (list of images, side): ``pixels`` (uint8, every image's
``[h, w, 3]`` bytes one after the other), ``offsets`` (int64, where each image starts) and ``shapes``
(int32 ``[N, 4]``: stored height and width, then the decoded image's own height and width). A row
table rather than padded rows: images of any aspect keep it and cost their own bytes, not those of
the widest image, and a batch is padded only to its own largest image when it is read.

**Size.** An image is stored with its shorter side at most ``side`` (antialiased bicubic, once);
smaller images are kept as they are. ``side`` is the rung of ``RUNGS`` at or above what a consumer's
centre crop needs (``input / crop_pct``): consumers of nearby sizes share one store, and a view's
pixels depend on its consumer's own preprocessing only, so ``rank``'s teacher features are reused by
the bank whatever the student is.

**Safety.** The file is written under a temporary name, fsync-ed and renamed into place, under a
lock on ``<file>.lock`` (a second process waits and reads the first one's file; DDP ranks on one
machine share it). Its header carries a sha256 of the arrays, verified when the file is opened: a
damaged or truncated file is removed and rebuilt, never read. A reader pins the file with a shared
lock, so ``cache clear`` leaves it while it is in use. Rows are read with positioned reads, not
mapped, so no process's RSS grows with the store (the OS page cache holds what is hot).
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from PIL import Image
from torch.utils.data import Dataset

from zoo_distill.data.batches import Failed, item_loader, unwrap
from zoo_distill.data.decode import load_rgb
from zoo_distill.data.target import fingerprint
from zoo_distill.errors import CacheError, ZooDistillError
from zoo_distill.util.digest import json_digest
from zoo_distill.util.lock import SharedLock
from zoo_distill.util.rowfile import Rows, locate, read_into, rows_digest

__all__ = [
    "RUNGS",
    "STORE_FORMAT",
    "ImageStore",
    "load_store_file",
    "open_store",
    "store_side",
    "stored_size",
    "write_store_file",
]

STORE_FORMAT = 1
#: The sides a store keeps (shorter side, in pixels): a consumer reads the first rung at or above its need.
RUNGS = (32, 48, 64, 96, 128, 160, 192, 224, 256, 288, 320, 384, 448, 512, 640, 768, 1024)
_HEADER_BYTES = 4096  # the JSON header is written last, into room reserved before the rows
_SUM_KEY = "zoo_distill_sha256"
_LOCK_SUFFIX = ".lock"
_LOCK_POLL_S = 0.25  # how often a process waiting for another's build looks for the finished file


def store_side(data_config: Mapping[str, Any]) -> int:
    """The store rung a consumer reads: its input side over its centre-crop fraction, rounded up to a rung."""
    side = max(int(s) for s in data_config["input_size"][-2:])
    need = math.ceil(side / float(data_config.get("crop_pct") or 1.0))
    return next((rung for rung in RUNGS if rung >= need), max(need, RUNGS[-1]))


def stored_size(width: int, height: int, side: int) -> tuple[int, int]:
    """Width and height an image is stored at: its shorter side brought down to ``side``, aspect kept."""
    short = min(width, height)
    if short <= side:
        return width, height
    scale = side / short
    return max(1, round(width * scale)), max(1, round(height * scale))


class _Decoded(Dataset):
    """Item ``k``: image ``k`` decoded and brought to the store's side, with its own size (or the failure)."""

    def __init__(self, paths: Sequence[Path], side: int) -> None:
        self.paths, self.side = list(paths), side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int) -> tuple[np.ndarray, tuple[int, int]] | Failed:
        try:
            image = load_rgb(self.paths[k])
        except ZooDistillError as exc:
            return Failed(exc)
        size = stored_size(*image.size, self.side)
        own = (image.height, image.width)
        if size != image.size:
            image = image.resize(size, Image.Resampling.BICUBIC)
        return np.array(image, dtype=np.uint8), own  # a writable copy: the loader makes a tensor of it


@dataclass(frozen=True)
class _Part:
    """One store file: where its pixels start, and each image's offset and shapes."""

    path: Path
    pixels_at: int
    offsets: np.ndarray  # int64 [N]
    shapes: np.ndarray  # int32 [N, 4]: stored h, w, decoded h, w


_VERIFIED: dict[tuple[str, int, int, int], _Part] = {}  # files this process checked, by identity and time


class ImageStore:
    """Decoded uint8 images of one or more store files, read by index as padded batches.

    ``store.read(indices)`` is ``[B, H + 1, W + 1, 3]`` uint8 (H, W the largest stored height and width
    of the batch), each image at the top left with its last row and column repeated once, so bilinear
    sampling up to the image's edge never reads the padding. Concatenating stores (``+``) indexes the
    images of the first, then those of the second, as the run's labeled then unlabeled images.
    """

    def __init__(self, parts: Sequence[_Part], owner: Any = None, pins: Sequence[SharedLock] = ()) -> None:
        self.parts = tuple(parts)
        self.owner, self.pins = owner, tuple(pins)  # a scratch folder to outlive; shared locks on the files
        self._starts = np.cumsum([0] + [len(p.offsets) for p in self.parts])
        self.shapes = (
            np.concatenate([p.shapes for p in self.parts]) if self.parts else np.zeros((0, 4), np.int32)
        ).astype(np.int64)
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __add__(self, other: ImageStore) -> ImageStore:
        return ImageStore(self.parts + other.parts, (self.owner, other.owner), self.pins + other.pins)

    @property
    def sizes(self) -> np.ndarray:
        """``[N, 2]`` stored (height, width) of every image."""
        return self.shapes[:, :2]

    @property
    def nbytes(self) -> int:
        return int((self.shapes[:, 0] * self.shapes[:, 1] * 3).sum())

    def read(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """The stored images ``indices`` as one padded uint8 batch (see the class docstring)."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"store indices out of range for {len(self)} images")
        shapes = self.shapes[indices]
        height = int(shapes[:, 0].max()) + 1 if len(indices) else 1
        width = int(shapes[:, 1].max()) + 1 if len(indices) else 1
        out = np.zeros((len(indices), height, width, 3), np.uint8)
        part_of = np.searchsorted(self._starts, indices, side="right") - 1
        for k, (index, part) in enumerate(zip(indices, part_of)):
            p = self.parts[part]
            local = int(index - self._starts[part])
            h, w = int(p.shapes[local, 0]), int(p.shapes[local, 1])
            row = np.empty(h * w * 3, np.uint8)
            read_into(self._fd(int(part)), row.data, p.pixels_at + int(p.offsets[local]))
            image = row.reshape(h, w, 3)
            out[k, :h, :w] = image
            out[k, h, :w] = image[h - 1]
            out[k, : h + 1, w] = out[k, : h + 1, w - 1]
        return out

    def _fd(self, part: int) -> int:
        if self._pid != os.getpid():  # a forked child: its own descriptors
            self._fds, self._pid = {}, os.getpid()
        if part not in self._fds:
            self._fds[part] = os.open(self.parts[part].path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return self._fds[part]

    def close(self) -> None:
        if self._pid == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}

    def __del__(self) -> None:
        try:
            self.close()
        except (OSError, AttributeError):
            pass

    def __getstate__(self) -> dict[str, Any]:  # descriptors and locks stay with their process
        return {**self.__dict__, "_fds": {}, "owner": None, "pins": ()}

    def __repr__(self) -> str:
        return f"ImageStore(images={len(self)}, files={len(self.parts)}, bytes={self.nbytes})"


def _store_path(root: Path, paths: Sequence[Path], side: int, data_fingerprint: str | None) -> Path:
    key = json_digest({"format": STORE_FORMAT, "data": data_fingerprint or fingerprint(paths), "side": side})
    return root / "images" / f"{key[:24]}-{side}.safetensors"


def _read_part(path: Path) -> _Part | None:
    """The store file at ``path`` if it is whole and its checksum matches, else None (verified once per
    process and version of the file: ``rank`` over six teachers reads one store)."""
    try:
        info = path.stat()
    except OSError:
        return None
    identity = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
    if identity in _VERIFIED:
        return _VERIFIED[identity]
    part = _verified_part(path)
    if part is not None:
        _VERIFIED[identity] = part
    return part


def _verified_part(path: Path) -> _Part | None:
    try:
        arrays, metadata = locate(path)
        if set(arrays) != {"pixels", "offsets", "shapes"} or metadata.get(_SUM_KEY) != rows_digest(arrays):
            return None
        offsets = _load(arrays["offsets"])
        shapes = _load(arrays["shapes"])
    except (OSError, ValueError, KeyError):
        return None
    if shapes.ndim != 2 or shapes.shape != (len(offsets), 4):
        return None
    return _Part(path, arrays["pixels"].offset, offsets, shapes)


def _load(rows: Rows) -> np.ndarray:
    out = np.empty(rows.shape, rows.dtype)
    if out.nbytes:
        fd = os.open(rows.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            read_into(fd, out.reshape(-1).view(np.uint8).data, rows.offset)
        finally:
            os.close(fd)
    return out


def _write(path: Path, paths: Sequence[Path], side: int, workers: int, progress: Any, label: str) -> None:
    """Decode ``paths`` in ``workers`` processes and write the store file, published by one rename."""
    task = progress.add_task(f"decoding {label}", total=len(paths), info="") if progress is not None else None

    def decoded() -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
        for item in item_loader(_Decoded(paths, side), workers):
            yield unwrap(item)
            if task is not None:
                progress.advance(task)

    write_store_file(path, decoded(), len(paths), side)


def write_store_file(path: Path, images: Iterable[tuple[np.ndarray, tuple[int, int]]], n: int, side: int) -> None:
    """Write ``n`` images (each uint8 ``[h, w, 3]`` with its decoded image's own height and width) as a
    store file at ``path``, published by one rename. ``open_store`` calls it with the decoded images; code
    that makes its own pixel rows (benchmarks) calls it directly and reads the file with ``load_store_file``."""
    offsets, shapes = np.zeros(n, np.int64), np.zeros((n, 4), np.int32)
    pixels_at = 8 + _HEADER_BYTES + offsets.nbytes + shapes.nbytes
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        cursor, k = 0, -1
        for k, (pixels, (own_h, own_w)) in enumerate(images):
            if k >= n:
                raise ValueError(f"more than the {n} images announced for the store {path}")
            h, w = pixels.shape[:2]
            _write_at(fd, np.ascontiguousarray(pixels, np.uint8).reshape(-1).data, pixels_at + cursor)
            offsets[k], shapes[k] = cursor, (h, w, own_h, own_w)
            cursor += pixels.nbytes
        if k + 1 != n:
            raise ValueError(f"{k + 1} images where {n} were announced for the store {path}")
        _write_at(fd, offsets.astype("<i8").view(np.uint8).data, 8 + _HEADER_BYTES)
        _write_at(fd, shapes.astype("<i4").reshape(-1).view(np.uint8).data, 8 + _HEADER_BYTES + offsets.nbytes)
        table = {
            "offsets": ("I64", [n], 0, offsets.nbytes),
            "shapes": ("I32", [n, 4], offsets.nbytes, offsets.nbytes + shapes.nbytes),
            "pixels": ("U8", [cursor], offsets.nbytes + shapes.nbytes, offsets.nbytes + shapes.nbytes + cursor),
        }
        dtypes = {"I64": np.int64, "I32": np.int32, "U8": np.uint8}
        layout = {
            name: Rows(Path(tmp), 8 + _HEADER_BYTES + begin, tuple(shape), np.dtype(dtypes[tag]))
            for name, (tag, shape, begin, _) in table.items()
        }
        os.ftruncate(fd, pixels_at + cursor)
        meta = {"zoo_distill": json.dumps({"side": side, "images": n}), _SUM_KEY: rows_digest(layout, fd)}
        header: dict[str, Any] = {"__metadata__": meta}
        header.update(
            {name: {"dtype": tag, "shape": shape, "data_offsets": [b, e]} for name, (tag, shape, b, e) in table.items()}
        )
        raw = json.dumps(header, separators=(",", ":")).encode()
        if len(raw) > _HEADER_BYTES:  # pragma: no cover - the header holds three arrays and two short fields
            raise CacheError(f"the store header of {path} does not fit its {_HEADER_BYTES} reserved bytes")
        _write_at(fd, memoryview(struct.pack("<Q", _HEADER_BYTES) + raw.ljust(_HEADER_BYTES)), 0)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except OSError as exc:
        raise CacheError(
            f"cannot write the image store {path}: {exc}; free space, choose another --cache-dir, or pass --no-cache"
        )
    finally:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)


def _write_at(fd: int, data: memoryview, where: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], where + done)


def _build(path: Path, paths: Sequence[Path], side: int, workers: int, progress: Any, label: str) -> _Part:
    """Build the store file under its exclusive lock (one builder), or read the file another process built.

    The builder of a file pins it (a shared lock on the same lock file) for as long as it uses it, so a
    process that missed the file and then waits for the exclusive lock would wait for the whole of the
    other's run (two ranks of one DDP job, two runs on one cache): a waiter looks for the finished
    file between tries instead, and reads it as soon as it is whole."""
    lock = FileLock(str(path) + _LOCK_SUFFIX)
    while True:
        try:
            lock.acquire(timeout=_LOCK_POLL_S)
        except Timeout:
            part = _read_part(path)
            if part is not None:
                return part
            continue
        try:
            part = _read_part(path)
            if part is None:
                path.unlink(missing_ok=True)  # damaged or half-written by an older build: rebuilt, never read
                _write(path, paths, side, workers, progress, label)
                part = _read_part(path)
        finally:
            lock.release()
        if part is None:
            raise CacheError(f"the image store {path} just written cannot be read back")
        return part


def open_store(
    paths: Sequence[Path],
    side: int,
    root: Path | None,
    workers: int = 0,
    progress: Any = None,
    label: str = "images",
    data_fingerprint: str | None = None,
) -> ImageStore:
    """The store of ``paths`` at ``side`` under ``root`` (the cache folder): read if whole, else built.

    ``root=None`` builds it in a scratch folder that lives as long as the store. ``workers``: processes
    decoding on a miss (the stored bytes do not depend on it)."""
    owner = None
    if root is None:
        owner = tempfile.TemporaryDirectory(prefix="zoo-distill-store-")
        root = Path(owner.name)
    path = _store_path(Path(root), paths, side, data_fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create the image store folder {path.parent}: {exc}") from None
    pin = SharedLock(str(path) + _LOCK_SUFFIX)
    part = _read_part(path) or _build(path, paths, side, workers, progress, label)
    pin.acquire()
    if len(part.offsets) != len(paths):
        raise CacheError(f"the image store {path} holds {len(part.offsets)} images where {len(paths)} were expected")
    return ImageStore([part], owner=owner, pins=[pin])


def load_store_file(path: Path) -> ImageStore:
    """The store file at ``path`` (written by ``write_store_file``), its checksum verified and pinned."""
    part = _read_part(Path(path))
    if part is None:
        raise CacheError(f"{path} is not a whole image store (missing, damaged or half-written)")
    pin = SharedLock(str(path) + _LOCK_SUFFIX)
    pin.acquire()
    return ImageStore([part], pins=[pin])
