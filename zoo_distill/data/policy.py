"""The augmentation policy of the deterministic views: plain settings, cheap to import.

Training configs carry a ViewPolicy, and the CLI shows their defaults, so this lives apart from
the image code in ``views.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from zoo_distill.util.digest import json_digest

__all__ = ["ViewPolicy"]


@dataclass(frozen=True)
class ViewPolicy:
    """The augmentation behind the view bank (defaults suit small objects and glyphs: no flip)."""

    scale: tuple[float, float] = (0.6, 1.0)  # area fraction of the random resized crop
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: bool = False  # off by default: flips change the meaning of glyphs and arrows
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    @property
    def digest(self) -> str:
        return json_digest(asdict(self))[:16]
