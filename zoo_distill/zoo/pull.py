"""Prefetching Hub-hosted teachers (``zoo pull``) and telling what is cached (``zoo ls``).

Everything goes through huggingface_hub and its own cache (``HF_HOME``/``HF_HUB_CACHE``): pulling on a
machine with internet access, copying ``$HF_HOME`` over and setting ``HF_HUB_OFFLINE=1`` is all it takes
to use the same zoo offline. We never keep a download cache of our own.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from tqdm import tqdm as _tqdm

from zoo_distill.zoo.providers import _local_weights, _timm_hub_id
from zoo_distill.errors import ZooDistillError
from zoo_distill.zoo.hub import CONFIG_FILE, WEIGHTS_FILE, cached_path, download, is_offline
from zoo_distill.plugin.types import ZooEntry


@dataclass(frozen=True)
class HubFiles:
    """Where a zoo entry's weights live on the Hub, and which of its files the provider reads."""

    repo_id: str
    revision: str | None
    files: tuple[str, ...]


def hub_files(entry: ZooEntry) -> HubFiles | None:
    """The Hub files an entry loads, or None when it does not load from the Hub (``local``, plugins).

    Raises ProviderUnavailable for a ``timm`` name whose weights are not on the Hub as safetensors."""
    revision = entry.options.get("revision")
    if entry.provider == "hf-hub":
        return HubFiles(entry.options["repo"], revision, (CONFIG_FILE, WEIGHTS_FILE))
    if entry.provider == "timm":  # timm's own pretrained_cfg gives the preprocessing: weights only
        return HubFiles(_timm_hub_id(entry), revision, (WEIGHTS_FILE,))
    return None


@dataclass
class CacheStatus:
    cached: bool | None  # None: unknown (a plugin's provider)
    size_bytes: int | None  # of the weights file, when present
    path: Path | None = None


def cache_status(entry: ZooEntry) -> CacheStatus:
    """Whether the entry's weights are on this machine now (no network): Hub cache or local file."""
    if entry.provider == "local":
        path = _local_weights(entry)
        return CacheStatus(path.is_file(), path.stat().st_size if path.is_file() else None, path)
    try:
        where = hub_files(entry)
    except ZooDistillError:
        return CacheStatus(False, None)
    if where is None:
        return CacheStatus(None, None)
    paths = {name: cached_path(where.repo_id, name, where.revision) for name in where.files}
    weights = paths.get(WEIGHTS_FILE)
    return CacheStatus(all(p is not None for p in paths.values()),
                       os.path.getsize(weights) if weights is not None else None, weights)


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


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
        return {"name": self.name, "provider": self.provider, "repo": self.repo_id, "revision": self.revision,
                "downloaded": self.downloaded, "cached": self.cached, "bytes_downloaded": self.bytes_downloaded,
                "skipped": self.skipped, "error": self.error}


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


def pull_entry(entry: ZooEntry, progress: Any = None) -> PullResult:
    """Download (or find in the Hub cache) every file the entry loads; errors are returned, not raised."""
    result = PullResult(entry.name, entry.provider)
    try:
        where = hub_files(entry)
    except ZooDistillError as exc:
        result.error = str(exc)
        return result
    if where is None:
        result.skipped = ("a local weights file; nothing to download" if entry.provider == "local"
                          else f"provider {entry.provider!r} does not load from the Hub; nothing to download")
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
        progress.update(task, info="[red]failed[/red]" if result.error else
                        f"{len(result.downloaded)} downloaded, {len(result.cached)} cached")
    return result


def pull(entries: Iterable[ZooEntry], progress: Any = None) -> list[PullResult]:
    """Prefetch the Hub files of ``entries`` into huggingface_hub's cache, one progress task per entry.

    Needs the network: with ``HF_HUB_OFFLINE`` set it fails before any work, naming the Hub entries."""
    entries = list(entries)
    if is_offline():
        needs_hub = [e.name for e in entries if e.provider in ("hf-hub", "timm")]
        if needs_hub:
            raise ZooDistillError(
                f"HF_HUB_OFFLINE is set, so {', '.join(map(repr, needs_hub))} cannot be downloaded; unset "
                f"HF_HUB_OFFLINE (and point HF_ENDPOINT at a reachable Hub) to pull")
    return [pull_entry(entry, progress) for entry in entries]
