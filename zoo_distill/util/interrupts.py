"""Ctrl-C and SIGTERM as one line and an exit status, not a traceback from every process.

A run stopped by the user (Ctrl-C: SIGINT) or by a scheduler (SIGTERM) ends with one line saying
where it stopped and that ``--resume`` continues, and with the shell's status for that signal
(128 + its number: 130, 143): ``Interrupted`` carries both, and the CLI prints it like an error.
DataLoader workers ignore both signals (``ignore_in_worker``, their ``worker_init_fn``): the
terminal sends Ctrl-C to the whole process group, and a worker that dies of it prints its own
traceback; the main process stops them when it unwinds.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import TracebackType

__all__ = ["Interrupted", "Terminated", "ignore_in_worker", "interrupted", "signals_as_interrupts"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt (so every handler of one sees both)."""

    signum = signal.SIGTERM


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal, with the line to print; ``exit_code`` is 128 + the signal's number, as a
    shell reports it. Still a KeyboardInterrupt (never an ``Exception``: no ``except Exception`` swallows
    it, and a Python caller stops as on any Ctrl-C); the CLI prints its line and exits with its code."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


def interrupted(exc: KeyboardInterrupt, where: str) -> Interrupted:
    """The Interrupted error for ``exc`` (Ctrl-C or Terminated): "interrupted (Ctrl-C) <where>"."""
    signum = getattr(exc, "signum", signal.SIGINT)
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    return Interrupted(f"interrupted ({name}) {where}", signum)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While inside: SIGTERM raises ``Terminated`` in the main thread (elsewhere: nothing changes). A helper
    thread of this process that loses its connection to a worker stopped by the interrupt (multiprocessing's
    resource sharer) ends silently, also after the interrupt has left this block and while the process exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_hook = threading.excepthook
    threading.excepthook = _quiet_when_parent_left
    stopped = False
    try:
        yield
    except KeyboardInterrupt:
        stopped = True  # keep the quiet hooks: the process is about to exit and its helper threads to fail
        sys.excepthook = _quiet_sys_hook
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not stopped:
            threading.excepthook = previous_hook


def _quiet_when_parent_left(args: threading.ExceptHookArgs) -> None:
    """A worker thread's exception hook: a connection its parent dropped (an interrupted main process
    stops reading the tensors a worker shares, e.g. multiprocessing's resource sharer) ends the thread
    silently; any other exception is printed as usual."""
    if isinstance(args.exc_value, (ConnectionError, EOFError)):
        return
    threading.__excepthook__(args)


def _quiet_sys_hook(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
    """A worker's ``sys.excepthook``: multiprocessing's resource-sharer thread reports through it (not through
    ``threading.excepthook``) when the parent that was reading the shared tensors has gone, as after Ctrl-C
    or SIGTERM; that connection error ends silently, anything else is printed as usual."""
    if isinstance(value, (ConnectionError, EOFError, OSError)):
        return
    sys.__excepthook__(kind, value, trace)


def ignore_in_worker(worker_id: int = 0) -> None:
    """A DataLoader ``worker_init_fn``: the worker ignores Ctrl-C and SIGTERM; its parent handles them
    (and a connection the parent dropped meanwhile is not printed as a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.excepthook = _quiet_when_parent_left
    sys.excepthook = _quiet_sys_hook
