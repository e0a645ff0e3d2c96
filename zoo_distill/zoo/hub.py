"""Downloads through huggingface_hub's own cache, with errors that name the zoo entry.

We never keep a download cache of our own: ``HF_HOME``/``HF_HUB_CACHE``, revision
pinning and ``HF_HUB_OFFLINE`` behave exactly as for any Hugging Face library.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from zoo_distill.errors import ProviderUnavailable, UnsafeWeightsError

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "availability", "cached_path", "download", "is_offline", "repo_id_problem"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
_TRUE = {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub read it at import, or as set since."""
    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def repo_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` is not a Hub repo id (huggingface_hub's own rules), or None."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return f"{repo_id!r} is not a valid Hub repo id ('name' or 'namespace/name'): {str(exc).split(':')[0]}"
    return None


def cached_path(repo_id: str, filename: str, revision: str | None) -> Path | None:
    """The file's path in the Hugging Face cache, or None if it has not been downloaded (or cannot be:
    an invalid repo id, as a plugin's ``HubFiles`` may give)."""
    try:
        found = try_to_load_from_cache(repo_id, filename, revision=revision)
    except HFValidationError:
        return None
    return Path(found) if isinstance(found, str) else None


def download(entry_name: str, repo_id: str, filename: str, revision: str | None, *, tqdm_class=None) -> Path:
    """Fetch one file of a Hub repo (or reuse the cache), translating failures for users.

    ``tqdm_class`` is handed to ``hf_hub_download``, which instantiates it only for a real transfer."""
    where = f"source {entry_name!r}: {filename} of Hub repo {repo_id!r} (revision {revision or 'main'})"
    problem = repo_id_problem(repo_id)
    if problem:
        raise ProviderUnavailable(f"source {entry_name!r}: {problem}")
    try:
        return Path(
            hf_hub_download(repo_id, filename, revision=revision, local_files_only=is_offline(), tqdm_class=tqdm_class)
        )
    except LocalEntryNotFoundError:
        if is_offline():
            raise ProviderUnavailable(
                f"{where} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; run "
                f"`zoo-distill zoo pull {entry_name}` on a machine with internet access (then copy "
                f"$HF_HOME over), or unset HF_HUB_OFFLINE"
            ) from None
        raise ProviderUnavailable(
            f"{where} could not be downloaded (no connection?) and is not cached; check your network "
            f"or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only cached files"
        ) from None
    except GatedRepoError:  # a subclass of RepositoryNotFoundError: must come first
        raise ProviderUnavailable(f"{where}: the repository is gated; log in with `hf auth login`") from None
    except RepositoryNotFoundError:
        raise ProviderUnavailable(f"{where}: the repository does not exist or is private") from None
    except RevisionNotFoundError:
        raise ProviderUnavailable(f"{where}: revision {revision!r} does not exist") from None
    except EntryNotFoundError:
        if filename == WEIGHTS_FILE:
            raise UnsafeWeightsError(
                f"{where}: the repository has no {WEIGHTS_FILE}; pickle checkpoints (pytorch_model.bin, "
                f"*.pth) are refused"
            ) from None
        raise ProviderUnavailable(f"{where}: the file does not exist in the repository") from None
    except (HfHubHTTPError, OSError) as exc:
        raise ProviderUnavailable(f"{where}: download failed: {exc}") from None


def availability(entry_name: str, repo_id: str, revision: str | None) -> str | None:
    """None if the weights can be had now; otherwise why not (cheap: no network)."""
    if cached_path(repo_id, WEIGHTS_FILE, revision) is not None or not is_offline():
        return None
    return f"source {entry_name!r}: {repo_id}@{revision or 'main'} is not cached and HF_HUB_OFFLINE is set"
