import math

import pytest

from benchmarks.harness.naming import (
    BEST_SINGLE,
    FINETUNE,
    FIXMATCH,
    NEAREST,
    WEIGHTED,
    run_from_name,
    run_name,
    single,
)
from benchmarks.harness.tables import (
    HEADLINE,
    accuracy_table,
    average_row,
    group_summary,
    margins,
    markdown_table,
    mean_std,
    metric_quality,
    nearest_counterpart,
    oracle_rows,
    single_source_accuracy,
    source_choices,
    summary_keys,
)
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.methods.options import DistillOptions

WF = run_name({"aggregator": "weighted", "unlabeled_loss": "fixmatch"})
NF = run_name({"aggregator": "nearest", "unlabeled_loss": "fixmatch"})


def _rows():
    rows = []
    for seed, (ft, w) in enumerate([(0.5, 0.7), (0.6, 0.8)]):
        rows += [
            {"target": "a", "shot": 5, "seed": seed, "method": FINETUNE, "accuracy": ft},
            {"target": "a", "shot": 5, "seed": seed, "method": WEIGHTED, "accuracy": w},
            {"target": "b", "shot": 5, "seed": seed, "method": FINETUNE, "accuracy": 0.9},
            {"target": "b", "shot": 5, "seed": seed, "method": WEIGHTED, "accuracy": 0.8},
            {"target": "a", "shot": 20, "seed": seed, "method": FINETUNE, "accuracy": 1.0},
        ]
    return rows


def test_mean_std_uses_the_sample_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([4.0]) == (4.0, 0.0)


def test_table_average_and_margins():
    table = accuracy_table(_rows(), 5, (FINETUNE, WEIGHTED))
    assert table["a"][FINETUNE][:2] == (pytest.approx(0.55), pytest.approx(0.0707, abs=1e-4))
    assert table["a"][WEIGHTED][2] == 2
    assert average_row(table, [FINETUNE, WEIGHTED]) == {
        FINETUNE: pytest.approx(0.725),
        WEIGHTED: pytest.approx(0.775),
    }
    m = margins(table, WEIGHTED, FINETUNE)
    assert m["a"] == pytest.approx(20.0) and m["b"] == pytest.approx(-10.0) and m["average"] == pytest.approx(5.0)
    text = markdown_table(table, [FINETUNE, WEIGHTED], {WEIGHTED: "DistillWeighted"})
    assert "**75.0 ± 7.1**" in text and "| **average** | 72.5 | 77.5 |" in text


def test_metric_quality_tau_and_accuracy_lost():
    rows = [
        {"target": "a", "shot": 5, "seed": 0, "method": run_name(single(s)), "accuracy": acc}
        for s, acc in {"x": 0.9, "y": 0.6, "z": 0.3}.items()
    ]
    singles = single_source_accuracy(rows)
    scores = {
        ("a", 5, 0): {
            "good": {"x": 3.0, "y": 2.0, "z": 1.0},
            "bad": {"x": 1.0, "y": 2.0, "z": 3.0},
            "half": {"x": 2.0, "y": 3.0, "z": 1.0},
        }
    }
    q = metric_quality(scores, singles)
    assert q["good"]["tau"] == pytest.approx(1.0) and q["good"]["lost"] == pytest.approx(0.0)
    assert q["bad"]["tau"] == pytest.approx(-1.0) and q["bad"]["lost"] == pytest.approx(60.0)
    assert q["half"]["tau"] == pytest.approx(1 / 3) and q["half"]["lost"] == pytest.approx(30.0)
    assert q["good"]["tau_by_target"] == {"a": pytest.approx(1.0)}


def test_oracle_row_is_the_best_single_source_per_split():
    rows = [
        {"target": "a", "shot": 5, "seed": 0, "method": run_name(single(s)), "accuracy": acc}
        for s, acc in {"x": 0.4, "y": 0.7}.items()
    ]
    rows.append({"target": "a", "shot": 5, "seed": 0, "method": FINETUNE, "accuracy": 0.9})
    assert oracle_rows(rows) == [
        {"target": "a", "shot": 5, "seed": 0, "method": BEST_SINGLE, "accuracy": 0.7, "source": "y"}
    ]


def test_source_choices_average_alpha_and_list_picks():
    rows = [
        {"target": "a", "shot": 5, "seed": 0, "method": WEIGHTED, "alpha": {"x": 0.8, "y": 0.2}},
        {"target": "a", "shot": 5, "seed": 1, "method": WEIGHTED, "alpha": {"x": 0.4, "y": 0.6}},
        {"target": "a", "shot": 5, "seed": 0, "method": NEAREST, "source": "x", "accuracy": 0.5},
        {"target": "a", "shot": 5, "seed": 0, "method": BEST_SINGLE, "source": "y", "accuracy": 0.6},
    ]
    c = source_choices(rows, 5)["a"]
    assert c["weighted_alpha"] == {"x": pytest.approx(0.6), "y": pytest.approx(0.4)}
    assert c["nearest_picks"] == ["x"] and c["oracle_picks"] == ["y"]


def _with_complementary():
    rows = []
    for seed, (n, w) in enumerate([(0.5, 0.7), (0.6, 0.6)]):
        rows += [
            {"target": "mix", "shot": 5, "seed": seed, "method": NEAREST, "accuracy": n},
            {"target": "mix", "shot": 5, "seed": seed, "method": WEIGHTED, "accuracy": w},
            {"target": "near", "shot": 5, "seed": seed, "method": NEAREST, "accuracy": 0.9},
            {"target": "near", "shot": 5, "seed": seed, "method": WEIGHTED, "accuracy": 0.8},
        ]
    return accuracy_table(rows, 5, (NEAREST, WEIGHTED))


def test_group_summary_averages_only_its_targets():
    g = group_summary(_with_complementary(), ["mix", "absent"], (NEAREST, WEIGHTED))
    assert g["targets"] == ["mix"]
    assert g["average"] == {NEAREST: pytest.approx(0.55), WEIGHTED: pytest.approx(0.65)}
    assert g["weighted_over_nearest"] == {"mix": pytest.approx(10.0), "average": pytest.approx(10.0)}
    assert math.isnan(g["weighted_class_over_nearest"]["average"])  # no per-class run in this table
    empty = group_summary(_with_complementary(), [], (NEAREST, WEIGHTED))
    assert empty["targets"] == [] and math.isnan(empty["weighted_over_nearest"]["average"])


@pytest.mark.parametrize(
    ("method", "counterpart"),
    [
        ({"aggregator": "weighted"}, {"aggregator": "nearest"}),
        (
            {"aggregator": "weighted", "unlabeled_loss": "fixmatch"},
            {"aggregator": "nearest", "unlabeled_loss": "fixmatch"},
        ),
        (
            {"aggregator": "weighted", "unlabeled_loss": "fixmatch-teachers", "feature_space": "class", "lam": 3.0},
            {"aggregator": "nearest", "unlabeled_loss": "fixmatch-teachers", "feature_space": "class", "lam": 3.0},
        ),
        ({"aggregator": "weighted", "source_weights": "class"}, None),
        ({"aggregator": "weighted", "sources": ["a", "b"]}, None),
        ({"method": "fixmatch"}, None),
        ({"aggregator": "uniform", "unlabeled_loss": "fixmatch"}, None),
    ],
)
def test_nearest_counterpart_swaps_only_the_aggregator(method, counterpart):
    assert nearest_counterpart(run_name(method)) == (run_name(counterpart) if counterpart else None)
    assert nearest_counterpart(BEST_SINGLE) is None


def test_group_summary_compares_the_default_with_its_own_nearest():
    rows = [
        {"target": "mix", "shot": 5, "seed": 0, "method": m, "accuracy": a}
        for m, a in [(WF, 0.8), (NF, 0.75), (WEIGHTED, 0.6), (NEAREST, 0.6)]
    ]
    table = accuracy_table(rows, 5, (WEIGHTED, NEAREST, WF, NF))
    g = group_summary(table, ["mix"], (WEIGHTED, NEAREST), default=WF)
    assert g["default_over_nearest"]["average"] == pytest.approx(5.0)
    assert g["weighted_over_nearest"]["average"] == pytest.approx(0.0)
    assert math.isnan(group_summary(table, ["mix"], (WEIGHTED,))["default_over_nearest"]["average"])
    assert math.isnan(group_summary(table, ["mix"], (WEIGHTED,), default=FIXMATCH)["default_over_nearest"]["average"])


def test_markdown_table_marks_cells_with_fewer_draws():
    table = {"a": {FINETUNE: (0.5, 0.1, 3), BEST_SINGLE: (0.75, 0.0, 1), WEIGHTED: (0.6, 0.05, 2)}}
    text = markdown_table(table, [FINETUNE, WEIGHTED, BEST_SINGLE], {})
    assert "| a | 50.0 ± 10.0 | **60.0 ± 5.0 (n=2)** | 75.0 (n=1) |" in text
    assert "(n=3)" not in text


def test_markdown_table_adds_one_average_row_per_group():
    table = _with_complementary()
    text = markdown_table(table, [NEAREST, WEIGHTED], {}, {"complementary": ["mix"], "none": ["absent"]})
    assert "| **average** | 72.5 | 72.5 |" in text
    assert text.endswith("| **average, complementary** | 55.0 | 65.0 |")
    assert "none" not in text


def test_summary_keys_come_from_the_library():
    keys = summary_keys(["cyrillic", "digits-and-greek", "lowercase", "shapes-and-latin"])
    assert keys["complementary"] == ["digits-and-greek", "shapes-and-latin"]
    spec, options = RunSpec(), DistillOptions()
    default = run_from_name(keys["default_method"])
    assert (
        default
        == {
            "aggregator": spec.aggregator,
            "unlabeled_loss": options.unlabeled_loss,
            "teacher_probe": options.teacher_probe,
            "feature_space": options.feature_space,
        }
        == {
            "aggregator": "weighted",
            "unlabeled_loss": "fixmatch-teachers",
            "teacher_probe": "joint",
            "feature_space": "class",
        }
    )  # run's default since the seed-1 choices (docs/results.md)
    assert keys["default_method"] in HEADLINE  # the table has the default's column
    assert keys["default_metric"] == DEFAULT_PRIMARY_METRIC == RunSpec(aggregator="nearest").metric
    assert keys["default_weighting_metric"] == DEFAULT_WEIGHTING_METRIC == spec.metric
