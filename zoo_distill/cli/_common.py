"""What every command shares: the consoles, the one-line error wrapper, and the common options.

Nothing here imports torch or the training stack: a command imports what it needs when it runs,
so ``zoo-distill --help``, ``plugins`` or ``zoo ls`` answer at once.
"""

import functools
import inspect
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console

from zoo_distill.errors import ZooDistillError
from zoo_distill.util.progress import make_progress, stderr
from zoo_distill.util.strict_json import json_text
from zoo_distill.util.text import line, literal, styled

__all__ = [
    "CacheDir",
    "ZooOption",
    "cli_errors",
    "error_line",
    "literal",
    "make_progress",
    "print_json",
    "say",
    "say_device",
    "stderr",
    "stdout",
    "styled",
    "with_options",
]

stdout = Console()


def say(console: Console, *parts: Any) -> None:
    """Print one line of parts (plain values are shown literally, ``(value, style)`` in our style):
    the CLI's one way to print a message, so user text is never read as markup."""
    console.print(line(*parts), highlight=False, soft_wrap=True)


def say_device(device: str | None) -> None:
    """With --device auto, one line says which device that is and why, when it is first used."""
    from zoo_distill.util import device as devices

    if device in (None, devices.AUTO):
        devices.announce = lambda picked, why: say(stderr, f"device: {picked} ({why})")
        devices._announced = False  # once per command


def error_line(message: Any) -> None:
    """``Error: <message>`` on stderr, the message exactly as written."""
    say(stderr, ("Error:", "bold red"), " ", message)


def print_json(value: Any) -> None:
    """Strict JSON on stdout (no NaN or Infinity; ``util.strict_json``), for ``--json``."""
    print(json_text(value))


def cli_errors(fn: Callable) -> Callable:
    """Print a ZooDistillError as one red line on stderr and exit with its code (2), no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZooDistillError as exc:
            error_line(exc)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def option(name: str, annotation: Any, info: Any) -> inspect.Parameter:
    """One shared CLI option, as a keyword parameter typer can read."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def with_options(*groups: list[inspect.Parameter]) -> Callable[[Callable], Callable]:
    """Add shared option groups to a command; their values reach it as one dict, ``settings``.

    Keeps each command's own signature to what is particular to it, while ``--help`` still lists
    every option (typer reads the combined ``__signature__``)."""

    def decorate(fn: Callable) -> Callable:
        shared = [p for group in groups for p in group]
        names = {p.name for p in shared}
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "settings"]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            settings = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
            return fn(settings=settings, **kwargs)

        wrapper.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]  # typer reads it; functions do not declare it
        del wrapper.__wrapped__  # typer must read the combined signature, not the function's own
        return wrapper

    return decorate


CacheDir = typer.Option(
    None, "--cache-dir", envvar="ZOO_DISTILL_CACHE", help="Feature cache folder \\[default: ~/.cache/zoo-distill]."
)
ZooOption = typer.Option(
    None, "--zoo", help="Zoo file (registry.yaml format) \\[default: $ZOO_DISTILL_ZOO or the packaged registry.yaml]."
)
TARGET_HELP = "Target folder with train/ (and optional unlabeled/, test/) in ImageFolder layout."

#: Where the target's images are: every command that reads a target takes these.
TARGET_OPTIONS = [
    option("target", Optional[Path], typer.Option(None, "--target", "-t", help=TARGET_HELP)),
    option(
        "labeled",
        Optional[Path],
        typer.Option(None, "--labeled", help="Labeled split (class folders); overrides TARGET/train."),
    ),
    option("unlabeled", Optional[Path], typer.Option(None, "--unlabeled", help="Unlabeled images (any depth).")),
    option("test", Optional[Path], typer.Option(None, "--test", help="Test split (class folders).")),
    option(
        "skip_bad_images",
        bool,
        typer.Option(False, "--skip-bad-images", help="Skip unreadable images (and count them) instead of failing."),
    ),
]
