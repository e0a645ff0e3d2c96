"""Finding candidate teachers on the Hub (``zoo-distill zoo search``) and writing them as a zoo file.

People look for domain-tuned fine-tunes of an architecture ("every Hub fine-tune of resnet50 on
plants"); the Hub can list them, through huggingface_hub's ``HfApi.list_models``. Each result is
written with its commit id as ``revision``, so the zoo file names the bytes that get ranked today
and tomorrow. A library's models become entries of the provider that loads them: timm repos are
``hf-hub`` entries; ``transformers`` and ``open_clip`` repos need their plugin's provider, and a
search for them is refused when that provider is not installed, so the file written always loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from zoo_distill.errors import ConfigError, ProviderUnavailable, ZooDistillError
from zoo_distill.util.checks import check_choice, check_int

if TYPE_CHECKING:
    from huggingface_hub.hf_api import ExpandModelProperty_T, ModelSort_T

__all__ = ["LIBRARIES", "PROVIDER_OF", "SORTS", "HubModel", "search_hub", "zoo_document"]

#: What a Hub library's repos are loaded by (a zoo entry's provider).
PROVIDER_OF = {"timm": "hf-hub", "transformers": "transformers", "open_clip": "open_clip"}
LIBRARIES = tuple(PROVIDER_OF)
SORTS = ("downloads", "likes", "last_modified", "created_at", "trending_score")
MAX_LIMIT = 1000
_PLUGIN_OF = {"transformers": "zoo-distill-transformers", "open_clip": "zoo-distill-openclip"}
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubModel:
    """One search result, as much as the zoo file and the table need."""

    repo_id: str
    revision: str  # the commit id the listing reported: the entry is pinned to it
    library: str
    task: str | None
    downloads: int
    likes: int
    license: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo_id,
            "revision": self.revision,
            "library": self.library,
            "task": self.task,
            "downloads": self.downloads,
            "likes": self.likes,
            "license": self.license,
        }


def _license(tags: Iterable[str] | None) -> str | None:
    return next((t.split(":", 1)[1] for t in tags or () if isinstance(t, str) and t.startswith("license:")), None)


def check_search(libraries: Sequence[str], sort: str, limit: int, providers: Iterable[str]) -> None:
    """Refuse, before the Hub is asked, a search whose results no installed provider could load."""
    for library in libraries:
        check_choice("--library", library, LIBRARIES)
    check_choice("--sort", sort, SORTS)
    check_int("--limit", limit, 1, MAX_LIMIT)
    installed = set(providers)
    for library in libraries:
        if PROVIDER_OF[library] not in installed:
            raise ConfigError(
                f"--library {library}: its repos are loaded by provider {PROVIDER_OF[library]!r}, "
                f"which no installed plugin provides (pip install {_PLUGIN_OF[library]})"
            )


def search_hub(
    query: str | None,
    libraries: Sequence[str],
    task: str | None = "image-classification",
    sort: str = "downloads",
    limit: int = 20,
    providers: Iterable[str] = ("hf-hub",),
) -> list[HubModel]:
    """The Hub's models for ``query`` in ``libraries`` (best first by ``sort``), at most ``limit`` in all."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from zoo_distill.zoo.hub import is_offline

    check_search(libraries, sort, limit, providers)
    if is_offline():
        raise ProviderUnavailable(
            "zoo search asks the Hub, and HF_HUB_OFFLINE is set; unset it, or search on a "
            "machine with internet access and copy the zoo file over"
        )
    api, found = HfApi(), []
    expand: list[ExpandModelProperty_T] = ["sha", "downloads", "likes", "library_name", "pipeline_tag", "tags"]
    for library in libraries:
        try:
            for info in api.list_models(
                search=query or None,
                filter=library,
                pipeline_tag=task,
                sort=cast("ModelSort_T", sort),  # one of SORTS: check_search above
                limit=limit,
                expand=expand,
            ):
                if not isinstance(info.sha, str) or not _COMMIT.fullmatch(info.sha):
                    continue  # nothing to pin to: never write an entry that would follow a moving branch
                found.append(
                    HubModel(
                        info.id,
                        info.sha,
                        library,
                        info.pipeline_tag,
                        int(info.downloads or 0),
                        int(info.likes or 0),
                        _license(info.tags),
                    )
                )
        except OfflineModeIsEnabled:
            raise ProviderUnavailable("zoo search asks the Hub, and HF_HUB_OFFLINE is set") from None
        except (HfHubHTTPError, OSError, ValueError) as exc:
            raise ProviderUnavailable(f"zoo search: the Hub's model listing failed: {_one_line(exc)}") from None
    key = {"downloads": lambda m: m.downloads, "likes": lambda m: m.likes}.get(sort)
    if key is not None and len(libraries) > 1:  # each library's list is sorted; merge them
        found.sort(key=key, reverse=True)
    unique = list({m.repo_id: m for m in reversed(found)}.values())[::-1]  # a repo listed twice: keep its first
    return unique[:limit]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _entry_name(repo_id: str, taken: set[str]) -> str:
    """A zoo entry name from a repo id (``org/name`` -> ``org--name``), valid and unique."""
    from zoo_distill.zoo.file import NAME_PATTERN

    base = re.sub(r"[^A-Za-z0-9._-]", "-", repo_id.replace("/", "--")).strip("._-")[:120] or "model"
    if not base[0].isalnum():
        base = "m" + base
    name, n = base, 2
    while name in taken or not NAME_PATTERN.fullmatch(name):
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def zoo_document(models: Sequence[HubModel], query: str | None) -> dict[str, Any]:
    """A zoo file (version 1) with one pinned entry per model."""
    taken: set[str] = set()
    sources = []
    for m in models:
        entry: dict[str, Any] = {
            "name": _entry_name(m.repo_id, taken),
            "provider": PROVIDER_OF[m.library],
            "repo": m.repo_id,
            "revision": m.revision,
        }
        entry["description"] = f"{m.library} {m.task or 'model'} from the Hub: {m.downloads} downloads, {m.likes} likes"
        if m.license:
            entry["license"] = m.license
        sources.append(entry)
    return {"version": 1, "sources": sources}


def write_zoo_file(path: Path, document: Mapping[str, Any], overwrite: bool, header: str) -> Path:
    """Write the zoo file atomically; a file already there is kept unless ``overwrite``."""
    import yaml

    from zoo_distill.util.atomic import atomic_write_text

    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(f"--out {path} already exists; pass --overwrite to replace it, or choose another --out")
    if path.exists() and not path.is_file():
        raise ConfigError(f"--out {path} is not a regular file")
    text = header + yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, text)
    except OSError as exc:
        raise ZooDistillError(f"cannot write the zoo file {path}: {exc.strerror or exc}") from None
