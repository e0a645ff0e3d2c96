"""What timm says about an architecture, answered without importing torch once it is cached.

Validating a zoo file checks each local entry's ``arch``, and a cached ``rank`` needs each
teacher's preprocessing (its timm data config) to find its features; asking timm means importing
timm and torch (seconds), which listing a zoo or a cached ranking must not cost. Both answers are
written once per timm version to the cache folder and read from there afterwards. The list of
names carries its count and digest: a truncated or edited one (which made a valid zoo fail with
"'resnet10t' is not a timm architecture") is rebuilt, and ``cache clear`` removes both files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from zoo_distill.util.atomic import atomic_write_json, atomic_write_text
from zoo_distill.util.digest import json_digest
from zoo_distill.util.paths import default_cache_dir
from zoo_distill.util.regular import read_regular

__all__ = ["expected_data_config", "helper_files", "is_timm_architecture"]


def _timm_version() -> str:
    return importlib.metadata.version("timm")


def _names_file() -> Path:
    return default_cache_dir() / f"{_NAMES_PREFIX}{_timm_version()}.txt"


_NAMES_PREFIX, _CONFIGS_PREFIX = "timm-architectures-", "timm-data-configs-"
_HEADER = "# zoo-distill timm architectures"


def _names_text(names: frozenset[str]) -> str:
    """The cached list: a header with timm's version, the count and a digest of the names, then one a line."""
    body = "\n".join(sorted(names)) + "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()
    return f"{_HEADER} timm={_timm_version()} count={len(names)} sha256={digest}\n{body}"


def _read_names(path: Path) -> frozenset[str] | None:
    """The names in the cached list, or None when it is missing, not a regular file, or damaged
    (truncated, edited, another timm's): the header's count and digest must match what follows."""
    try:
        text = read_regular(path, _MAX_NAMES_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    header, _, body = text.partition("\n")
    expected = _names_text(frozenset(body.split())).partition("\n")[0] if body else None
    return frozenset(body.split()) if header == expected else None


_MAX_NAMES_BYTES = 16 << 20  # timm 1.0 lists about 1300 names (30 KB)


@cache
def _known_names() -> frozenset[str]:
    path = _names_file()
    names = _read_names(path)
    if names:
        return names
    import timm  # missing or damaged: rebuilt from timm itself

    names = frozenset(timm.list_models())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, _names_text(names))
    except OSError:
        pass  # a read-only cache only costs the import next time
    return names


def helper_files(root: Path) -> list[Path]:
    """The files this module keeps in the cache folder ``root`` (every timm version's), for ``cache clear``."""
    if not root.is_dir():
        return []
    found = [*root.glob(f"{_NAMES_PREFIX}*.txt"), *root.glob(f"{_CONFIGS_PREFIX}*.json")]
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


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
    path = default_cache_dir() / f"{_CONFIGS_PREFIX}{_timm_version()}.json"
    key = json_digest([arch, dict(overlay or {})])
    try:
        known = json.loads(read_regular(path, _MAX_NAMES_BYTES).decode("utf-8"))
        if isinstance(known, dict) and isinstance(known.get(key), dict):
            return _as_config(known[key])
    except (OSError, ValueError):  # missing or damaged: asked of timm again, and rewritten
        known = {}
    from zoo_distill.zoo.teacher import expected_data_config as from_timm

    config = from_timm(arch, overlay)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {**(known if isinstance(known, dict) else {}), key: config})
    except OSError:
        pass  # a read-only cache only costs the timm import next time
    return config
