"""Plugins import one package, ``zoo_distill.plugin``; the 0.1 paths keep working for old plugins."""

import importlib

import zoo_distill.plugin as plugin
from zoo_distill.plugin import hookspecs, types


def test_plugin_package_exports_the_marker_and_every_contract():
    assert plugin.hookimpl is hookspecs.hookimpl
    for name in (
        "Metric",
        "Aggregator",
        "SourceProvider",
        "ZooEntry",
        "Teacher",
        "TeacherIdentity",
        "EntryFieldError",
        "FEATURES",
        "LOGITS",
    ):
        assert getattr(plugin, name) is getattr(types, name), name
    assert set(plugin.__all__) <= set(dir(plugin))


def test_the_0_1_import_paths_are_the_same_objects():
    old_specs = importlib.import_module("zoo_distill.hookspecs")
    old_types = importlib.import_module("zoo_distill.interfaces")
    assert old_specs.hookimpl is hookspecs.hookimpl and old_specs.register_metrics is hookspecs.register_metrics
    assert old_types.Metric is types.Metric and old_types.SourceProvider is types.SourceProvider
