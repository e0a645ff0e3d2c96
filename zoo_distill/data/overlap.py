"""Images shared between splits, found by content: the same bytes under any name, link or copy.

Test images among the training images (train or unlabeled) make the reported test accuracy a
measure of memory, not of generalisation, and the run would still exit 0: ``--unlabeled`` pointing
at the target root pulls in ``test/`` that way. So that pair is refused. Labeled images that also
sit in the unlabeled pool are common (the pool is often "every image I have") and harmless: they
are reported, not refused.

Cheap by construction: only files whose size also occurs on the other side are read, each once
(blake2b of its bytes), and the same file reached twice (a hard or symbolic link) is not read at all.
Empty files are no images (the decoding check names them), so two of them are not "the same image".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from zoo_distill.data.decode import reason
from zoo_distill.errors import DataError

__all__ = ["ContentIndex"]

_CHUNK = 1 << 20


class ContentIndex:
    """Sizes and digests of files, each computed at most once, to compare splits by content."""

    def __init__(self) -> None:
        self._stat: dict[Path, tuple[int, int, int]] = {}  # path -> (size, device, inode)
        self._digest: dict[tuple[int, int], bytes] = {}  # (device, inode) -> blake2b of the bytes

    def _identity(self, path: Path) -> tuple[int, int, int]:
        known = self._stat.get(path)
        if known is None:
            try:
                info = os.stat(path)
            except OSError as exc:
                raise DataError(f"cannot read {path}: {reason(exc)} (did it change while running?)") from None
            known = self._stat[path] = (info.st_size, info.st_dev, info.st_ino)
        return known

    def digest(self, path: Path) -> bytes:
        size, device, inode = self._identity(path)
        known = self._digest.get((device, inode))
        if known is None:
            digest = hashlib.blake2b(digest_size=16)
            try:
                with open(path, "rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
            except OSError as exc:
                raise DataError(f"cannot read {path}: {reason(exc)}") from None
            known = self._digest[(device, inode)] = digest.digest()
        return known

    def shared(self, paths: Sequence[Path], others: Sequence[Path]) -> list[tuple[Path, Path]]:
        """``(path, other)`` for each path of ``paths`` whose bytes equal those of some file of ``others``."""
        sizes: dict[int, list[Path]] = {}
        for other in others:
            sizes.setdefault(self._identity(other)[0], []).append(other)
        sizes.pop(0, None)  # empty files hold no image at all
        candidates = [p for p in paths if self._identity(p)[0] in sizes]
        if not candidates:
            return []
        by_digest = {self.digest(o): o for size in {self._identity(p)[0] for p in candidates} for o in sizes[size]}
        return [(p, by_digest[self.digest(p)]) for p in candidates if self.digest(p) in by_digest]
