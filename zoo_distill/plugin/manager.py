"""The plugin manager: loads built-in and installed plugins and collects what they register.

Every hook is called once, through pluggy (``pm.hook.register_metrics(register=...)``), so pluggy's
implementation options are honoured:

- **Order.** pluggy calls ``tryfirst`` implementations first, then plain ones, then ``trylast`` ones;
  within each group, the last registered first. The first registration of a name wins.
  Built-ins must keep their names whatever a plugin asks for, so the manager hands the built-in
  modules to pluggy *after* every installed plugin and marks their implementations ``tryfirst``:
  pluggy calls them before anything else. Installed plugins are handed over in reverse entry-point
  name order, so among plugins with the same options the first in name order is called first.
- **Wrappers** (``wrapper=True`` and old-style ``hookwrapper=True``) wrap the whole call, built-ins
  included, as pluggy defines.

Who registered what, and isolation. pluggy stops a hook call at the first exception and hands every
implementation the same ``register``. So each plugin goes to pluggy behind a guard: a stand-in object
whose hook functions are the plugin's own, wrapped (``functools.wraps`` keeps the hookimpl options and
the parameter names pluggy reads). While a plugin's code runs, a context variable names the plugin:
the one ``register`` callback of the call reads it to attribute each registration (and a duplicate)
to its plugin. An exception is caught by the guard, reported as a warning naming the plugin, and
pluggy goes on with the next implementation. A wrapper is guarded around its code before and after
its ``yield``; a wrapper that fails steps aside and leaves the result as it was. (Calling each
plugin on its own, e.g. with ``pm.subset_hook_caller``, would also attribute and isolate, but a
wrapper would then see only its own plugin and the order would be ours, not pluggy's.)

Adding a hook: declare it in ``hookspecs.py`` and add one row to :data:`HOOKS`
(``PluginRegistry.get(hook, name)`` and ``registered[hook]`` serve it; a typed property is optional).

Nothing here (nor loading the built-ins) imports torch or timm: ``zoo-distill plugins`` answers at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import importlib.metadata
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from zoo_distill._version import __version__
from zoo_distill.errors import UnknownNameError
from zoo_distill.plugin import hookspecs
from zoo_distill.plugin.types import Aggregator, Method, Metric, SourceProvider, ZooEntry

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "HOOKS",
    "Hook",
    "LOAD_ENV",
    "PluginInfo",
    "PluginRegistry",
    "get_registry",
    "load_plugins",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
LOAD_ENV = "ZOO_DISTILL_LOAD_PLUGINS"
DISABLE_ENV = "ZOO_DISTILL_DISABLE_PLUGINS"

BUILTIN_PLUGINS = (
    "zoo_distill.builtin.sources",
    "zoo_distill.builtin.metrics",
    "zoo_distill.builtin.aggregators",
    "zoo_distill.builtin.methods",
)

_IMPL_MARKER = f"{hookspecs.PROJECT_NAME}_impl"  # where pluggy's HookimplMarker keeps its options


@dataclass(frozen=True)
class Hook:
    """One registration hook: its spec name, the kind users see, the type ``register()`` accepts."""

    name: str
    kind: str
    type: type[Any]  # Any: an item that passed isinstance keeps its attributes (name) for the checker


#: Every registration hook, in the order they are called. The one place to add a hook.
HOOKS: dict[str, Hook] = {
    hook.name: hook
    for hook in (
        Hook("register_sources", "provider", SourceProvider),
        Hook("register_metrics", "metric", Metric),
        Hook("register_aggregators", "aggregator", Aggregator),
        Hook("register_methods", "method", Method),
        Hook("register_zoo_entries", "zoo entry", ZooEntry),
    )
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

    def to_dict(self) -> dict[str, Any]:
        """The row ``zoo-distill plugins --json`` prints."""
        return {
            "name": self.name,
            "version": self.version,
            "builtin": self.builtin,
            "distribution": self.distribution,
            "hooks": sorted(self.registers),
            "registers": self.registers,
            "error": self.error,
        }


@dataclass
class PluginRegistry:
    """Everything the loaded plugins registered, per hook and name, plus load diagnostics."""

    registered: dict[str, dict[str, Any]] = field(default_factory=lambda: {name: {} for name in HOOKS})
    plugins: list[PluginInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def providers(self) -> dict[str, SourceProvider]:
        return self.registered["register_sources"]

    @property
    def metrics(self) -> dict[str, Metric]:
        return self.registered["register_metrics"]

    @property
    def aggregators(self) -> dict[str, Aggregator]:
        return self.registered["register_aggregators"]

    @property
    def methods(self) -> dict[str, Method]:
        return self.registered["register_methods"]

    @property
    def zoo_entries(self) -> dict[str, ZooEntry]:
        return self.registered["register_zoo_entries"]

    def get(self, hook: str, name: str) -> Any:
        """What was registered as ``name`` through ``hook``; UnknownNameError lists the known names."""
        table = self.registered[hook]
        if name not in table:
            raise UnknownNameError(HOOKS[hook].kind, name, list(table))
        return table[name]

    def metric(self, name: str) -> Metric:
        return self.get("register_metrics", name)

    def aggregator(self, name: str) -> Aggregator:
        return self.get("register_aggregators", name)

    def method(self, name: str) -> Method:
        return self.get("register_methods", name)

    def provider(self, name: str) -> SourceProvider:
        return self.get("register_sources", name)

    def owner_of(self, hook: str, name: str) -> PluginInfo | None:
        """The plugin whose registration of ``name`` was kept."""
        return next((p for p in self.plugins if name in p.registers.get(hook, [])), None)

    def version_of(self, hook: str, name: str) -> str:
        """The version of the plugin that registered ``name`` (part of cached-score keys)."""
        owner = self.owner_of(hook, name)
        return f"{owner.name}=={owner.version}" if owner else "unknown"

    def describe(self, hook: str, name: str) -> str:
        """``"aggregator 'x' of plugin 'p'"`` (no plugin for a built-in): how a message attributes a
        registered thing's failure or bad result to the plugin that registered it."""
        owner = self.owner_of(hook, name)
        label = f"{HOOKS[hook].kind} {name!r}"
        return label if owner is None or owner.builtin else f"{label} of plugin {owner.name!r}"

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        logger.warning(message)

    def fail(self, plugin: PluginInfo, error: str, name_distribution: bool = False) -> None:
        """Record a plugin's failure on it (shown by ``zoo-distill plugins``) and warn, naming it."""
        plugin.error = error if plugin.error is None else f"{plugin.error}; {error}"
        dist = f" ({plugin.distribution})" if name_distribution and plugin.distribution else ""
        self.warn(f"plugin {plugin.name!r}{dist}: {error}")


# --- who is running: the guard sets it, register() reads it --------------------------------------

_running: contextvars.ContextVar[PluginInfo | None] = contextvars.ContextVar("zoo_distill_plugin", default=None)


@contextlib.contextmanager
def _acting_for(plugin: PluginInfo) -> Iterator[None]:
    token = _running.set(plugin)
    try:
        yield
    finally:
        _running.reset(token)


def _register_callback(registry: PluginRegistry, hook: Hook) -> Callable[[Any], None]:
    """The ``register`` of one hook call: checks the type, keeps the first of a name, names the plugin."""
    table = registry.registered[hook.name]

    def register(item: Any) -> None:
        plugin = _running.get()
        if plugin is None:
            raise RuntimeError(f"register() for {hook.name} may only be called while the hook runs")
        if not isinstance(item, hook.type):
            raise TypeError(f"register() for {hook.name} expects {hook.type.__name__}, got {type(item).__name__}")
        if item.name in table:
            owner = registry.owner_of(hook.name, item.name)
            registry.warn(
                f"plugin {plugin.name!r}: {hook.kind} {item.name!r} is already registered by plugin "
                f"{owner.name if owner else None!r}; ignoring the duplicate"
            )
            return
        table[item.name] = item
        plugin.registers.setdefault(hook.name, []).append(item.name)

    return register


# --- guards: what pluggy calls instead of a plugin's own functions --------------------------------

Report = Callable[[BaseException], None]


def _guard_call(fn: Callable[..., Any], plugin: PluginInfo, report: Report) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps the hookimpl marker and, through __wrapped__, the parameter names
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            with _acting_for(plugin):
                return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the others down
            report(exc)
            return None

    return guarded


def _guard_wrapper(fn: Callable[..., Any], plugin: PluginInfo, report: Report) -> Callable[..., Any]:
    """A wrapper (new- or old-style) guarded around its own code; on failure it passes the result through."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            with _acting_for(plugin):
                teardown = fn(*args, **kwargs)
                next(teardown)
        except Exception as exc:  # noqa: BLE001 - StopIteration included: it did not yield
            report(exc if not isinstance(exc, StopIteration) else RuntimeError("the wrapper did not yield"))
            return (yield)
        try:
            result = yield
        except BaseException:  # only KeyboardInterrupt and the like get past the other guards
            teardown.close()
            raise
        try:
            with _acting_for(plugin):
                teardown.send(result)
        except StopIteration:
            pass
        except Exception as exc:  # noqa: BLE001
            report(exc)
        else:
            teardown.close()
            report(RuntimeError("the wrapper yielded twice"))
        return result  # a register_* call's result is unused: passed through as it came

    return guarded


class _Guarded:
    """What pluggy sees of one plugin: the plugin's hook functions, each behind a guard."""

    def __init__(self, plugin: PluginInfo) -> None:
        self._plugin_name = plugin.name

    def __repr__(self) -> str:
        return f"<guarded plugin {self._plugin_name!r}>"


def _guarded(
    pm: pluggy.PluginManager, registry: PluginRegistry, info: PluginInfo, plugin: object, builtin: bool
) -> _Guarded:
    """The stand-in for ``plugin``; built-in implementations are made ``tryfirst``."""
    proxy = _Guarded(info)
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        hook_name = opts.get("specname") or attr
        if hook_name not in HOOKS and not opts.get("optionalhook"):
            registry.warn(
                f"plugin {info.name!r}: {hook_name!r} is not a zoo-distill hook (known: "
                f"{', '.join(HOOKS)}); it is never called"
            )
            continue
        fn = getattr(plugin, attr)
        wrapper = bool(opts.get("wrapper") or opts.get("hookwrapper"))
        if wrapper and not inspect.isgeneratorfunction(fn):
            raise TypeError(f"{attr} is marked as a hook wrapper but is not a generator function")

        def report(exc: BaseException, _hook: str = hook_name) -> None:
            registry.fail(info, f"{_hook} failed: {type(exc).__name__}: {exc}")

        guard = (_guard_wrapper if wrapper else _guard_call)(fn, info, report)
        if builtin and not wrapper:
            opts = {**opts, "tryfirst": True, "trylast": False}
        setattr(guard, _IMPL_MARKER, dict(opts))
        setattr(proxy, attr, guard)
    return proxy


# --- discovery ------------------------------------------------------------------------------------


def _env_names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _selected_entry_points(registry: PluginRegistry) -> list[importlib.metadata.EntryPoint]:
    """Installed entry points in our group, filtered by the allow-list and the deny-list, by name.

    A name in either list that no installed plugin has (a typo, an uninstalled plugin) is warned
    about, with the installed names: it would otherwise change nothing, silently."""
    allow, deny = _env_names(LOAD_ENV), _env_names(DISABLE_ENV) or set()
    every = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    installed: set[str] = set()
    selected = []
    for ep in every:
        dist = ep.dist.name if ep.dist else None
        names = {name for name in (ep.name, dist) if name is not None}
        installed |= names
        if allow is not None and not names & allow:
            continue
        if names & deny:
            continue
        selected.append(ep)
    for var, wanted in ((LOAD_ENV, allow or set()), (DISABLE_ENV, deny)):
        for name in sorted(wanted - installed):
            registry.warn(
                f"{var} names {name!r}, which is not an installed zoo-distill plugin; installed: "
                f"{', '.join(sorted(installed)) or '(none)'}"
            )
    return sorted(selected, key=lambda ep: ep.name)


def _installed(registry: PluginRegistry) -> list[tuple[PluginInfo, Callable[[], object]]]:
    out = []
    for ep in _selected_entry_points(registry):
        info = PluginInfo(
            name=ep.name,
            version=ep.dist.version if ep.dist else "unknown",
            builtin=False,
            distribution=ep.dist.name if ep.dist else None,
        )
        out.append((info, ep.load))
    return out


def load_plugins(extra: Sequence[tuple[str, object]] = ()) -> PluginRegistry:
    """Load built-ins and installed plugins (honoring the env allow/deny lists) and call every hook.

    ``extra``: more ``(name, plugin object)`` pairs, treated like installed plugins that come after
    them in name order (for tests and applications that embed zoo-distill).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    registry = PluginRegistry()
    builtins = [
        (PluginInfo(name=name, version=__version__, builtin=True), importlib.import_module(name))
        for name in BUILTIN_PLUGINS
    ]
    registry.plugins.extend(info for info, _ in builtins)

    candidates = _installed(registry) + [
        (PluginInfo(name=name, version=str(getattr(obj, "__version__", "unknown")), builtin=False), lambda obj=obj: obj)
        for name, obj in extra
    ]
    loaded: list[tuple[PluginInfo, object]] = []
    taken = set(BUILTIN_PLUGINS)
    for info, load in candidates:
        registry.plugins.append(info)
        try:
            plugin = load()
            if info.name in taken:
                raise ValueError(f"a plugin named {info.name!r} is already loaded")
            taken.add(info.name)
            loaded.append((info, plugin))
        except Exception as exc:  # noqa: BLE001 - isolate plugins that fail to import
            registry.fail(info, f"failed to load: {type(exc).__name__}: {exc}", name_distribution=True)

    # pluggy calls the last registered first (within tryfirst / plain / trylast): see the module docstring.
    for info, plugin in reversed(loaded):
        try:
            pm.register(_guarded(pm, registry, info, plugin, builtin=False), name=info.name)
        except Exception as exc:  # noqa: BLE001 - e.g. pluggy's validation of parameter names
            registry.fail(info, f"failed to load: {type(exc).__name__}: {exc}", name_distribution=True)
    for info, module in builtins:
        pm.register(_guarded(pm, registry, info, module, builtin=True), name=info.name)

    for hook in HOOKS.values():
        getattr(pm.hook, hook.name)(register=_register_callback(registry, hook))
    return registry


_cached: PluginRegistry | None = None


def get_registry(refresh: bool = False) -> PluginRegistry:
    """The process-wide plugin registry, loaded on first use."""
    global _cached
    if _cached is None or refresh:
        _cached = load_plugins()
    return _cached
