"""A built zoobench opened for comparisons: its zoo, the plugins, its feature cache, its splits."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rich.progress import Progress

from zoo_distill import api
from zoo_distill.data.target import TargetData
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import PluginRegistry, get_registry
from zoo_distill.util.paths import default_cache_dir
from zoo_distill.zoo.file import Zoo
from zoo_distill.zoobench.build import ZoobenchBuild, build_zoobench
from zoo_distill.zoobench.spec import ZoobenchSettings

__all__ = ["Workspace", "default_root", "load_split", "open_workspace"]


class Workspace(NamedTuple):
    """A built zoobench with what every comparison on it reads: its zoo, the plugins, its cache."""

    build: ZoobenchBuild
    zoo: Zoo
    registry: PluginRegistry
    cache: FeatureCache


def default_root(preset: str = "mini") -> Path:
    """Where a zoobench preset is kept: beside the feature cache, so one ``cache clear`` finds it."""
    return default_cache_dir() / "zoobench" / preset


def open_workspace(root: Path, settings: ZoobenchSettings, progress: Progress | None = None) -> Workspace:
    """Build what is missing of the zoobench at ``root``; load its zoo file (without entries that
    plugins contribute: a comparison must not change with what else is installed) and its cache."""
    build = build_zoobench(root, settings, progress)
    registry = get_registry()
    return Workspace(
        build,
        api.load_zoo(build.zoo, include_plugins=False, registry=registry),
        registry,
        FeatureCache(Path(root) / "cache"),
    )


def load_split(build: ZoobenchBuild, target: str, key: str) -> TargetData:
    """One labeled draw of ``target`` (``key`` such as ``5shot-s0``) with its unlabeled and test splits."""
    splits = build.targets[target]
    return api.load_target(labeled=splits.train[key], unlabeled=splits.unlabeled, test=splits.test)
