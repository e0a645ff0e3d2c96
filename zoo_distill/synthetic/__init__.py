"""Deterministic generators of small (32x32 RGB) image classification domains.

The project cannot download datasets, so it builds its source zoo and target tasks from these::

    images, labels, names = generate("digits", n_per_class=100, seed=0)
    write_image_folder(root, "train", images, labels, names)   # root/train/<class>/<index:05d>.png

Determinism: sample ``j`` of class ``k`` in domain ``d`` is rendered from its own generator,
``default_rng(SeedSequence(seed, spawn_key=(crc32(d), 0, k, j)))``, so the same
``(domain, n_per_class, seed)`` gives identical bytes, ``classes=[2, 3]`` gives the same class-2
images as the full generation, and a smaller ``n_per_class`` gives a prefix of each class. No
global random state is read or changed.

Finite domains (``sklearn_digits``: real scans) draw items without replacement, so a class
yields ``min(n_per_class, available)`` images. Carve disjoint train/test/unlabeled pools with
``sklearn_digits_indices(seed, {"train": 40, "test": 50, "unlabeled": None})`` and pass each to
``generate(..., subset=...)``.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from zoo_distill.synthetic.domains import DOMAINS, Domain

__all__ = [
    "DOMAINS",
    "Domain",
    "generate",
    "write_image_folder",
    "write_unlabeled",
    "pool_indices",
    "sklearn_digits_indices",
]

SIZE = 32
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def get_domain(name: str) -> Domain:
    try:
        return DOMAINS[name]
    except KeyError:
        raise KeyError(f"unknown synthetic domain {name!r}; known: {', '.join(sorted(DOMAINS))}") from None


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _domain_key(domain: Domain) -> int:
    return zlib.crc32(domain.name.encode("utf-8"))


def _resolve_classes(domain: Domain, classes: Iterable[int | str] | None) -> list[int]:
    if classes is None:
        return list(range(domain.num_classes))
    out = []
    for c in classes:
        if isinstance(c, str):
            if c not in domain.class_names:
                raise ValueError(f"{domain.name} has no class {c!r}")
            c = domain.class_names.index(c)
        c = int(c)
        if not 0 <= c < domain.num_classes:
            raise ValueError(f"class index {c} out of range for {domain.name} ({domain.num_classes} classes)")
        out.append(c)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate classes in {list(classes)}")
    return out


def generate(
    domain_name: str,
    n_per_class: int,
    seed: int,
    classes: Sequence[int | str] | None = None,
    *,
    subset: np.ndarray | Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Render ``n_per_class`` images of each class of a domain.

    Returns ``(images uint8 [N, 32, 32, 3], labels int64 [N], class_names)``, grouped by class in
    the order of ``classes`` (indices or names; default all). Labels index the returned
    ``class_names`` (so with ``classes=[2, 3]`` class 2 gets label 0). ``subset`` (finite domains
    only) restricts the items drawn to those dataset ids, e.g. one split of
    ``sklearn_digits_indices``; a finite domain's class gives fewer images when it runs out.
    """
    domain = get_domain(domain_name)
    seed = _check_seed(seed)
    if isinstance(n_per_class, bool) or int(n_per_class) != n_per_class or n_per_class < 0:
        raise ValueError(f"n_per_class must be a non-negative integer, got {n_per_class!r}")
    n_per_class = int(n_per_class)
    if subset is not None and not domain.finite:
        raise ValueError(f"subset= only applies to finite (real-data) domains, not {domain.name!r}")
    chosen = _resolve_classes(domain, classes)
    key = _domain_key(domain)
    allowed = None if subset is None else np.asarray(subset, dtype=np.int64)

    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, k in enumerate(chosen):
        if domain.pool is not None:  # domain.finite
            pool = domain.pool(k)
            if allowed is not None:
                pool = pool[np.isin(pool, allowed)]
            items: list[int | None] = [int(i) for i in _rng(seed, key, 1, k).permutation(pool)[:n_per_class]]
        else:
            items = [None] * n_per_class
        for j, item in enumerate(items):
            rng = _rng(seed, key, 0, k, j)
            if item is None:
                img = domain.render(rng, k)
            else:
                assert domain.render_item is not None  # a finite domain renders its items
                img = domain.render_item(rng, item)
            if img.shape != (SIZE, SIZE, 3) or img.dtype != np.uint8:  # pragma: no cover - renderer bug
                raise RuntimeError(f"{domain.name} renderer returned {img.dtype} {img.shape}")
            images.append(img)
            labels.append(label)
    stacked = np.stack(images) if images else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    return stacked, np.asarray(labels, dtype=np.int64), [domain.class_names[k] for k in chosen]


def pool_indices(domain_name: str, seed: int, sizes: Mapping[str, int | None]) -> dict[str, np.ndarray]:
    """Split a finite domain's items into disjoint named pools, ``sizes[name]`` items per class.

    Each class's items are shuffled by ``seed`` and carved in the order of ``sizes``; at most one
    size may be ``None`` (= whatever is left of each class after the others). Raises ValueError if
    a class has too few items. Returns sorted dataset ids per pool, for ``generate(subset=...)``.
    """
    domain = get_domain(domain_name)
    if domain.pool is None:  # not domain.finite
        raise ValueError(f"{domain.name!r} is procedural (unbounded); it has no item pool to split")
    seed = _check_seed(seed)
    if sum(v is None for v in sizes.values()) > 1:
        raise ValueError("at most one pool size may be None (the remainder)")
    if any(v is not None and v < 0 for v in sizes.values()):
        raise ValueError(f"pool sizes must be non-negative: {dict(sizes)}")
    fixed = sum(v for v in sizes.values() if v is not None)
    out: dict[str, list[np.ndarray]] = {name: [] for name in sizes}
    key = _domain_key(domain)
    for k in range(domain.num_classes):
        items = _rng(seed, key, 2, k).permutation(domain.pool(k))
        if fixed > len(items):
            raise ValueError(
                f"{domain.name} class {domain.class_names[k]!r} has {len(items)} items, "
                f"fewer than the {fixed} asked for per class"
            )
        rest = len(items) - fixed
        start = 0
        for name, size in sizes.items():
            n = rest if size is None else size
            out[name].append(items[start : start + n])
            start += n
    return {name: np.sort(np.concatenate(parts)).astype(np.int64) for name, parts in out.items()}


def sklearn_digits_indices(seed: int, sizes: Mapping[str, int | None]) -> dict[str, np.ndarray]:
    """Disjoint per-class splits of scikit-learn's digit scans (174-183 per class), see ``pool_indices``."""
    return pool_indices("sklearn_digits", seed, sizes)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
    return images


def _save(img: np.ndarray, path: Path) -> None:
    Image.fromarray(img, "RGB").save(path, format="PNG", compress_level=1)


def write_image_folder(
    root: str | Path, split_name: str, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> list[Path]:
    """Write ``root/split_name/<class_name>/<index:05d>.png`` (index = position in ``images``).

    Creates a folder for every class that has images; returns the written paths in order.
    """
    images = _check_images(images)
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"{len(images)} images but labels of shape {labels.shape}")
    for name in [split_name, *class_names]:
        if not _SAFE_NAME.match(name) or name in (".", ".."):
            raise ValueError(f"not a filesystem-safe name: {name!r}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must lie in [0, {len(class_names)})")
    split = Path(root) / split_name
    paths = []
    for i, (img, y) in enumerate(zip(images, labels)):
        folder = split / class_names[int(y)]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:05d}.png"
        _save(img, path)
        paths.append(path)
    return paths


def write_unlabeled(root: str | Path, images: np.ndarray) -> list[Path]:
    """Write ``root/unlabeled/<index:05d>.png``; returns the paths."""
    images = _check_images(images)
    folder = Path(root) / "unlabeled"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = folder / f"{i:05d}.png"
        _save(img, path)
        paths.append(path)
    return paths
