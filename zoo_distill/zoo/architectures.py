"""What timm says about an architecture, answered without importing torch once it is cached.

Validating a zoo file checks each local entry's ``arch``, and a cached ``rank`` needs each
teacher's preprocessing (its timm data config) to find its features; asking timm means importing
timm and torch (seconds), which listing a zoo or a cached ranking must not cost. Both answers are
written once per timm version to the cache folder and read from there afterwards.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from collections.abc import Mapping
from functools import cache
from typing import Any

from zoo_distill.util.atomic import atomic_write_json, atomic_write_text
from zoo_distill.util.digest import json_digest
from zoo_distill.util.paths import default_cache_dir

__all__ = ["expected_data_config", "is_timm_architecture"]


def _timm_version() -> str:
    return importlib.metadata.version("timm")


def _names_file():
    return default_cache_dir() / f"timm-architectures-{_timm_version()}.txt"


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


def _as_config(stored: Mapping[str, Any]) -> dict[str, Any]:
    """JSON gives lists; a data config holds tuples (``input_size``, ``mean``, ``std``)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}


def expected_data_config(arch: str, overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """The preprocessing ``zoo.teacher.expected_data_config`` gives, read from the cache folder when
    this (timm version, arch, overlay) was asked before; asked of timm (and remembered) otherwise."""
    path = default_cache_dir() / f"timm-data-configs-{_timm_version()}.json"
    key = json_digest([arch, dict(overlay or {})])
    try:
        known = json.loads(path.read_text())
        if isinstance(known, dict) and isinstance(known.get(key), dict):
            return _as_config(known[key])
    except (OSError, ValueError):
        known = {}
    from zoo_distill.zoo.teacher import expected_data_config as from_timm

    config = from_timm(arch, overlay)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {**(known if isinstance(known, dict) else {}), key: config})
    except OSError:
        pass  # a read-only cache only costs the timm import next time
    return config
