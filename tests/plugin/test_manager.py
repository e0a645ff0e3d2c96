"""Plugin loading: real entry points of (fake, on-disk) installed distributions, and in-process plugin
objects for pluggy's ordering, wrappers and isolation."""

import os
import subprocess
import sys
import textwrap

import pytest

from zoo_distill.errors import UnknownNameError
from zoo_distill.plugin import hookspecs
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.manager import BUILTIN_PLUGINS, HOOKS, load_plugins
from zoo_distill.plugin.types import Aggregator, Metric
from zoo_distill.ranking import metrics as builtin_metric_catalog

GOOD = """
import numpy as np
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.types import Metric, ZooEntry

@hookimpl
def register_metrics(register):
    register(Metric("feature-norm", lambda f, y, z: float(np.linalg.norm(f, axis=1).mean()), reference="test"))

@hookimpl
def register_zoo_entries(register):
    register(ZooEntry(name="plugin-teacher", provider="hf-hub", options={"repo": "org/model"}, origin="goodplugin"))
    register(ZooEntry(name="broken-entry", provider="hf-hub", options={"rpo": "typo"}, origin="goodplugin"))
"""
DUPLICATE = """
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.types import Metric

@hookimpl
def register_metrics(register):
    register(Metric("logme", lambda f, y, z: 0.0))
    register(Metric("dup-unique", lambda f, y, z: 0.0))
"""
RAISES = """
from zoo_distill.plugin.hookspecs import hookimpl

@hookimpl
def register_aggregators(register):
    raise RuntimeError("boom in hook")
"""
BROKEN = "import this_module_does_not_exist\n"


def install_fake_plugin(root, dist, module, source, version="1.2.3"):
    """Lay out ``module.py`` and a ``dist-info`` with an entry point, as pip would."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{hookspecs.PROJECT_NAME}]\n{module} = {module}\n")


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, "zd-good", "goodplugin", GOOD)
    install_fake_plugin(tmp_path, "zd-dup", "dupplugin", DUPLICATE)
    install_fake_plugin(tmp_path, "zd-raises", "raisesplugin", RAISES)
    install_fake_plugin(tmp_path, "zd-broken", "brokenplugin", BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_register_through_the_hooks():
    registry = load_plugins()
    assert [p.name for p in registry.plugins[: len(BUILTIN_PLUGINS)]] == list(BUILTIN_PLUGINS)
    assert {"local", "hf-hub", "timm"} <= set(registry.providers)
    assert {"logme", "leep", "nce", "nleep", "hscore", "gbc", "knn", "linear"} <= set(registry.metrics)
    assert {"nearest", "weighted", "uniform"} <= set(registry.aggregators)
    assert list(registry.methods) == ["distill", "finetune", "fixmatch", "freematch", "softmatch"]
    assert registry.method("distill").uses_teachers and not registry.method("fixmatch").uses_teachers
    assert registry.warnings == []


def test_external_plugins_load_and_failures_are_isolated(fake_plugins):
    registry = load_plugins()
    by_name = {p.name: p for p in registry.plugins}
    good = by_name["goodplugin"]
    assert good.version == "1.2.3" and good.distribution == "zd-good" and good.error is None
    assert good.registers == {
        "register_metrics": ["feature-norm"],
        "register_zoo_entries": ["plugin-teacher", "broken-entry"],
    }
    assert "feature-norm" in registry.metrics and "plugin-teacher" in registry.zoo_entries
    # a failing import, a raising hook and a duplicate name are warnings naming the plugin
    assert "ModuleNotFoundError" in by_name["brokenplugin"].error
    assert "boom in hook" in by_name["raisesplugin"].error
    joined = "\n".join(registry.warnings)
    assert "plugin 'brokenplugin' (zd-broken)" in joined
    assert "plugin 'raisesplugin': register_aggregators failed: RuntimeError: boom in hook" in joined
    assert "plugin 'dupplugin': metric 'logme' is already registered by plugin 'zoo_distill.builtin.metrics'" in joined
    # the duplicate is ignored, the built-in kept, the plugin's other names still registered
    assert registry.metrics["logme"].reference != ""
    assert "dup-unique" in registry.metrics
    assert {"nearest", "weighted", "uniform"} <= set(registry.aggregators)


def test_allow_list_limits_external_plugins(fake_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_DISTILL_LOAD_PLUGINS", "zd-good")
    names = {p.name for p in load_plugins().plugins}
    assert "goodplugin" in names and not names & {"dupplugin", "raisesplugin", "brokenplugin"}
    monkeypatch.setenv("ZOO_DISTILL_LOAD_PLUGINS", "")
    registry = load_plugins()
    assert [p.name for p in registry.plugins] == list(BUILTIN_PLUGINS)
    assert "logme" in registry.metrics  # built-ins always load


def test_a_listed_plugin_that_is_not_installed_is_warned_about(fake_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_DISTILL_LOAD_PLUGINS", "zd-good, zd-typo")
    monkeypatch.setenv("ZOO_DISTILL_DISABLE_PLUGINS", "nothing-like-it")
    registry = load_plugins()
    assert "goodplugin" in {p.name for p in registry.plugins}
    typo = [w for w in registry.warnings if "'zd-typo'" in w]
    assert len(typo) == 1 and "ZOO_DISTILL_LOAD_PLUGINS" in typo[0] and "zd-good" in typo[0]  # the installed
    assert any("ZOO_DISTILL_DISABLE_PLUGINS names 'nothing-like-it'" in w for w in registry.warnings)
    assert not any("'zd-good'" in w for w in registry.warnings)


def test_disable_list_skips_plugins(fake_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_DISTILL_DISABLE_PLUGINS", "brokenplugin, zd-raises")
    registry = load_plugins()
    names = {p.name for p in registry.plugins}
    assert "goodplugin" in names and "brokenplugin" not in names and "raisesplugin" not in names
    assert not any("brokenplugin" in w or "raisesplugin" in w for w in registry.warnings)


def test_register_rejects_wrong_types(tmp_path, monkeypatch):
    install_fake_plugin(
        tmp_path,
        "zd-wrong",
        "wrongplugin",
        """
from zoo_distill.plugin.hookspecs import hookimpl

@hookimpl
def register_metrics(register):
    register("not a metric")
""",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_plugins()
    assert any("expects Metric, got str" in w for w in registry.warnings)


def test_plugin_zoo_entries_join_the_zoo(fake_plugins, tiny_zoo):
    from zoo_distill.zoo.file import load_zoo

    registry = load_plugins()
    zoo = load_zoo(tiny_zoo, registry)
    assert list(zoo.entries) == ["teacher-a", "teacher-b", "plugin-teacher"]  # the invalid one is left out
    assert zoo.entries["plugin-teacher"].origin == "goodplugin"
    assert any(
        "zoo entry 'broken-entry' from plugin goodplugin" in w and "field 'repo' is required" in w
        for w in registry.warnings
    ), registry.warnings


# --- pluggy's options are honoured: order, wrappers, isolation -------------------------------------

BUILTIN_METRICS = "zoo_distill.builtin.metrics"


def metric(name: str, reference: str = "test") -> Metric:
    return Metric(name, lambda f, y, z: 0.0, reference=reference)


class Claims:
    """A plugin that registers ``logme`` (a built-in's name) and one name of its own, with given options."""

    def __init__(self, own: str, calls: list[str] | None = None, **options) -> None:
        self.own, self.calls = own, calls if calls is not None else []

        @hookimpl(**options)
        def register_metrics(register):
            self.calls.append(own)
            register(metric("logme", reference=f"by {own}"))
            register(metric(own))

        self.register_metrics = register_metrics


TRYLAST_LOGME = """
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.types import Metric

@hookimpl(trylast=True)
def register_metrics(register):
    register(Metric("logme", lambda f, y, z: 0.0))
"""


def test_builtins_keep_their_names_against_tryfirst_and_trylast_plugins(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, "zd-late", "lateplugin", TRYLAST_LOGME)  # the case, installed
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_plugins(
        extra=[("early", Claims("early-own", tryfirst=True)), ("late", Claims("late-own", trylast=True))]
    )
    assert registry.metrics["logme"] is next(m for m in builtin_metric_catalog.BUILTIN_METRICS if m.name == "logme")
    assert registry.owner_of("register_metrics", "logme").name == BUILTIN_METRICS
    for plugin in ("early", "late", "lateplugin"):
        assert (
            f"plugin {plugin!r}: metric 'logme' is already registered by plugin {BUILTIN_METRICS!r}; "
            f"ignoring the duplicate"
        ) in registry.warnings
    assert {"early-own", "late-own"} <= set(registry.metrics)  # their other names still register
    by_name = {p.name: p for p in registry.plugins}
    assert by_name["early"].registers == {"register_metrics": ["early-own"]} and by_name["early"].error is None


def test_order_among_plugins_follows_pluggy():
    """tryfirst, then plain ones in the order given, then trylast; the first registration of a name wins."""
    calls: list[str] = []
    registry = load_plugins(
        extra=[
            ("plain-1", Claims("plain-1", calls)),
            ("last", Claims("last", calls, trylast=True)),
            ("plain-2", Claims("plain-2", calls)),
            ("first", Claims("first", calls, tryfirst=True)),
        ]
    )
    assert calls == ["first", "plain-1", "plain-2", "last"]
    assert list(registry.metrics)[-4:] == ["first", "plain-1", "plain-2", "last"]  # after every built-in


class Tracer:
    """A new-style wrapper around register_metrics: registers one name before and one after the call."""

    @hookimpl(wrapper=True)
    def register_metrics(self, register):
        register(metric("traced-before"))
        result = yield
        register(metric("traced-after"))
        return result


class OldTracer:
    """An old-style hookwrapper: sees the outcome of the whole call."""

    outcome = None

    @hookimpl(hookwrapper=True)
    def register_metrics(self, register):
        outcome = yield
        OldTracer.outcome = outcome.get_result()
        register(metric("old-traced-after"))


def test_hook_wrappers_wrap_the_whole_call_built_ins_included():
    registry = load_plugins(extra=[("tracer", Tracer()), ("old-tracer", OldTracer())])
    names = list(registry.metrics)
    assert names[0] == "traced-before" and names[1] == "logme"  # the wrapper's setup ran before the built-ins
    assert set(names[-2:]) == {"traced-after", "old-traced-after"}  # its teardown after everything
    assert OldTracer.outcome == []  # no implementation returns anything
    by_name = {p.name: p for p in registry.plugins}
    assert by_name["tracer"].registers == {"register_metrics": ["traced-before", "traced-after"]}
    assert by_name["old-tracer"].registers == {"register_metrics": ["old-traced-after"]}
    assert registry.warnings == []


class FailingWrapper:
    def __init__(self, where: str) -> None:
        self.where = where

    @hookimpl(wrapper=True)
    def register_aggregators(self, register):
        if self.where == "setup":
            raise RuntimeError("wrapper broke in setup")
        result = yield
        if self.where == "teardown":
            raise RuntimeError("wrapper broke in teardown")
        return result


class Raises:
    @hookimpl(tryfirst=True)
    def register_aggregators(self, register):
        register(Aggregator("kept-before-raising", lambda scores: scores))
        raise RuntimeError("boom")


class Good:
    @hookimpl
    def register_aggregators(self, register):
        register(Aggregator("good-one", lambda scores: scores))


def test_failures_are_isolated_and_name_the_plugin():
    registry = load_plugins(
        extra=[
            ("setup-fails", FailingWrapper("setup")),
            ("teardown-fails", FailingWrapper("teardown")),
            ("raises", Raises()),
            ("good", Good()),
        ]
    )
    by_name = {p.name: p for p in registry.plugins}
    assert (
        "plugin 'setup-fails': register_aggregators failed: RuntimeError: wrapper broke in setup" in registry.warnings
    )
    assert "plugin 'teardown-fails': register_aggregators failed: RuntimeError: wrapper broke in teardown" in (
        registry.warnings
    )
    assert "plugin 'raises': register_aggregators failed: RuntimeError: boom" in registry.warnings
    assert by_name["raises"].error == "register_aggregators failed: RuntimeError: boom"
    # the call went on past each failure: built-ins, what the raising plugin registered first, the next plugin
    assert {"nearest", "weighted", "uniform", "kept-before-raising", "good-one"} <= set(registry.aggregators)
    assert by_name["good"].error is None


def test_misdeclared_hooks_are_reported():
    class NotAGenerator:
        @hookimpl(wrapper=True)
        def register_metrics(self, register):
            return None

    class Typo:
        @hookimpl
        def register_metric(self, register):
            register(metric("never"))

    class BadParameter:
        @hookimpl
        def register_metrics(self, reg):
            reg(metric("never"))

    registry = load_plugins(extra=[("not-a-generator", NotAGenerator()), ("typo", Typo()), ("bad", BadParameter())])
    by_name = {p.name: p for p in registry.plugins}
    assert "is marked as a hook wrapper but is not a generator function" in by_name["not-a-generator"].error
    assert any("plugin 'typo': 'register_metric' is not a zoo-distill hook" in w for w in registry.warnings)
    assert "failed to load" in by_name["bad"].error and "reg" in by_name["bad"].error
    assert "never" not in registry.metrics and "logme" in registry.metrics


def test_register_only_works_while_the_hook_runs():
    kept = []

    class Keeps:
        @hookimpl
        def register_metrics(self, register):
            kept.append(register)

    load_plugins(extra=[("keeps", Keeps())])
    with pytest.raises(RuntimeError, match="only be called while the hook runs"):
        kept[0](metric("late"))


def test_a_new_hook_is_one_row():
    """Everything per hook (callback, type check, listing, lookup) comes from HOOKS."""
    assert set(HOOKS) == {name for name in dir(hookspecs) if name.startswith("register_")}
    registry = load_plugins()
    assert set(registry.registered) == set(HOOKS)
    with pytest.raises(UnknownNameError, match="unknown zoo entry 'nope'"):
        registry.get("register_zoo_entries", "nope")


HEAVY = ("torch", "timm", "torchvision", "sklearn", "matplotlib")


@pytest.fixture(scope="module")
def imported_by_loading() -> set[str]:
    """The heavy modules a fresh interpreter has imported after loading the registry."""
    code = (
        "import sys; from zoo_distill.plugin.manager import get_registry; get_registry(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ZOO_DISTILL_LOAD_PLUGINS": ""},
    )
    return set(filter(None, out.stdout.strip().split(",")))


@pytest.mark.parametrize("module", HEAVY)
def test_loading_the_registry_imports_no_heavy_module(imported_by_loading, module):
    """``zoo-distill plugins`` must answer at once: the built-ins import torch & co. only when used."""
    assert module not in imported_by_loading
