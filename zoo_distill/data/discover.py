"""Finding a split's images: the one walk behind every split (train, unlabeled, test) and command.

What counts as an image is what Pillow can open here: the extensions of its registered formats
(``.jfif``, ``.jpe``, ``.tga``, ``.ico``, ... and a format a plugin such as pillow-heif registers),
matched without case. Symbolic links are followed, each real folder once: a link back to a folder
being walked (or to one above it) and a second link to a folder already listed are left out, so a
loop ends and no image is listed twice; a link that leads nowhere is an error naming it, since the
user meant something by it. Files with other extensions, special files (FIFOs, sockets, devices:
never opened, so a FIFO named ``x.png`` cannot hang a command) and run folders (a folder holding
``run.json``: an ``--out`` placed inside the target, whose ``curves.png`` is no training image) are
left out and counted, and the count is reported. Hidden files (a leading dot) are ignored; hidden
folders are walked.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFile

from zoo_distill.data.decode import reason
from zoo_distill.errors import DataError

__all__ = ["LeftOut", "RUN_MARKER", "find_images", "holds_run", "image_extensions", "stat_through_links"]

#: The file a finished run writes into its folder: a folder holding it is a run, not images.
RUN_MARKER = "run.json"
#: Formats Pillow registers but whose files are not raster images it decodes by itself.
_NOT_RASTER = frozenset({"EPS", "MPEG"})  # PostScript needs Ghostscript; MPEG is video

OTHER_EXTENSION, SPECIAL_FILE, RUN_FOLDER, REPEATED_FOLDER, LOOSE = "other", "special", "run", "repeated", "loose"
_WHY = {
    OTHER_EXTENSION: "file(s) whose extension is not an image format Pillow reads",
    LOOSE: "file(s) beside the class folders (in no class)",
    SPECIAL_FILE: "special file(s) (FIFO, socket or device)",
    RUN_FOLDER: f"run folder(s) (holding {RUN_MARKER})",
    REPEATED_FOLDER: "linked folder(s) that loop or repeat a folder already listed",
}


def image_extensions() -> frozenset[str]:
    """The lower-case extensions of every format Pillow can open and decode in this process."""
    Image.init()
    found = set()
    for ext, fmt in Image.registered_extensions().items():
        factory = Image.OPEN.get(fmt, (None,))[0]
        stub = isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
        if factory is not None and not stub and fmt not in _NOT_RASTER:
            found.add(ext.lower())
    return frozenset(found)


@dataclass
class LeftOut:
    """What a walk did not take, by reason, so that it is counted for the user instead of dropped silently."""

    paths: dict[str, list[Path]] = field(default_factory=dict)

    def add(self, why: str, path: Path) -> None:
        self.paths.setdefault(why, []).append(path)

    def counts(self) -> dict[str, int]:
        return {why: len(paths) for why, paths in self.paths.items()}

    def note(self) -> str | None:
        """One line for the user: each reason with its count and an example, or None when nothing was left out."""
        if not self.paths:
            return None
        parts = [f"{len(paths)} {_WHY[why]}, e.g. {paths[0]}" for why, paths in sorted(self.paths.items())]
        return "left out of the target: " + "; ".join(parts)


def holds_run(folder: Path, names: set[str] | None = None) -> bool:
    """Whether ``folder`` is a run directory (it holds ``run.json``)."""
    if names is not None:
        return RUN_MARKER in names
    try:
        return (folder / RUN_MARKER).is_file()
    except OSError:  # a folder that cannot be searched: listing it next says so, naming it
        return False


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"cannot read folder {exc.filename or folder}: {reason(exc)}") from None


def stat_through_links(path: Path, entry: os.DirEntry | None = None) -> os.stat_result:
    """What ``path`` (listed as ``entry``) is, through any symlink; a link that leads nowhere (or loops on
    itself) is an error naming it."""
    try:
        return entry.stat() if entry is not None else os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            try:
                points_to = os.readlink(path)
            except OSError:
                points_to = "?"
            raise DataError(f"broken symbolic link {path} -> {points_to}: {reason(exc)}; fix or remove it") from None
        raise DataError(f"cannot read {path}: {reason(exc)}") from None


def _is_loop(link: Path, top_real: str) -> bool:
    """A linked folder that holds the walk's top folder (itself or an ancestor): following it would loop."""
    real = os.path.realpath(link)
    return top_real == real or top_real.startswith(real.rstrip(os.sep) + os.sep)


def find_images(top: Path, left_out: LeftOut | None = None) -> list[Path]:
    """Every image file under ``top`` at any depth, symlinks followed once, sorted by path.

    ``top`` must be a folder (the caller has said which split it is); a folder under it that cannot
    be listed is an error naming it, not a class "with no images". What is not taken is added to
    ``left_out``.
    """
    left_out = left_out if left_out is not None else LeftOut()
    extensions = image_extensions()
    top_real = os.path.realpath(top)
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []
    stack = [(Path(top), stat_through_links(Path(top)))]
    while stack:
        folder, info = stack.pop()
        if (info.st_dev, info.st_ino) in seen:
            left_out.add(REPEATED_FOLDER, folder)
            continue
        seen.add((info.st_dev, info.st_ino))
        entries = _entries(folder)
        if folder != top and holds_run(folder, {e.name for e in entries}):
            left_out.add(RUN_FOLDER, folder)
            continue
        below = []
        for entry in entries:
            if entry.name.startswith(".") and not entry.is_dir():
                continue  # hidden files (.DS_Store, ._x.jpg); hidden folders are walked, as they always were
            path = folder / entry.name
            info = stat_through_links(path, entry)
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                if entry.is_symlink() and _is_loop(path, top_real):
                    left_out.add(REPEATED_FOLDER, path)
                else:
                    below.append((path, info))
            elif not stat.S_ISREG(mode):
                left_out.add(SPECIAL_FILE, path)
            elif path.suffix.lower() in extensions:
                found.append(path)
            else:
                left_out.add(OTHER_EXTENSION, path)
        stack.extend(reversed(below))
    return sorted(found)
