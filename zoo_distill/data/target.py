"""Target data: ImageFolder splits (labeled / unlabeled / test), validation and fingerprints.

Layout: ``DIR/train/<class>/*`` (the few labels, also the metrics' probe set), optional
``DIR/unlabeled/**`` (any depth) and ``DIR/test/<class>/*``. Every split's images are found by
``data/discover.py`` and compared across splits by ``data/overlap.py``. Every problem is raised as a
DataError naming the path, so the CLI can print it and exit 2 instead of a traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zoo_distill.data.decode import DECODER_VERSION, load_rgb
from zoo_distill.data.decode import reason as _reason
from zoo_distill.data.discover import (
    LOOSE,
    RUN_FOLDER,
    LeftOut,
    find_images,
    holds_run,
    image_extensions,
    stat_through_links,
)
from zoo_distill.data.overlap import ContentIndex
from zoo_distill.errors import ConfigError, DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "LabeledSplit",
    "TargetData",
    "check_out_outside_target",
    "find_bad_images",
    "fingerprint",
    "image_problem",
    "is_image",
    "load_rgb",
    "load_target",
    "scan_labeled",
    "scan_unlabeled",
]

logger = logging.getLogger(__name__)

#: The image extensions when this module was imported (discovery asks Pillow again on every walk,
#: so a format registered later by a Pillow plugin is found too).
IMAGE_EXTENSIONS = image_extensions()


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
    notes: tuple[str, ...] = field(default=())  # what discovery left out or found shared, for the user
    unlabeled_root: Path | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.train.class_names


def is_image(path: Path) -> bool:
    """Whether discovery would take ``path`` as an image (a regular file, through links, not hidden)."""
    return path.is_file() and path.suffix.lower() in image_extensions() and not path.name.startswith(".")


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


def _class_folders(root: Path, split: str, left_out: LeftOut) -> tuple[list[Path], bool]:
    """The class folders of a labeled split, sorted, and whether loose images sit beside them.

    Hidden folders are not classes; a run folder (an ``--out`` inside the split) and files beside
    the folders are left out and counted; a broken link is an error naming it."""
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise DataError(f"cannot read {split} split {root}: {_reason(exc)}") from None
    folders, loose_images = [], False
    for path in entries:
        if path.name.startswith("."):
            continue
        if stat.S_ISDIR(stat_through_links(path).st_mode):
            if holds_run(path):
                left_out.add(RUN_FOLDER, path)
            else:
                folders.append(path)
        else:
            loose_images = loose_images or is_image(path)
            left_out.add(LOOSE, path)
    return folders, loose_images


def _check_name(folder: Path, split: str) -> None:
    """Class names become label names in config.json and model cards, so they must be text."""
    try:
        folder.name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(
            f"{split} split {folder.parent}: class folder {folder} has a name that is not valid "
            f"UTF-8; rename it (class names become the student's label names)"
        ) from None


def _report(left_out: LeftOut) -> None:
    note = left_out.note()
    if note:
        logger.warning(note)


def scan_labeled(
    root: Path, split: str, class_names: tuple[str, ...] | None = None, left_out: LeftOut | None = None
) -> LabeledSplit:
    """Scan ``root/<class>/**`` (``data/discover.py``); with ``class_names`` given (test split), labels
    follow train's classes. What is left out is added to ``left_out``, or logged when it is None."""
    if not os.path.lexists(root):
        raise DataError(f"{split} split {root} does not exist")
    if not stat.S_ISDIR(stat_through_links(root).st_mode):
        raise DataError(f"{split} split {root} is not a directory")
    mine = left_out if left_out is not None else LeftOut()
    folders, loose = _class_folders(root, split, mine)
    if not folders:
        hint = " (images must sit in one sub-folder per class)" if loose else ""
        raise DataError(f"{split} split {root} has no class folders{hint}")
    for folder in folders:
        _check_name(folder, split)
    found = {f.name: find_images(f, mine) for f in folders}
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
    if left_out is None:
        _report(mine)
    return LabeledSplit(tuple(paths), tuple(labels), tuple(class_names), root)


def scan_unlabeled(root: Path, left_out: LeftOut | None = None) -> tuple[Path, ...]:
    """Every image under ``root`` at any depth (``data/discover.py``); what is left out is added to
    ``left_out``, or logged when it is None."""
    if not os.path.lexists(root):
        raise DataError(f"unlabeled split {root} does not exist or is not a directory")
    if not stat.S_ISDIR(stat_through_links(root).st_mode):
        raise DataError(f"unlabeled split {root} does not exist or is not a directory")
    if holds_run(root):
        raise DataError(f"unlabeled split {root} is a run folder (it holds run.json), not a folder of images")
    mine = left_out if left_out is not None else LeftOut()
    files = tuple(find_images(root, mine))
    if not files:
        raise DataError(f"unlabeled split {root} has no images")
    if left_out is None:
        _report(mine)
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
    """Scan a target folder (or explicit split paths) and check the images of the ``check`` splits.

    Every split is found by the same walk (``data/discover.py``); what it left out, and labeled images
    also in the unlabeled pool, are logged and kept in ``notes``; test images among the training images
    are refused (``_check_overlap``)."""
    if target is None and labeled is None:
        raise DataError("give a target folder (with train/ inside) or an explicit labeled split")
    if target is not None and not Path(target).is_dir():
        raise DataError(f"target folder {target} does not exist or is not a directory")
    left_out = LeftOut()
    if labeled:
        labeled = Path(labeled)
    else:
        assert target is not None  # checked above
        labeled = Path(target) / "train"
    train = scan_labeled(labeled, "train", left_out=left_out)
    if unlabeled is None and target is not None and os.path.lexists(Path(target) / "unlabeled"):
        unlabeled = Path(target) / "unlabeled"
    pool = scan_unlabeled(Path(unlabeled), left_out) if unlabeled else ()
    if test is None and target is not None and os.path.lexists(Path(target) / "test"):
        test = Path(target) / "test"
    test_split = scan_labeled(Path(test), "test", train.class_names, left_out) if test else None
    notes = [note for note in (left_out.note(), *_check_overlap(train, pool, test_split, unlabeled)) if note]
    for note in notes:
        logger.warning(note)

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
    return TargetData(train, pool, test_split, tuple(bad), tuple(notes), Path(unlabeled) if unlabeled else None)


def _check_overlap(
    train: LabeledSplit, pool: tuple[Path, ...], test: LabeledSplit | None, unlabeled_root: Path | None
) -> list[str]:
    """Refuse test images among the training images (by content); note labeled images in the pool.

    A test image trained on makes the test accuracy a measure of memory, reported with exit 0, so
    it is an error naming both splits and an example; a labeled image that is also unlabeled is usual
    (the pool is often every image the user has) and only noted."""
    index = ContentIndex()
    if test is not None:
        for name, paths, root in (("train", train.paths, train.root), ("unlabeled", pool, unlabeled_root)):
            shared = index.shared(paths, test.paths)
            if shared:
                raise DataError(
                    f"the {name} split {root} holds {len(shared)} image(s) of the test split {test.root} "
                    f"(the same bytes, e.g. {_example(shared)}): the test accuracy would be measured on "
                    f"images the student trained on; remove them from one of the two splits"
                )
    shared = index.shared(pool, train.paths)
    if not shared:
        return []
    return [
        f"{len(shared)} of the {len(pool)} unlabeled images are also labeled images of the train split "
        f"(the same bytes, e.g. {_example(shared)}); they train as both, which is usual"
    ]


def _example(shared: list[tuple[Path, Path]]) -> str:
    path, other = shared[0]
    return str(path) if path == other else f"{path} and {other}"


def fingerprint(paths: Iterable[Path], labels: Iterable[int] | None = None) -> str:
    """A cheap identity of a file list: names, sizes, mtimes (and labels), in order, and the decoder's version.

    Names are hashed as the file system's bytes (``os.fsencode``), so a name that is not valid
    UTF-8 works too; for every other name these are its UTF-8 bytes, as before.
    """
    digest = hashlib.sha256(f"decoder {DECODER_VERSION}\n".encode())  # other pixels from the same files: other data
    labels = list(labels) if labels is not None else None
    for i, path in enumerate(paths):
        try:
            info = path.stat()
        except OSError as exc:
            raise DataError(f"cannot read {path}: {_reason(exc)} (did it change while running?)") from None
        digest.update(os.fsencode(path.resolve()) + f"\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        if labels is not None:
            digest.update(f"{labels[i]}\n".encode())
    return digest.hexdigest()


def check_out_outside_target(out: Path, data: TargetData) -> None:
    """Refuse a run directory inside one of the target's splits, before any work.

    The run's files would sit among the images (its ``curves.png`` is one): discovery leaves a
    folder holding ``run.json`` out, but an unfinished run has none yet, and the user's splits
    are theirs, not a place for outputs."""
    where = Path(out).resolve()
    roots = [
        ("train", data.train.root),
        ("unlabeled", data.unlabeled_root),
        ("test", data.test.root if data.test is not None else None),
    ]
    for split, root in roots:
        if root is not None and where.is_relative_to(Path(root).resolve()):
            raise ConfigError(
                f"--out {out} is inside the {split} split {root}: the run's files (curves.png is an "
                f"image) would be read with its images; choose a folder outside the target's splits"
            )
