"""Target images for training: decoded once and kept in memory while they fit a budget.

Training's DataLoader workers on Linux are forked from the process that holds the pool, so the
images decoded before they start are shared copy-on-write, not copied. A pool sent to a worker
started by ``spawn`` (macOS, Windows) travels without its decoded images: that worker decodes
what it needs and keeps its own copy, up to its own budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from zoo_distill.data.decode import load_rgb

__all__ = ["DEFAULT_BUDGET_PIXELS", "ImagePool"]

DEFAULT_BUDGET_PIXELS = 2_000_000_000 // 3  # ~2 GB of RGB bytes


class ImagePool:
    """Indexable decoded RGB images; decoding a small image costs more than the model step on it."""

    def __init__(self, paths: Sequence[Path], budget_pixels: int = DEFAULT_BUDGET_PIXELS) -> None:
        self.paths = list(paths)
        self._decoded: dict[int, Image.Image] = {}
        self._budget = budget_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> Image.Image:
        cached = self._decoded.get(index)
        if cached is not None:
            return cached
        image = load_rgb(self.paths[index])
        self.keep(index, image)
        return image

    def keep(self, index: int, image: Image.Image) -> bool:
        """Hold ``image`` (decoded elsewhere, e.g. by a worker) as image ``index`` if the budget allows."""
        if index in self._decoded:
            return True
        pixels = image.width * image.height
        if pixels > self._budget:
            return False
        self._decoded[index] = image
        self._budget -= pixels
        return True

    def missing(self) -> list[int]:
        """The indices of the images not held decoded."""
        return [i for i in range(len(self.paths)) if i not in self._decoded]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for a spawned process) without the decoded images: cheap to send, decoded again there."""
        held = sum(image.width * image.height for image in self._decoded.values())
        return {**self.__dict__, "_decoded": {}, "_budget": self._budget + held}
