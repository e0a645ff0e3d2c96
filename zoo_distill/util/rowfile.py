"""Safetensors files written and read a few rows at a time, so no ``[N, D]`` array is held whole.

The bytes are plain safetensors (an 8-byte little-endian header length, a JSON header with each
array's dtype, shape and data offsets, then the raw little-endian data), laid out exactly as
``safetensors.numpy.save_file`` lays them out: ``safe_open`` reads these files like any other.
Because every shape is known before the first row exists, the header goes first and the rows are
written in place as they are computed. The file is written under a temporary name and renamed
into place only once every row is there: an exception or a crash before that never leaves a file
that a reader would take as valid.

Silent damage (flipped bytes on disk) is caught by a checksum: ``arrays_digest`` of the arrays
(names, dtypes, shapes and little-endian bytes), kept in the header's metadata. A row-by-row
file cannot know it when its header is written, so ``RowWriter(checksum=KEY)`` reserves the
field and fills it in place once every row is there, from one read of the rows back
(``rows_digest``); the bytes stay plain safetensors, and the digest is the same as that of the
arrays ``save_file`` would write.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["RowWriter", "Rows", "arrays_digest", "locate", "read_into", "rows_digest"]

_TO_TAG = {
    np.dtype(t): tag
    for t, tag in [
        ("float64", "F64"),
        ("float32", "F32"),
        ("float16", "F16"),
        ("int64", "I64"),
        ("int32", "I32"),
        ("uint8", "U8"),
    ]
}
_FROM_TAG = {tag: dtype for dtype, tag in _TO_TAG.items()}
_MAX_HEADER = 100_000_000  # safetensors' own limit: a larger length is a damaged file, not a header
_CHUNK = 8 << 20  # bytes per read when hashing rows back from a file
_PLACEHOLDER = "0" * 64  # a checksum field's reserved value (a sha256 in hex has this length)


def _array_tag(name: str, shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    return json.dumps([name, _TO_TAG.get(np.dtype(dtype), str(dtype)), list(shape)]).encode() + b"\0"


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 of named arrays (sorted by name: name, dtype, shape, then the little-endian bytes)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        digest.update(_array_tag(name, a.shape, a.dtype))
        digest.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


def rows_digest(arrays: Mapping[str, Rows], fd: int | None = None) -> str:
    """``arrays_digest`` of arrays in a file, read back in blocks of 8 MiB (from ``fd`` when given)."""
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    for name in sorted(arrays):
        rows = arrays[name]
        digest.update(_array_tag(name, rows.shape, rows.dtype))
        source = os.open(rows.path, os.O_RDONLY | getattr(os, "O_BINARY", 0)) if fd is None else fd
        try:
            done = 0
            while done < rows.nbytes:
                view = memoryview(buffer)[: min(_CHUNK, rows.nbytes - done)]
                read_into(source, view, rows.offset + done)
                digest.update(view)
                done += len(view)
        finally:
            if fd is None:
                os.close(source)
    return digest.hexdigest()


@dataclass(frozen=True)
class Rows:
    """Where one array's rows lie in a file: the byte offset of row 0, its shape and dtype."""

    path: Path
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.row_bytes if self.shape else self.dtype.itemsize

    def memmap(self) -> np.ndarray:
        """The array, read-only and memory-mapped: pages are read when (and only if) touched."""
        if self.nbytes == 0:
            return np.zeros(self.shape, self.dtype)
        return np.memmap(self.path, self.dtype, "r", self.offset, self.shape)


def locate(path: Path | str) -> tuple[dict[str, Rows], dict[str, str]]:
    """The arrays of a safetensors file and its metadata, from the header alone (no data is read).

    A file whose header is damaged, or whose size does not match its header (truncated), is a
    ValueError: readers treat it as absent.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > _MAX_HEADER:
            raise ValueError(f"{path}: header length {length} is not plausible")
        raw = fh.read(length)
        if len(raw) != length:
            raise ValueError(f"{path}: truncated header")
        size = os.fstat(fh.fileno()).st_size
    header = json.loads(raw)
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")  # noqa: TRY004 (damaged data, not a bad argument)
    metadata = header.pop("__metadata__", None) or {}
    start, end_of_data, arrays = 8 + length, 0, {}
    for name, info in header.items():
        dtype = _FROM_TAG.get(info.get("dtype"))
        if dtype is None:
            raise ValueError(f"{path}: {name} has an unsupported dtype {info.get('dtype')!r}")
        shape, (begin, end) = tuple(int(s) for s in info["shape"]), info["data_offsets"]
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"{path}: {name}'s offsets do not match its shape")
        arrays[name] = Rows(path, start + begin, shape, dtype)
        end_of_data = max(end_of_data, end)
    if start + end_of_data != size:
        raise ValueError(f"{path}: {size} bytes where the header describes {start + end_of_data}")
    return arrays, metadata


def read_into(fd: int, out: memoryview, offset: int) -> None:
    """Fill ``out`` with the bytes at ``offset``: a positioned read through the page cache (no mapping,
    so the pages count against no process), safe for several threads and forked processes."""
    done = 0
    while done < len(out):
        if hasattr(os, "preadv"):
            got = os.preadv(fd, [out[done:]], offset + done)
        else:  # pragma: no cover - platforms without preadv (Windows)
            os.lseek(fd, offset + done, os.SEEK_SET)
            got = os.readv(fd, [out[done:]])
        if got == 0:
            raise OSError(errno.EIO, f"unexpected end of file at byte {offset + done} (was it truncated?)")
        done += got


class RowWriter:
    """Write named arrays of known shapes into a new safetensors file, a block of rows at a time.

    Use as a context manager: on a clean exit the file is checked complete (every row written),
    fsync-ed and renamed over ``path``; on an exception the temporary file is removed. A killed
    process leaves only the temporary ``.<name>.<random>.tmp`` (what ``cache clear`` removes).
    """

    def __init__(
        self,
        path: Path | str,
        shapes: Mapping[str, tuple[tuple[int, ...], np.dtype | str]],
        metadata: Mapping[str, str] | None = None,
        checksum: str | None = None,
    ) -> None:
        self.path = Path(path)
        metadata = {**(metadata or {}), **({checksum: _PLACEHOLDER} if checksum else {})}
        specs = {name: (tuple(int(s) for s in shape), np.dtype(dtype)) for name, (shape, dtype) in shapes.items()}
        for name, (shape, dtype) in specs.items():
            if dtype not in _TO_TAG or not shape:
                raise ValueError(f"{name}: need an array of rows with a supported dtype, got {shape} {dtype}")
        # safetensors' own order: larger items first, then by name (so the bytes match save_file's).
        order = sorted(specs, key=lambda n: (-specs[n][1].itemsize, n))
        header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
        begin, self._rows = 0, {}
        for name in order:
            shape, dtype = specs[name]
            nbytes = math.prod(shape) * dtype.itemsize
            header[name] = {"dtype": _TO_TAG[dtype], "shape": list(shape), "data_offsets": [begin, begin + nbytes]}
            self._rows[name] = (begin, shape, dtype)
            begin += nbytes
        raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        raw += b" " * (-len(raw) % 8)
        self._head = struct.pack("<Q", len(raw)) + raw
        self._checksum_at = None  # where the checksum field's value lies in the file, filled on exit
        if checksum:
            field = json.dumps(checksum, ensure_ascii=False).encode() + b':"' + _PLACEHOLDER.encode()
            self._checksum_at = 8 + raw.index(field) + len(field) - len(_PLACEHOLDER)
        self._size = len(self._head) + begin
        self._written = dict.fromkeys(specs, 0)
        self._fd: int | None = None
        self._tmp: str | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            _reserve(self._fd, self._size)
            _write_at(self._fd, memoryview(self._head), 0)
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, name: str, start: int, rows: np.ndarray) -> None:
        """Rows ``start .. start + len(rows)`` of array ``name`` (any order; each row once)."""
        begin, shape, dtype = self._rows[name]
        rows = np.ascontiguousarray(rows, dtype=dtype.newbyteorder("<"))
        if rows.shape[1:] != shape[1:] or start < 0 or start + len(rows) > shape[0]:
            raise ValueError(f"{name}: rows {start}..{start + len(rows)} of shape {rows.shape[1:]} do not fit {shape}")
        row_bytes = math.prod(shape[1:]) * dtype.itemsize
        fd, _ = self._open()
        _write_at(fd, rows.reshape(-1).view(np.uint8).data, len(self._head) + begin + start * row_bytes)
        self._written[name] += len(rows)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self._discard()
            return
        try:
            missing = {n: self._rows[n][1][0] - k for n, k in self._written.items() if k != self._rows[n][1][0]}
            if missing:
                raise ValueError(f"{self.path.name}: rows never written: {missing}; the file is not published")
            fd, tmp = self._open()
            if self._checksum_at is not None:
                layout = {
                    n: Rows(Path(tmp), len(self._head) + begin, shape, dtype)
                    for n, (begin, shape, dtype) in self._rows.items()
                }
                _write_at(fd, memoryview(rows_digest(layout, fd).encode()), self._checksum_at)
            os.fsync(fd)
            os.close(fd)
            self._fd = None
            os.replace(tmp, self.path)
            self._tmp = None
        finally:
            self._discard()

    def _open(self) -> tuple[int, str]:
        """The temporary file's descriptor and path, which exist only inside the ``with`` block."""
        if self._fd is None or self._tmp is None:
            raise RuntimeError(f"{self.path.name}: a RowWriter is written inside its with block only")
        return self._fd, self._tmp

    def _discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            Path(self._tmp).unlink(missing_ok=True)
            self._tmp = None


def _reserve(fd: int, size: int) -> None:
    """Give the file its final size up front, so a full disk fails now rather than after hours of work."""
    if size and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
    os.ftruncate(fd, size)  # a filesystem without fallocate: a sparse file, filled row by row


def _write_at(fd: int, data: memoryview, where: int) -> None:
    """All of ``data`` at byte ``where`` (a positioned write; short writes are continued)."""
    while data:
        if hasattr(os, "pwrite"):
            done = os.pwrite(fd, data, where)
        else:  # pragma: no cover - platforms without pwrite (Windows)
            os.lseek(fd, where, os.SEEK_SET)
            done = os.write(fd, data)
        data, where = data[done:], where + done
