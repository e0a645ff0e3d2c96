"""User-facing errors: the CLI prints these without a traceback and exits with status 2."""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ConfigError",
    "DataError",
    "ProviderUnavailable",
    "UnknownNameError",
    "UnsafeWeightsError",
    "ZooDistillError",
    "ZooFileError",
]


class ZooDistillError(Exception):
    """Base class for every error caused by the user's input or environment, not by a bug."""

    exit_code = 2


class ConfigError(ZooDistillError):
    """A setting (CLI option or API argument) is out of range or malformed; the message names it."""


class ZooFileError(ZooDistillError):
    """A zoo file (or a plugin's zoo entry) is malformed; the message names file, entry and field."""


class DataError(ZooDistillError):
    """Target data is missing, empty, corrupt or inconsistent; the message names the path."""


class ProviderUnavailable(ZooDistillError):
    """A source cannot be built right now (not cached while offline, unknown provider, missing file)."""


class UnsafeWeightsError(ZooDistillError):
    """Weights are not in safetensors format; pickle checkpoints are never loaded."""


class CacheError(ZooDistillError):
    """The feature cache cannot be read or written."""


class UnknownNameError(ZooDistillError):
    """A metric/aggregator/provider name is not registered; the message lists the known ones."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(known)) or '(none)'}")
