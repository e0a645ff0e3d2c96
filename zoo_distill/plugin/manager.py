"""The plugin manager: loads built-in and installed plugins and collects what they register.

Built-in plugins go through the same hooks as third-party ones. Each plugin's hook
implementation is called on its own, so one that raises or registers a duplicate name
is reported as a warning naming the plugin and never takes the others (or the CLI) down.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from zoo_distill._version import __version__

from zoo_distill.plugin import hookspecs
from zoo_distill.errors import UnknownNameError
from zoo_distill.plugin.types import Aggregator, Metric, SourceProvider, ZooEntry

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
LOAD_ENV = "ZOO_DISTILL_LOAD_PLUGINS"
DISABLE_ENV = "ZOO_DISTILL_DISABLE_PLUGINS"

BUILTIN_PLUGINS = (
    "zoo_distill.builtin.sources",
    "zoo_distill.builtin.metrics",
    "zoo_distill.builtin.aggregators",
)

# hook name -> (kind shown to users, the type a registration must have)
HOOKS: dict[str, tuple[str, type]] = {
    "register_sources": ("provider", SourceProvider),
    "register_metrics": ("metric", Metric),
    "register_aggregators": ("aggregator", Aggregator),
    "register_zoo_entries": ("zoo entry", ZooEntry),
}


@dataclass
class PluginInfo:
    """What one plugin is and what it contributed; shown by ``zoo-distill plugins``."""

    name: str
    version: str
    builtin: bool
    distribution: str | None = None
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class PluginRegistry:
    """Everything the loaded plugins registered, keyed by name, plus load diagnostics."""

    providers: dict[str, SourceProvider] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    aggregators: dict[str, Aggregator] = field(default_factory=dict)
    zoo_entries: dict[str, ZooEntry] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def _table(self, hook: str) -> dict[str, Any]:
        return {
            "register_sources": self.providers,
            "register_metrics": self.metrics,
            "register_aggregators": self.aggregators,
            "register_zoo_entries": self.zoo_entries,
        }[hook]

    def metric(self, name: str) -> Metric:
        if name not in self.metrics:
            raise UnknownNameError("metric", name, list(self.metrics))
        return self.metrics[name]

    def aggregator(self, name: str) -> Aggregator:
        if name not in self.aggregators:
            raise UnknownNameError("aggregator", name, list(self.aggregators))
        return self.aggregators[name]

    def provider(self, name: str) -> SourceProvider:
        if name not in self.providers:
            raise UnknownNameError("provider", name, list(self.providers))
        return self.providers[name]

    def version_of(self, hook: str, name: str) -> str:
        """The version of the plugin that registered ``name`` (part of cached-score keys)."""
        for plugin in self.plugins:
            if name in plugin.registers.get(hook, []):
                return f"{plugin.name}=={plugin.version}"
        return "unknown"

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        logger.warning(message)


def _env_names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _selected_entry_points() -> list[importlib.metadata.EntryPoint]:
    """Installed entry points in our group, filtered by the allow-list and the deny-list."""
    allow, deny = _env_names(LOAD_ENV), _env_names(DISABLE_ENV) or set()
    selected = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else None
        names = {ep.name, dist} - {None}
        if allow is not None and not names & allow:
            continue
        if names & deny:
            continue
        selected.append(ep)
    return sorted(selected, key=lambda ep: ep.name)


def _register_callback(registry: PluginRegistry, info: PluginInfo, hook: str) -> Callable[[Any], None]:
    kind, expected = HOOKS[hook]
    table = registry._table(hook)

    def register(item: Any) -> None:
        if not isinstance(item, expected):
            raise TypeError(f"register() for {hook} expects {expected.__name__}, got {type(item).__name__}")
        owner = next((p.name for p in registry.plugins if item.name in p.registers.get(hook, [])), None)
        if item.name in table:
            registry.warn(
                f"plugin {info.name!r}: {kind} {item.name!r} is already registered by plugin {owner!r}; "
                f"ignoring the duplicate"
            )
            return
        table[item.name] = item
        info.registers.setdefault(hook, []).append(item.name)

    return register


def _collect(pm: pluggy.PluginManager, registry: PluginRegistry, infos: dict[str, PluginInfo]) -> None:
    """Call every plugin's implementation of every hook on its own, isolating failures."""
    for hook in HOOKS:
        # get_hookimpls() lists implementations in registration order: built-ins first.
        for impl in getattr(pm.hook, hook).get_hookimpls():
            info = infos[impl.plugin_name]
            try:
                impl.function(register=_register_callback(registry, info, hook))
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the CLI down
                info.error = f"{hook} failed: {type(exc).__name__}: {exc}"
                registry.warn(f"plugin {info.name!r}: {info.error}")


def load_plugins() -> PluginRegistry:
    """Load built-ins and installed plugins (honoring the env allow/deny lists) and collect them."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    registry = PluginRegistry()
    infos: dict[str, PluginInfo] = {}

    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        infos[module_name] = PluginInfo(name=module_name, version=__version__, builtin=True)

    for ep in _selected_entry_points():
        dist_name = ep.dist.name if ep.dist else None
        info = PluginInfo(
            name=ep.name, version=ep.dist.version if ep.dist else "unknown", builtin=False, distribution=dist_name
        )
        try:
            plugin = ep.load()
            if ep.name in infos:
                raise ValueError(f"a plugin named {ep.name!r} is already loaded")
            pm.register(plugin, name=ep.name)
            infos[ep.name] = info
        except Exception as exc:  # noqa: BLE001 - isolate plugins that fail to import
            info.error = f"failed to load: {type(exc).__name__}: {exc}"
            registry.warn(f"plugin {ep.name!r} ({dist_name}): {info.error}")
        registry.plugins.append(info)

    registry.plugins[:0] = [infos[name] for name in BUILTIN_PLUGINS]
    _collect(pm, registry, infos)
    return registry


_cached: PluginRegistry | None = None


def get_registry(refresh: bool = False) -> PluginRegistry:
    """The process-wide plugin registry, loaded on first use."""
    global _cached
    if _cached is None or refresh:
        _cached = load_plugins()
    return _cached
