"""One writer per folder, and shared/exclusive locks on files: OS locks (``flock``), so a process
that dies, however it dies, releases what it held.

``FolderLock`` is what git's ``index.lock`` and DVC's repository lock are for a run directory: the
first process to take it writes its pid into the lock file; a second one is refused at once with a
message naming that pid. The OS lock, not the file, decides: a lock file left behind by a process
that was killed (``kill -9``, a power cut) is *stale*, since no process holds its OS lock, and the
next writer takes it over (and says whose it was). The file is removed when the lock is released.
It is a POSIX record lock (``lockf``), which forked children (DataLoader workers) do not inherit:
a killed run's workers, still exiting, never keep its folder locked. Record locks do not exclude
within one process, so a registry of the folders this process holds refuses a second writer there.

``SharedLock`` lets many readers hold a file while an exclusive taker (``cache clear``) learns,
without waiting, that it is in use. On a platform without ``fcntl`` (Windows) every lock here is a
no-op: the files are written, nothing is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from zoo_distill.errors import ZooDistillError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl module on Windows; the lock falls back

__all__ = ["FolderLock", "LOCK_NAME", "LockedError", "SharedLock", "exclusive_now", "held_elsewhere"]

#: The lock file a writer keeps inside the folder it writes (hidden; never part of a run's files).
LOCK_NAME = ".zoo-distill.lock"


class LockedError(ZooDistillError):
    """Another live process holds the lock; the message names its pid."""


def _holder_pid(path: Path, wait_s: float = 0.5) -> int | None:
    """The holder's pid; a holder that has just taken the lock writes it a moment later, so wait a little."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        holder = _read_pid(path)
        if holder is not None or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").split()
        return int(text[0]) if text else None
    except (OSError, ValueError):
        return None


_HELD: set[tuple[int, int]] = set()  # (device, inode) of the lock files this process holds


def _try_lockf(fd: int) -> bool:
    """An exclusive record lock on the whole file, without waiting; False if another process holds one."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _try_flock(fd: int, kind: int) -> bool:
    """Take ``kind`` (LOCK_SH or LOCK_EX) without waiting; False if another open file holds a conflicting one."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


class FolderLock:
    """The lock of one writer on ``folder`` (created if missing, and removed again on release if
    this lock created it and left it empty), held from ``acquire`` to ``release`` (or a ``with`` block).

    ``what`` names the folder in the refusal, e.g. ``"--out runs/a"``. ``stale`` is the pid of the
    dead process whose lock file was taken over, if any, for a note to the user.
    """

    def __init__(self, folder: Path | str, what: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what or str(self.folder)
        self.stale: int | None = None
        self._fd: int | None = None
        self._created: list[Path] = []

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        self._make_folder()
        try:
            self._take()
        except BaseException:
            self._remove_created()
            raise
        return self

    def _make_folder(self) -> None:
        missing = []
        for folder in (self.folder, *self.folder.parents):
            if os.path.lexists(folder):
                break
            missing.append(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ZooDistillError(f"{self.what}: cannot create {self.folder}: {exc.strerror or exc}") from None
        self._created = missing  # deepest first: the order to remove them in

    def _take(self) -> None:
        for _ in range(10):  # the holder may remove the file between our open and our lock: open again
            try:
                there = os.stat(self.path)
            except OSError:
                there = None
            if there is not None and (there.st_dev, there.st_ino) in _HELD:  # never open it: a close would drop it
                raise LockedError(
                    f"{self.what} is being written by this process ({os.getpid()}, lock file "
                    f"{self.path}); wait for that run to finish, or choose another --out"
                )
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ZooDistillError(
                    f"{self.what}: cannot create the lock file {self.path}: {exc.strerror or exc}"
                ) from None
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) in _HELD or not _try_lockf(fd):
                os.close(fd)
                holder = _holder_pid(self.path)
                who = f"process {holder}" if holder is not None else "another process"
                raise LockedError(
                    f"{self.what} is being written by {who} (lock file {self.path}); wait for it to "
                    f"finish, or choose another --out"
                )
            if not _same_file(fd, self.path):  # we locked a file its holder had just removed
                os.close(fd)
                continue
            previous = _read_pid_fd(fd)
            if previous is not None and previous != os.getpid():
                self.stale = previous  # the OS lock was free: its holder is gone (its file was left behind)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fd = fd
            _HELD.add((info.st_dev, info.st_ino))
            return
        raise LockedError(f"{self.what}: the lock file {self.path} keeps changing; another process is taking it")

    def release(self) -> None:
        """Remove the lock file, then drop the OS lock (in this order: nobody locks a file being removed)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            info = os.fstat(fd)
            _HELD.discard((info.st_dev, info.st_ino))
            with contextlib.suppress(OSError):
                if _same_file(fd, self.path):
                    self.path.unlink()
        finally:
            os.close(fd)
            self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:
            try:
                folder.rmdir()  # only if empty: what a refused or failed run leaves is nothing
            except OSError:
                break
        self._created = []

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _read_pid_fd(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").split()
        return int(text[0]) if text else None
    except (OSError, ValueError):
        return None


class SharedLock:
    """A shared (read) lock on ``path`` (created if missing), held while a file it guards is in use.

    Many processes may hold it; an exclusive lock on the same file (``filelock.FileLock``, which uses
    ``flock`` too, or ``held_elsewhere``) cannot be taken meanwhile. ``acquire`` waits for an
    exclusive holder (an extraction still writing) to finish.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> SharedLock:
        while self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            if _same_file(fd, self.path):
                self._fd = fd
            else:  # ``cache clear`` removed the lock file between our open and our lock: lock the new one
                os.close(fd)
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> SharedLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.release()


@contextlib.contextmanager
def exclusive_now(path: Path | str) -> Iterator[bool]:
    """Try to hold an exclusive lock on ``path`` (created if missing) without waiting; yields whether
    it is held (False: another process uses it). While held, nobody can pin or extract what it guards."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        yield _try_flock(fd, fcntl.LOCK_EX if fcntl else 0) and _same_file(fd, Path(path))
    finally:
        os.close(fd)


def held_elsewhere(path: Path | str) -> bool:
    """Whether some open file holds a lock (shared or exclusive) on ``path``; False if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        free = _try_flock(fd, fcntl.LOCK_EX if fcntl else 0)
    finally:
        os.close(fd)
    return not free
