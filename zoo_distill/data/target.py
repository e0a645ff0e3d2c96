"""Target data: ImageFolder splits (labeled / unlabeled / test), validation and fingerprints.

Layout: ``DIR/train/<class>/*`` (the few labels, also the metrics' probe set), optional
``DIR/unlabeled/**`` (any depth) and ``DIR/test/<class>/*``. Every problem is raised as a
DataError naming the path, so the CLI can print it and exit 2 instead of a traceback.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo_distill.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "LabeledSplit", "TargetData", "find_bad_images", "fingerprint", "image_problem",
    "is_image", "load_rgb", "load_target", "scan_labeled", "scan_unlabeled"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


@dataclass(frozen=True)
class LabeledSplit:
    """Image paths with integer labels indexing ``class_names`` (sorted folder names)."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]
    root: Path

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        return {name: self.labels.count(i) for i, name in enumerate(self.class_names)}


@dataclass(frozen=True)
class TargetData:
    """The target task: labeled train split, optional unlabeled pool and test split."""

    train: LabeledSplit
    unlabeled: tuple[Path, ...] = ()
    test: LabeledSplit | None = None
    skipped: tuple[Path, ...] = field(default=())  # bad images left out with --skip-bad-images

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.train.class_names


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _reason(exc: BaseException) -> str:
    """Why an image cannot be used, in words (Pillow's own messages repeat the path)."""
    if isinstance(exc, Image.DecompressionBombError):
        return "it declares too many pixels (a decompression bomb?)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format Pillow can decode"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _scaled_to_8bit(img: Image.Image) -> Image.Image:
    """A single-channel image of more than 8 bits (I;16*, I, F) as 8-bit L, keeping its content.

    ``convert("RGB")`` clips these at 255, so a 16-bit scan comes out almost all white. 16-bit
    data is scaled by the range of its type (>> 8); 32-bit integers that fit 8 or 16 bits are
    read as such, larger ones min-max scaled; floats in [0, 1] or [0, 255] are scaled to 8 bits,
    others min-max scaled (NaN as 0, infinities as the extreme finite values).
    """
    values = np.asarray(img)
    if img.mode.startswith("I;16"):
        out = values.astype(np.uint32) >> 8
    else:
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        top, bottom = (float(finite.max()), float(finite.min())) if finite.size else (0.0, 0.0)
        values = np.nan_to_num(values, nan=0.0, posinf=top, neginf=bottom)  # inf: as the brightest finite pixel
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if img.mode == "F" and low >= 0 and high <= 1:
            out = values * 255.0
        elif low >= 0 and high <= 255:
            out = values
        elif img.mode == "I" and low >= 0 and high <= 65535:
            out = values / 257.0
        else:
            out = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Every Pillow mode as RGB; transparent pixels are composited on white."""
    if img.mode.startswith("I") or img.mode == "F":
        return _scaled_to_8bit(img).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA") if img.mode != "La" else img.convert("LA").convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: Path) -> Image.Image:
    """Open any supported image as 8-bit RGB with its content kept (16-bit, float, alpha, CMYK...)."""
    try:
        with Image.open(path) as img:
            img.load()
            return _to_rgb(img)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {_reason(exc)}") from None


def image_problem(path: Path) -> str | None:
    """Why ``path`` does not decode fully (truncated, corrupt, unreadable, not an image), or None."""
    try:
        load_rgb(path)
    except DataError as exc:
        return str(exc).removeprefix(f"cannot read image {path}: ")
    return None


def find_bad_images(paths: Iterable[Path], on_progress: Callable[[], None] | None = None) -> dict[Path, str]:
    """The paths that fail to decode fully, each with the reason, in input order."""
    bad = {}
    for path in paths:
        problem = image_problem(path)
        if problem is not None:
            bad[path] = problem
        if on_progress:
            on_progress()
    return bad


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere under ``folder`` (symlinked folders are not followed), sorted.

    Unlike ``Path.rglob``, which skips a folder it cannot list, an unreadable folder is an error
    that says so, not a class "with no images".
    """
    def fail(exc: OSError) -> None:
        where = exc.filename or folder
        raise DataError(f"cannot read folder {where}: {_reason(exc)}")

    found = []
    for top, dirs, files in os.walk(folder, onerror=fail):
        dirs.sort()
        found.extend(p for p in (Path(top) / name for name in files) if is_image(p))
    return sorted(found)


def _list_dir(root: Path, split: str) -> list[Path]:
    try:
        return list(root.iterdir())
    except OSError as exc:
        raise DataError(f"cannot read {split} split {root}: {_reason(exc)}") from None


def _check_name(folder: Path, split: str) -> None:
    """Class names become label names in config.json and model cards, so they must be text."""
    try:
        folder.name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{split} split {folder.parent}: class folder {folder} has a name that is not valid "
                        f"UTF-8; rename it (class names become the student's label names)") from None


def scan_labeled(root: Path, split: str, class_names: tuple[str, ...] | None = None) -> LabeledSplit:
    """Scan ``root/<class>/*``; with ``class_names`` given (test split), labels follow train's classes."""
    if not root.exists():
        raise DataError(f"{split} split {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{split} split {root} is not a directory")
    entries = _list_dir(root, split)
    folders = sorted(p for p in entries if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = [p for p in entries if is_image(p)]
        hint = " (images must sit in one sub-folder per class)" if loose else ""
        raise DataError(f"{split} split {root} has no class folders{hint}")
    for folder in folders:
        _check_name(folder, split)
    found = {f.name: _images_under(f) for f in folders}
    empty = [name for name, files in found.items() if not files]
    if empty:
        raise DataError(f"{split} split {root}: class folder(s) with no images: {', '.join(empty)}")
    if class_names is None:
        class_names = tuple(found)
        if len(class_names) < 2:
            raise DataError(f"{split} split {root} has {len(class_names)} class; at least 2 are needed")
    else:
        absent = sorted(set(found) - set(class_names))
        if absent:
            raise DataError(f"{split} split {root}: class(es) absent from the train split: {', '.join(absent)}")
    index = {name: i for i, name in enumerate(class_names)}
    paths, labels = [], []
    for name, files in found.items():
        paths.extend(files)
        labels.extend([index[name]] * len(files))
    return LabeledSplit(tuple(paths), tuple(labels), tuple(class_names), root)


def scan_unlabeled(root: Path) -> tuple[Path, ...]:
    if not root.is_dir():
        raise DataError(f"unlabeled split {root} does not exist or is not a directory")
    files = tuple(_images_under(root))
    if not files:
        raise DataError(f"unlabeled split {root} has no images")
    return files


def _drop(split: LabeledSplit, bad: set[Path]) -> LabeledSplit:
    keep = [(p, y) for p, y in zip(split.paths, split.labels) if p not in bad]
    if not keep:
        raise DataError(f"split {split.root} has no readable images")
    paths, labels = zip(*keep)
    remaining = set(labels)
    lost = [split.class_names[i] for i in range(len(split.class_names)) if i not in remaining and split.labels.count(i)]
    if lost:
        raise DataError(f"split {split.root}: every image of class(es) {', '.join(lost)} is unreadable")
    return LabeledSplit(tuple(paths), tuple(labels), split.class_names, split.root)


def load_target(
    target: Path | None = None,
    labeled: Path | None = None,
    unlabeled: Path | None = None,
    test: Path | None = None,
    skip_bad_images: bool = False,
    check: tuple[str, ...] = ("train",),
    on_progress: Callable[[], None] | None = None,
) -> TargetData:
    """Scan a target folder (or explicit split paths) and check the images of the ``check`` splits."""
    if target is None and labeled is None:
        raise DataError("give a target folder (with train/ inside) or an explicit labeled split")
    if target is not None and not Path(target).is_dir():
        raise DataError(f"target folder {target} does not exist or is not a directory")
    labeled = Path(labeled) if labeled else Path(target) / "train"
    train = scan_labeled(labeled, "train")
    if unlabeled is None and target is not None and (Path(target) / "unlabeled").exists():
        unlabeled = Path(target) / "unlabeled"
    pool = scan_unlabeled(Path(unlabeled)) if unlabeled else ()
    if test is None and target is not None and (Path(target) / "test").exists():
        test = Path(target) / "test"
    test_split = scan_labeled(Path(test), "test", train.class_names) if test else None

    to_check: list[Path] = []
    if "train" in check:
        to_check += train.paths
    if "unlabeled" in check:
        to_check += pool
    if "test" in check and test_split:
        to_check += test_split.paths
    bad = find_bad_images(to_check, on_progress)
    if bad and not skip_bad_images:
        shown = ", ".join(f"{p} ({why})" for p, why in list(bad.items())[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DataError(f"{len(bad)} unreadable image(s): {shown}{more}; fix them or pass --skip-bad-images")
    bad_set = set(bad)
    if bad_set:
        train = _drop(train, bad_set)
        pool = tuple(p for p in pool if p not in bad_set)
        test_split = _drop(test_split, bad_set) if test_split else None
    return TargetData(train, pool, test_split, tuple(bad))


def fingerprint(paths: Iterable[Path], labels: Iterable[int] | None = None) -> str:
    """A cheap identity of a file list: names, sizes, mtimes (and labels), in order.

    Names are hashed as the file system's bytes (``os.fsencode``), so a name that is not valid
    UTF-8 works too; for every other name these are its UTF-8 bytes, as before.
    """
    digest = hashlib.sha256()
    labels = list(labels) if labels is not None else None
    for i, path in enumerate(paths):
        try:
            stat = path.stat()
        except OSError as exc:
            raise DataError(f"cannot read {path}: {_reason(exc)} (did it change while running?)") from None
        digest.update(os.fsencode(path.resolve()) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if labels is not None:
            digest.update(f"{labels[i]}\n".encode())
    return digest.hexdigest()
