"""Reading a file the user named, only when it is a regular file.

``open()`` on a FIFO with no writer blocks for ever (``zoo ls`` hung on one), and ``/dev/zero``
never ends. The file is opened with ``O_NONBLOCK`` (a FIFO then opens at once) and checked with
``fstat`` on the open descriptor (no window between the check and the read); anything that is
not a regular file is refused with :class:`NotARegularFile`, which says what it is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["NotARegularFile", "file_kind", "read_regular", "read_regular_text"]


class NotARegularFile(OSError):
    """The path is a FIFO, a socket or a device; ``strerror`` says which."""


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, for messages: 'a FIFO', 'a socket', 'a character device', ..."""
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def read_regular(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of ``path`` (at most ``limit + 1`` when a limit is given, so the caller can tell a
    file that is too large). Raises FileNotFoundError, IsADirectoryError, NotARegularFile or
    another OSError; never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (or a FIFO on some systems) cannot be opened for reading
            raise NotARegularFile(
                errno.ENXIO, f"is {file_kind(os.stat(path).st_mode)}, not a regular file", str(path)
            ) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(mode):
            raise NotARegularFile(errno.EINVAL, f"is {file_kind(mode)}, not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            return fh.read() if limit is None else fh.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)


def read_regular_text(path: Path) -> str:
    """``read_regular`` decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_regular(path).decode("utf-8")
