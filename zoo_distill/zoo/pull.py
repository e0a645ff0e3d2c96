"""Prefetching Hub-hosted teachers (``zoo pull``) and telling what is cached (``zoo ls``).

Everything goes through huggingface_hub and its own cache (``HF_HOME``/``HF_HUB_CACHE``): pulling on a
machine with internet access, copying ``$HF_HOME`` over and setting ``HF_HUB_OFFLINE=1`` is all it takes
to use the same zoo offline. We never keep a download cache of our own.

Which files an entry loads is its provider's to say, through the optional ``SourceProvider.files``
(the built-in providers use it like any plugin's): Hub files are pulled, a local file only looked at,
and an entry whose provider does not say is shown as unknown and skipped.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm as _tqdm

from zoo_distill.errors import ZooDistillError
from zoo_distill.plugin.manager import PluginRegistry, get_registry
from zoo_distill.plugin.types import HubFiles, LocalFile, SourceProvider, ZooEntry
from zoo_distill.util.units import human_size
from zoo_distill.zoo.hub import cached_path, download, is_offline

__all__ = [
    "CacheStatus",
    "HubFiles",
    "LocalFile",
    "PullResult",
    "cache_status",
    "entry_files",
    "human_size",
    "ls_rows",
    "pull",
    "pull_entry",
]


def _provider(entry: ZooEntry, registry: PluginRegistry | None) -> SourceProvider:
    return (registry or get_registry()).provider(entry.provider)


def entry_files(entry: ZooEntry, registry: PluginRegistry | None = None) -> HubFiles | LocalFile | None:
    """Where the entry's weights live, as its provider's ``files`` says (None: the provider cannot say).

    Raises ZooDistillError (e.g. ProviderUnavailable) when the weights cannot be had at all."""
    provider = _provider(entry, registry)
    return provider.files(entry) if provider.files is not None else None


@dataclass
class CacheStatus:
    cached: bool | None  # None: unknown (the provider does not say where its weights live)
    size_bytes: int | None  # of the weights file, when present
    path: Path | None = None


def cache_status(entry: ZooEntry, registry: PluginRegistry | None = None) -> CacheStatus:
    """Whether the entry's weights are on this machine now (no network): Hub cache or local file."""
    try:
        where = entry_files(entry, registry)
    except ZooDistillError:
        return CacheStatus(False, None)
    if where is None:
        return CacheStatus(None, None)
    if isinstance(where, LocalFile):
        path = Path(where.path)
        return CacheStatus(path.is_file(), path.stat().st_size if path.is_file() else None, path)
    paths = {name: cached_path(where.repo_id, name, where.revision) for name in where.files}
    weights = paths[where.weights]
    return CacheStatus(
        all(p is not None for p in paths.values()), os.path.getsize(weights) if weights is not None else None, weights
    )


def ls_rows(entries: Iterable[ZooEntry], registry: PluginRegistry | None = None) -> list[dict[str, Any]]:
    """One row per entry, as ``zoo ls --json`` shows them: identity, availability, whether cached, size,
    and the entry's own fields. Needs no network and builds no model."""
    registry = registry or get_registry()
    rows = []
    for e in entries:
        provider = registry.provider(e.provider)
        reason = provider.is_available(e) if provider.is_available else None
        status = cache_status(e, registry)
        rows.append(
            {
                "name": e.name,
                "provider": e.provider,
                "domain": e.domain,
                "origin": e.origin,
                "available": reason is None,
                "reason": reason,
                "cached": status.cached,
                "size_bytes": status.size_bytes,
                **dict(e.options),
            }
        )
    return rows


@dataclass
class PullResult:
    name: str
    provider: str
    repo_id: str | None = None
    revision: str | None = None
    downloaded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0
    skipped: str | None = None  # why nothing was fetched (not a Hub source)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "repo": self.repo_id,
            "revision": self.revision,
            "downloaded": self.downloaded,
            "cached": self.cached,
            "bytes_downloaded": self.bytes_downloaded,
            "skipped": self.skipped,
            "error": self.error,
        }


class _TransferBar(_tqdm):
    """What huggingface_hub instantiates (as ``tqdm_class``) only when it really transfers a file.

    It renders nothing itself; every update is forwarded to ``on_update(done, total)``. Subclassing tqdm
    keeps every method the plain-HTTP and the hf_xet download paths call."""

    on_update: Callable[[int, int | None], None] = staticmethod(lambda done, total: None)
    monitor_interval = 0  # no tqdm monitor thread per bar class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("name", None)
        kwargs.update(file=io.StringIO(), disable=False, leave=False)
        super().__init__(*args, **kwargs)
        type(self).started = True
        type(self).on_update(int(self.n), self.total)

    def update(self, n: float | None = 1) -> bool | None:
        out = super().update(n)
        type(self).on_update(int(self.n), self.total)
        return out


def _bar_class(on_update: Callable[[int, int | None], None]) -> type[_TransferBar]:
    return type("TransferBar", (_TransferBar,), {"on_update": staticmethod(on_update), "started": False})


def _skipped(entry: ZooEntry, where: LocalFile | None) -> str:
    if isinstance(where, LocalFile):
        return "a local weights file; nothing to download"
    return f"provider {entry.provider!r} does not say which files it loads; nothing to download"


def pull_entry(entry: ZooEntry, progress: Any = None, registry: PluginRegistry | None = None) -> PullResult:
    """Download (or find in the Hub cache) every file the entry loads; errors are returned, not raised."""
    result = PullResult(entry.name, entry.provider)
    try:
        where = entry_files(entry, registry)
    except ZooDistillError as exc:
        result.error = str(exc)
        return result
    if not isinstance(where, HubFiles):
        result.skipped = _skipped(entry, where)
        return result
    result.repo_id, result.revision = where.repo_id, where.revision
    task = progress.add_task(entry.name, total=len(where.files), info="") if progress is not None else None

    for filename in where.files:

        def on_update(done: int, total: int | None, _f: str = filename) -> None:
            if progress is not None:
                progress.update(task, info=f"{_f} {human_size(done)}" + (f"/{human_size(total)}" if total else ""))

        bar = _bar_class(on_update)
        try:
            path = download(entry.name, where.repo_id, filename, where.revision, tqdm_class=bar)
        except ZooDistillError as exc:
            result.error = str(exc)
            break
        finally:
            if progress is not None:
                progress.advance(task)
        if bar.started:
            result.downloaded.append(filename)
            result.bytes_downloaded += os.path.getsize(path)
        else:
            result.cached.append(filename)
    if progress is not None:
        progress.update(
            task, info="failed" if result.error else f"{len(result.downloaded)} downloaded, {len(result.cached)} cached"
        )
    return result


def pull(entries: Iterable[ZooEntry], progress: Any = None, registry: PluginRegistry | None = None) -> list[PullResult]:
    """Prefetch the Hub files of ``entries`` into huggingface_hub's cache, one progress task per entry.

    Needs the network: with ``HF_HUB_OFFLINE`` set it fails before any work, naming the Hub entries."""
    entries = list(entries)
    if is_offline():
        needs_hub = [e.name for e in entries if _loads_from_hub(e, registry)]
        if needs_hub:
            raise ZooDistillError(
                f"HF_HUB_OFFLINE is set, so {', '.join(map(repr, needs_hub))} cannot be downloaded; unset "
                f"HF_HUB_OFFLINE (and point HF_ENDPOINT at a reachable Hub) to pull"
            )
    return [pull_entry(entry, progress, registry) for entry in entries]


def _loads_from_hub(entry: ZooEntry, registry: PluginRegistry | None) -> bool:
    try:
        return isinstance(entry_files(entry, registry), HubFiles)
    except ZooDistillError:
        return False
