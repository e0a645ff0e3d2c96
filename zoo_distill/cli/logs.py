"""Where the library's log records go when the CLI runs: configured here, once, and never on import.

The library only logs (one ``logging.getLogger(__name__)`` per module: epoch lines at INFO, notes and
warnings at WARNING); whoever calls it decides where records go, as ``logging`` intends. For the CLI
that is stderr: plain ``%(message)s`` lines where stderr is a pipe or a file (logs, ``run.wait_for``
in tests, CI), rich's handler where it is a terminal. Either way a message is printed as written, never
read as rich markup (``markup=False``), as ``util.text`` guarantees for everything else the CLI shows.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from rich.console import Console

__all__ = ["configure_logging", "log_handler"]

#: The package's loggers are children of this one.
PACKAGE_LOGGER = "zoo_distill"


class _StderrHandler(logging.StreamHandler):
    """A plain handler on whatever ``sys.stderr`` is when a record is written (as a rich console on
    stderr does), so a stream swapped after configuration (a test's capture) gets the lines too."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # read from sys, not stored: logging's own attribute made dynamic
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def log_handler(console: Console) -> logging.Handler:
    """A ``RichHandler`` on ``console`` where it is a terminal, else a plain stream handler on stderr."""
    if console.is_terminal:
        from rich.logging import RichHandler

        return RichHandler(console=console, show_time=False, show_path=False, markup=False)
    return _StderrHandler()


def configure_logging(console: Console, verbose: bool = False) -> None:
    """Root: warnings (debug with ``verbose``) from anyone; the package's own loggers also at INFO."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, handlers=[log_handler(console)], force=True
    )
    logging.getLogger(PACKAGE_LOGGER).setLevel(logging.DEBUG if verbose else logging.INFO)
