"""Zoo entries that name a Hub repo (``repo`` + ``revision``) or a local folder (``path``) of model files.

Provider plugins whose models come as a folder of files (transformers' ``save_pretrained``, open_clip's
Hub format) share these checks and lookups, so every such provider validates, locates and reports its
files the same way: through huggingface_hub's cache for a repo (``HF_HUB_OFFLINE``, ``HF_ENDPOINT``,
``HF_HOME`` honoured), relative to the zoo file for a folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from zoo_distill.errors import ProviderUnavailable
from zoo_distill.plugin.types import EntryFieldError, HubFiles, LocalFile, ZooEntry

__all__ = ["REPO_ID", "availability", "fetch", "fetch_json", "files", "folder", "validate_location", "where"]

REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def where(entry: ZooEntry) -> str:
    """How messages name the entry's files: the folder, or the repo at its revision."""
    o = entry.options
    if o.get("path"):
        return f"folder {o['path']!r}"
    return f"Hub repo {o['repo']!r} (revision {o.get('revision') or 'main'})"


def validate_location(entry: ZooEntry, what: str) -> None:
    """Exactly one of ``repo`` / ``path``, each of the right form (no file is read); ``what`` says what
    the folder must hold, for the message."""
    o = entry.options
    if ("repo" in o) == ("path" in o):
        raise EntryFieldError(
            "repo",
            f"give exactly one of 'repo' (a Hub repo id such as org/name) or 'path' (a local folder with {what})",
        )
    if "repo" in o and (not isinstance(o["repo"], str) or not REPO_ID.fullmatch(o["repo"])):
        raise EntryFieldError("repo", f"must be a Hub repo id such as org/name, got {o['repo']!r}")
    if "path" in o and (not isinstance(o["path"], str) or not o["path"].strip()):
        raise EntryFieldError("path", f"must be a folder path, got {o['path']!r}")
    if "revision" in o and (not isinstance(o["revision"], str) or not o["revision"].strip() or "path" in o):
        raise EntryFieldError("revision", "must be a branch, tag or commit of 'repo' (a local 'path' has none)")


def folder(entry: ZooEntry) -> Path:
    """The entry's local folder, relative to its zoo file."""
    path = Path(entry.options["path"]).expanduser()
    return Path(entry.base_dir) / path if not path.is_absolute() and entry.base_dir else path


def fetch(entry: ZooEntry, filename: str) -> Path:
    """One of the entry's files: from its folder, or downloaded (or reused) from the Hub cache. A file the
    repo or folder lacks is a ``ProviderUnavailable`` whose message says "<where> has no <filename>"."""
    if entry.options.get("path"):
        path = folder(entry) / filename
        if not path.is_file():
            raise ProviderUnavailable(f"source {entry.name!r}: {where(entry)} has no {filename}")
        return path
    from zoo_distill.zoo.hub import WEIGHTS_FILE, download

    try:
        return download(entry.name, entry.options["repo"], filename, entry.options.get("revision"))
    except ProviderUnavailable as exc:
        if "does not exist in the repository" in str(exc) and filename != WEIGHTS_FILE:
            raise ProviderUnavailable(f"source {entry.name!r}: {where(entry)} has no {filename}") from None
        raise


def fetch_json(entry: ZooEntry, filename: str) -> dict:
    """One of the entry's files holding a JSON object, read as a regular file only (a FIFO never blocks)."""
    import json

    from zoo_distill.util.regular import read_regular_text

    path = fetch(entry, filename)
    try:
        value = json.loads(read_regular_text(path))
    except (OSError, ValueError) as exc:
        raise ProviderUnavailable(f"source {entry.name!r}: {filename} of {where(entry)} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProviderUnavailable(f"source {entry.name!r}: {filename} of {where(entry)} must hold a JSON object")
    return value


def files(entry: ZooEntry, names: Sequence[str], weights: str) -> HubFiles | LocalFile:
    """What ``zoo ls`` / ``zoo pull`` should know of the entry's files."""
    if entry.options.get("path"):
        return LocalFile(folder(entry) / weights)
    return HubFiles(entry.options["repo"], entry.options.get("revision"), tuple(names), weights)


def availability(entry: ZooEntry, names: Sequence[str]) -> str | None:
    """None if the files can be had now, else why not (no network)."""
    if entry.options.get("path"):
        missing = [name for name in names if not (folder(entry) / name).is_file()]
        return f"source {entry.name!r}: {where(entry)} has no {', '.join(missing)}" if missing else None
    from zoo_distill.zoo.hub import availability as hub_availability

    return hub_availability(entry.name, entry.options["repo"], entry.options.get("revision"))
