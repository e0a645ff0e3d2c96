"""Which metric feeds which aggregator when the user names none."""

from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC, default_metric
from zoo_distill.runs.spec import RunSpec, spec_from_settings


def test_nearest_takes_the_ranking_metric_and_the_others_the_weighting_metric():
    assert default_metric("nearest") == DEFAULT_PRIMARY_METRIC
    assert (
        default_metric("weighted")
        == default_metric("uniform")
        == default_metric("a-plugin's")
        == DEFAULT_WEIGHTING_METRIC
    )


def test_a_spec_resolves_its_metric_from_its_aggregator_unless_one_is_named():
    assert RunSpec().metric == DEFAULT_WEIGHTING_METRIC  # the default aggregator is weighted
    assert spec_from_settings(aggregator="nearest").metric == DEFAULT_PRIMARY_METRIC
    assert spec_from_settings(aggregator="nearest", metric="leep").metric == "leep"
    assert spec_from_settings(aggregator="weighted", metric=None).metric == DEFAULT_WEIGHTING_METRIC
