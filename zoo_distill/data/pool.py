"""Target images for training: decoded once and kept in memory while they fit a budget."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image

from zoo_distill.data.target import load_rgb

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
        pixels = image.width * image.height
        if pixels <= self._budget:
            self._decoded[index] = image
            self._budget -= pixels
        return image
