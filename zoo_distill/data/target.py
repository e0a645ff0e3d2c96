"""Target data: ImageFolder splits (labeled / unlabeled / test), validation and fingerprints.

Layout: ``DIR/train/<class>/*`` (the few labels, also the metrics' probe set), optional
``DIR/unlabeled/**`` (any depth) and ``DIR/test/<class>/*``. Every problem is raised as a
DataError naming the path, so the CLI can print it and exit 2 instead of a traceback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image, UnidentifiedImageError

from zoo_distill.errors import DataError

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


def load_rgb(path: Path) -> Image.Image:
    """Open any supported image as RGB (grayscale, palette and RGBA are converted)."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "RGBA" or (img.mode == "P" and "transparency" in img.info):
                background = Image.new("RGB", img.size, (255, 255, 255))
                rgba = img.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                return background
            return img.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def find_bad_images(paths: Iterable[Path], on_progress: Callable[[], None] | None = None) -> list[Path]:
    """The paths that fail to decode fully (truncated, corrupt, not an image)."""
    bad = []
    for path in paths:
        try:
            load_rgb(path)
        except DataError:
            bad.append(path)
        if on_progress:
            on_progress()
    return bad


def scan_labeled(root: Path, split: str, class_names: tuple[str, ...] | None = None) -> LabeledSplit:
    """Scan ``root/<class>/*``; with ``class_names`` given (test split), labels follow train's classes."""
    if not root.exists():
        raise DataError(f"{split} split {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{split} split {root} is not a directory")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = [p for p in root.iterdir() if is_image(p)]
        hint = " (images must sit in one sub-folder per class)" if loose else ""
        raise DataError(f"{split} split {root} has no class folders{hint}")
    found = {f.name: sorted(p for p in f.rglob("*") if is_image(p)) for f in folders}
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
    files = tuple(sorted(p for p in root.rglob("*") if is_image(p)))
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
        shown = ", ".join(str(p) for p in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(f"{len(bad)} unreadable image(s): {shown}; fix them or pass --skip-bad-images")
    bad_set = set(bad)
    if bad_set:
        train = _drop(train, bad_set)
        pool = tuple(p for p in pool if p not in bad_set)
        test_split = _drop(test_split, bad_set) if test_split else None
    return TargetData(train, pool, test_split, tuple(bad))


def fingerprint(paths: Iterable[Path], labels: Iterable[int] | None = None) -> str:
    """A cheap identity of a file list: names, sizes, mtimes (and labels), in order."""
    digest = hashlib.sha256()
    labels = list(labels) if labels is not None else None
    for i, path in enumerate(paths):
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if labels is not None:
            digest.update(f"{labels[i]}\n".encode())
    return digest.hexdigest()
