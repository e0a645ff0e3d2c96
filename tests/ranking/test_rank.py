"""ranking/rank.py at the plugin boundary: a plugin's bad result or exception is attributed to it, and
only its own contribution is dropped."""

from __future__ import annotations

import io
import json
import types

from rich.console import Console

from zoo_distill.data.target import load_target
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.plugin.manager import load_plugins
from zoo_distill.plugin.types import Aggregator, Metric
from zoo_distill.ranking.rank import rank_sources
from zoo_distill.ranking.report import rank_table
from zoo_distill.util.strict_json import json_text
from zoo_distill.zoo.file import load_zoo


def plugin(weights, score):
    """A plugin object registering aggregator 'bad' and metric 'bad-m' that return what is given."""
    module = types.SimpleNamespace()
    module.register_aggregators = hookimpl(lambda register: register(Aggregator("bad", lambda scores: weights)))
    module.register_metrics = hookimpl(lambda register: register(Metric("bad-m", lambda f, y, z: score)))
    return module


def ranked(tiny_zoo, target_dir, tmp_path, weights, score=0.5, metrics=("knn",)):
    registry = load_plugins(extra=[("mine", plugin(weights, score))])
    zoo = load_zoo(tiny_zoo, registry)
    return rank_sources(load_target(target_dir), list(zoo), list(metrics), registry, FeatureCache(tmp_path / "c"))


def test_a_bad_aggregator_is_reported_as_failed_naming_its_plugin_and_the_others_stand(tiny_zoo, target_dir, tmp_path):
    result = ranked(tiny_zoo, target_dir, tmp_path, {"teacher-a": float("nan"), "teacher-b": 1.0})
    assert "bad" not in result.weights
    assert "plugin 'mine'" in result.weight_errors["bad"] and "'teacher-a' is nan" in result.weight_errors["bad"]
    assert abs(sum(result.weights["weighted"].values()) - 1) < 1e-9
    json.loads(json_text(result.to_dict()), parse_constant=lambda name: (_ for _ in ()).throw(AssertionError(name)))
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(rank_table(result))
    assert "α bad" in console.file.getvalue() and "failed" in console.file.getvalue()


def test_a_list_from_an_aggregator_does_not_break_the_table(tiny_zoo, target_dir, tmp_path):
    result = ranked(tiny_zoo, target_dir, tmp_path, [0.5, 0.5])
    assert "not a mapping" in result.weight_errors["bad"]
    rank_table(result)  # it used to raise on every table


def test_a_metric_returning_text_fails_that_metric_for_each_source_naming_the_plugin(tiny_zoo, target_dir, tmp_path):
    result = ranked(tiny_zoo, target_dir, tmp_path, {}, score="0.5", metrics=("knn", "bad-m"))
    for source in result.sources:
        assert source.scores["bad-m"] is None and source.scores["knn"] is not None
        assert source.metric_errors["bad-m"].startswith("plugin 'mine': PluginOutputError: returned '0.5'")
