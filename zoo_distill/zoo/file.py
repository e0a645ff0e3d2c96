"""The zoo file (``registry.yaml``): schema, loading and validation.

A zoo file is YAML with a ``sources`` list; each entry has ``name``, ``provider``,
the provider's own fields, and optional ``domain``, ``description``, ``license``.
Validation happens on load and never touches the network, so a broken entry is
reported with the file, the entry and the field before any work starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo_distill.errors import ZooFileError
from zoo_distill.plugin.manager import PluginRegistry, get_registry
from zoo_distill.plugin.types import EntryFieldError, ZooEntry
from zoo_distill.util.regular import NotARegularFile, read_regular

__all__ = [
    "COMMON_FIELDS",
    "MAX_ZOO_BYTES",
    "NAME_PATTERN",
    "ZOO_ENV",
    "Zoo",
    "default_zoo_path",
    "load_zoo",
    "parse_entry",
]

COMMON_FIELDS = ("name", "provider", "domain", "description", "license")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # used with fullmatch: no trailing newline
ZOO_ENV = "ZOO_DISTILL_ZOO"
#: Larger zoo files are refused unread: PyYAML parses ~100 KB/s, so 5 MB took a minute to reject.
MAX_ZOO_BYTES = 1 << 20


@dataclass
class Zoo:
    """The validated source entries, in file order, then those contributed by plugins."""

    entries: dict[str, ZooEntry] = field(default_factory=dict)
    path: Path | None = None

    def __iter__(self) -> Iterator[ZooEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def select(self, names: list[str] | None) -> list[ZooEntry]:
        """The entries named (all when ``names`` is empty), failing on an unknown name."""
        if not names:
            return list(self.entries.values())
        unknown = [n for n in names if n not in self.entries]
        if unknown:
            raise ZooFileError(
                f"unknown source(s) {', '.join(map(repr, unknown))} in zoo {self.path}; "
                f"known: {', '.join(self.entries)}"
            )
        return [self.entries[n] for n in names]


def default_zoo_path() -> Path:
    """``$ZOO_DISTILL_ZOO``, else the ``registry.yaml`` shipped with the package (or beside a checkout)."""
    if os.environ.get(ZOO_ENV):
        return Path(os.environ[ZOO_ENV])
    packaged = Path(__file__).with_name("registry.yaml")
    return packaged if packaged.exists() else Path(__file__).resolve().parent.parent / "registry.yaml"


def _entry_label(index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"sources[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def parse_entry(raw: Any, where: str, origin: str, base_dir: str | None, registry: PluginRegistry) -> ZooEntry:
    """Validate one raw mapping into a ZooEntry; errors start with ``where`` (file + entry)."""
    if not isinstance(raw, dict):
        raise ZooFileError(f"{where}: an entry must be a mapping of fields, got {type(raw).__name__}")
    for key in raw:
        if not isinstance(key, str):
            raise ZooFileError(f"{where}: field names must be strings, got {key!r}")
    for required in ("name", "provider"):
        if required not in raw:
            raise ZooFileError(f"{where}: field {required!r} is missing")
        if not isinstance(raw[required], str) or not raw[required].strip():
            raise ZooFileError(f"{where}: field {required!r} must be a non-empty string, got {raw[required]!r}")
    if not NAME_PATTERN.fullmatch(raw["name"]):
        raise ZooFileError(f"{where}: field 'name': {raw['name']!r} must be letters, digits, '.', '_' or '-' (max 128)")
    for optional in ("domain", "description", "license"):
        if optional in raw and raw[optional] is not None and not isinstance(raw[optional], str):
            raise ZooFileError(f"{where}: field {optional!r} must be a string, got {raw[optional]!r}")
    provider_name = raw["provider"]
    if provider_name not in registry.providers:
        raise ZooFileError(
            f"{where}: field 'provider': unknown provider {provider_name!r}; "
            f"known: {', '.join(sorted(registry.providers))}"
        )
    provider = registry.providers[provider_name]
    options = {k: v for k, v in raw.items() if k not in COMMON_FIELDS}
    for missing in [f for f in provider.required if f not in options]:
        raise ZooFileError(f"{where}: field {missing!r} is required by provider {provider_name!r}")
    allowed = set(provider.required) | set(provider.optional)
    for unknown in sorted(set(options) - allowed):
        raise ZooFileError(
            f"{where}: field {unknown!r} is not known to provider {provider_name!r}; "
            f"allowed: {', '.join(sorted(set(COMMON_FIELDS) | allowed))}"
        )
    entry = ZooEntry(
        name=raw["name"],
        provider=provider_name,
        options=options,
        domain=raw.get("domain"),
        description=raw.get("description"),
        license=raw.get("license"),
        origin=origin,
        base_dir=base_dir,
    )
    if provider.validate is not None:
        try:
            provider.validate(entry)
        except EntryFieldError as exc:
            raise ZooFileError(f"{where}: field {exc.field_name!r}: {exc}") from None
    return entry


def _read_text(path: Path) -> str:
    """The file's text, refusing a file larger than MAX_ZOO_BYTES before parsing any of it."""
    try:
        data = read_regular(path, MAX_ZOO_BYTES)  # never blocks on a FIFO; only regular files are read
    except FileNotFoundError:
        raise ZooFileError(f"zoo file {path} does not exist") from None
    except IsADirectoryError:
        raise ZooFileError(f"zoo file {path} is a folder; pass the registry.yaml file inside it") from None
    except NotARegularFile as exc:
        raise ZooFileError(f"zoo file {path} {exc.strerror}; pass a zoo file (YAML)") from None
    except OSError as exc:
        raise ZooFileError(f"zoo file {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_ZOO_BYTES:
        raise ZooFileError(
            f"zoo file {path} is larger than {MAX_ZOO_BYTES // 1024} KiB; a zoo file lists sources "
            f"(about 200 bytes each), not weights or data"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ZooFileError(
            f"zoo file {path} cannot be read: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def _read_yaml(path: Path) -> Any:
    text = _read_text(path)
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise ZooFileError(f"{path}: nested too deeply to be a zoo file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ZooFileError(f"{path}{at}: not valid YAML: {problem}") from None


def load_zoo(
    path: str | Path | None = None, registry: PluginRegistry | None = None, include_plugins: bool = True
) -> Zoo:
    """Load and validate a zoo file, then add entries registered by plugins."""
    registry = registry or get_registry()
    path = Path(path) if path is not None else default_zoo_path()
    data = _read_yaml(path)
    if data is None:
        data = {"sources": []}
    if not isinstance(data, dict) or "sources" not in data:
        raise ZooFileError(f"{path}: the top level must be a mapping with a 'sources' list")
    unknown_top = set(data) - {"sources", "version"}
    if unknown_top:
        raise ZooFileError(f"{path}: unknown top-level field(s) {', '.join(map(repr, sorted(map(str, unknown_top))))}")
    if data.get("version", 1) != 1:
        raise ZooFileError(f"{path}: field 'version': only version 1 is supported, got {data['version']!r}")
    sources = data["sources"] or []
    if not isinstance(sources, list):
        raise ZooFileError(f"{path}: field 'sources' must be a list, got {type(sources).__name__}")
    zoo = Zoo(path=path)
    base_dir = str(path.resolve().parent)
    for index, raw in enumerate(sources):
        where = f"{path}: {_entry_label(index, raw)}"
        entry = parse_entry(raw, where, str(path), base_dir, registry)
        if entry.name in zoo.entries:
            raise ZooFileError(f"{where}: field 'name': duplicate source name {entry.name!r}")
        zoo.entries[entry.name] = entry
    if include_plugins:
        for name, entry in registry.zoo_entries.items():
            if name in zoo.entries:
                registry.warn(f"zoo entry {name!r} from {entry.origin} is shadowed by the one in {path}")
                continue
            raw = {
                "name": entry.name,
                "provider": entry.provider,
                **dict(entry.options),
                **{k: getattr(entry, k) for k in ("domain", "description", "license") if getattr(entry, k)},
            }
            try:
                zoo.entries[name] = parse_entry(
                    raw, f"zoo entry {name!r} from plugin {entry.origin}", entry.origin, entry.base_dir, registry
                )
            except ZooFileError as exc:
                registry.warn(f"{exc}; the entry is left out")
    return zoo
