"""Where zoo-distill keeps what it computes (features, scores, zoobench, the timm name list)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_dir"]

CACHE_ENV = "ZOO_DISTILL_CACHE"


def default_cache_dir() -> Path:
    """``$ZOO_DISTILL_CACHE``, else ``$XDG_CACHE_HOME/zoo-distill``, else ``~/.cache/zoo-distill``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "zoo-distill"
