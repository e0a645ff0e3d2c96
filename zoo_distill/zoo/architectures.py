"""Is this a timm architecture? Answered without importing torch once the answer is cached.

Validating a zoo file checks each local entry's ``arch``; asking timm means importing timm and
torch (seconds), which listing a zoo must not cost. The names timm knows are written once per
timm version to the cache folder and read from there afterwards.
"""

from __future__ import annotations

import importlib.metadata
import sys
from functools import cache

from zoo_distill.util.atomic import atomic_write_text
from zoo_distill.util.paths import default_cache_dir

__all__ = ["is_timm_architecture"]


def _names_file():
    version = importlib.metadata.version("timm")
    return default_cache_dir() / f"timm-architectures-{version}.txt"


@cache
def _known_names() -> frozenset[str]:
    path = _names_file()
    try:
        names = frozenset(path.read_text().split())
        if names:
            return names
    except OSError:
        pass
    import timm

    names = frozenset(timm.list_models())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "\n".join(sorted(names)) + "\n")
    except OSError:
        pass  # a read-only cache only costs the import next time
    return names


def is_timm_architecture(name: str) -> bool:
    """True when ``timm.create_model(name)`` knows the architecture (pretrained tags aside)."""
    if "timm" in sys.modules:
        import timm

        return bool(timm.is_model(name))
    return name.split(".")[0] in _known_names()
