"""Plugin loading through real entry points of (fake, on-disk) installed distributions."""

import textwrap

import pytest

from zoo_distill.plugin import hookspecs
from zoo_distill.plugin.manager import BUILTIN_PLUGINS, load_plugins

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
    assert [p.name for p in registry.plugins[:3]] == list(BUILTIN_PLUGINS)
    assert {"local", "hf-hub", "timm"} <= set(registry.providers)
    assert {"logme", "leep", "nce", "nleep", "hscore", "gbc", "knn", "linear"} <= set(registry.metrics)
    assert {"nearest", "weighted", "uniform"} <= set(registry.aggregators)
    assert registry.warnings == []


def test_external_plugins_load_and_failures_are_isolated(fake_plugins):
    registry = load_plugins()
    by_name = {p.name: p for p in registry.plugins}
    good = by_name["goodplugin"]
    assert good.version == "1.2.3" and good.distribution == "zd-good" and good.error is None
    assert good.registers == {"register_metrics": ["feature-norm"],
                              "register_zoo_entries": ["plugin-teacher", "broken-entry"]}
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


def test_disable_list_skips_plugins(fake_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_DISTILL_DISABLE_PLUGINS", "brokenplugin, zd-raises")
    registry = load_plugins()
    names = {p.name for p in registry.plugins}
    assert "goodplugin" in names and "brokenplugin" not in names and "raisesplugin" not in names
    assert not any("brokenplugin" in w or "raisesplugin" in w for w in registry.warnings)


def test_register_rejects_wrong_types(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, "zd-wrong", "wrongplugin", """
from zoo_distill.plugin.hookspecs import hookimpl

@hookimpl
def register_metrics(register):
    register("not a metric")
""")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_plugins()
    assert any("expects Metric, got str" in w for w in registry.warnings)


def test_plugin_zoo_entries_join_the_zoo(fake_plugins, tiny_zoo):
    from zoo_distill.zoo.file import load_zoo

    registry = load_plugins()
    zoo = load_zoo(tiny_zoo, registry)
    assert list(zoo.entries) == ["teacher-a", "teacher-b", "plugin-teacher"]  # the invalid one is left out
    assert zoo.entries["plugin-teacher"].origin == "goodplugin"
    assert any("zoo entry 'broken-entry' from plugin goodplugin" in w and "field 'repo' is required" in w for w in registry.warnings), registry.warnings
