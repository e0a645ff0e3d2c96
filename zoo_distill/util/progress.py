"""Rich progress bars on stderr, so stdout stays clean for tables and ``--json``."""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["make_progress"]

stderr = Console(stderr=True)


def make_progress(disable: bool | None = None) -> Progress:
    """A progress display; quiet when ``ZOO_DISTILL_NO_PROGRESS`` is set or ``disable`` is true. Where
    stderr is not a terminal, rich draws no live bar (only the final state); the training loop prints
    plain epoch lines there."""
    if disable is None:
        disable = bool(os.environ.get("ZOO_DISTILL_NO_PROGRESS"))
    disable = disable or int(os.environ.get("RANK", "0")) > 0  # under torchrun, rank 0 shows progress
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),  # names and paths: never markup
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=disable,
        transient=False,
    )
