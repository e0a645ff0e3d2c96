import math

import pytest

from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.zoobench.tables import (
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
    table_method,
)


def _rows():
    rows = []
    for seed, (ft, w) in enumerate([(0.5, 0.7), (0.6, 0.8)]):
        rows += [
            {"target": "a", "shot": 5, "seed": seed, "method": "finetune", "accuracy": ft},
            {"target": "a", "shot": 5, "seed": seed, "method": "weighted", "accuracy": w},
            {"target": "b", "shot": 5, "seed": seed, "method": "finetune", "accuracy": 0.9},
            {"target": "b", "shot": 5, "seed": seed, "method": "weighted", "accuracy": 0.8},
            {"target": "a", "shot": 20, "seed": seed, "method": "finetune", "accuracy": 1.0},
        ]
    return rows


def test_mean_std_uses_the_sample_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([4.0]) == (4.0, 0.0)


def test_table_average_and_margins():
    table = accuracy_table(_rows(), 5, ("finetune", "weighted"))
    assert table["a"]["finetune"][:2] == (pytest.approx(0.55), pytest.approx(0.0707, abs=1e-4))
    assert table["a"]["weighted"][2] == 2
    assert average_row(table, ["finetune", "weighted"]) == {
        "finetune": pytest.approx(0.725),
        "weighted": pytest.approx(0.775),
    }
    m = margins(table, "weighted", "finetune")
    assert m["a"] == pytest.approx(20.0) and m["b"] == pytest.approx(-10.0) and m["average"] == pytest.approx(5.0)
    text = markdown_table(table, ["finetune", "weighted"], {"weighted": "DistillWeighted"})
    assert "**75.0 ± 7.1**" in text and "| **average** | 72.5 | 77.5 |" in text


def test_metric_quality_tau_and_accuracy_lost():
    rows = [
        {"target": "a", "shot": 5, "seed": 0, "method": f"single:{s}", "accuracy": acc}
        for s, acc in {"x": 0.9, "y": 0.6, "z": 0.3}.items()
    ]
    single = single_source_accuracy(rows)
    scores = {
        ("a", 5, 0): {
            "good": {"x": 3.0, "y": 2.0, "z": 1.0},
            "bad": {"x": 1.0, "y": 2.0, "z": 3.0},
            "half": {"x": 2.0, "y": 3.0, "z": 1.0},
        }
    }
    q = metric_quality(scores, single)
    assert q["good"]["tau"] == pytest.approx(1.0) and q["good"]["lost"] == pytest.approx(0.0)
    assert q["bad"]["tau"] == pytest.approx(-1.0) and q["bad"]["lost"] == pytest.approx(60.0)
    assert q["half"]["tau"] == pytest.approx(1 / 3) and q["half"]["lost"] == pytest.approx(30.0)
    assert q["good"]["tau_by_target"] == {"a": pytest.approx(1.0)}


def test_oracle_row_is_the_best_single_source_per_split():
    rows = [
        {"target": "a", "shot": 5, "seed": 0, "method": f"single:{s}", "accuracy": acc}
        for s, acc in {"x": 0.4, "y": 0.7}.items()
    ]
    rows.append({"target": "a", "shot": 5, "seed": 0, "method": "finetune", "accuracy": 0.9})
    assert oracle_rows(rows) == [
        {"target": "a", "shot": 5, "seed": 0, "method": "best-single", "accuracy": 0.7, "source": "y"}
    ]


def test_source_choices_average_alpha_and_list_picks():
    rows = [
        {"target": "a", "shot": 5, "seed": 0, "method": "weighted", "alpha": {"x": 0.8, "y": 0.2}},
        {"target": "a", "shot": 5, "seed": 1, "method": "weighted", "alpha": {"x": 0.4, "y": 0.6}},
        {"target": "a", "shot": 5, "seed": 0, "method": "nearest", "source": "x", "accuracy": 0.5},
        {"target": "a", "shot": 5, "seed": 0, "method": "best-single", "source": "y", "accuracy": 0.6},
    ]
    c = source_choices(rows, 5)["a"]
    assert c["weighted_alpha"] == {"x": pytest.approx(0.6), "y": pytest.approx(0.4)}
    assert c["nearest_picks"] == ["x"] and c["oracle_picks"] == ["y"]


def _with_complementary():
    rows = []
    for seed, (n, w) in enumerate([(0.5, 0.7), (0.6, 0.6)]):
        rows += [
            {"target": "mix", "shot": 5, "seed": seed, "method": "nearest", "accuracy": n},
            {"target": "mix", "shot": 5, "seed": seed, "method": "weighted", "accuracy": w},
            {"target": "near", "shot": 5, "seed": seed, "method": "nearest", "accuracy": 0.9},
            {"target": "near", "shot": 5, "seed": seed, "method": "weighted", "accuracy": 0.8},
        ]
    return accuracy_table(rows, 5, ("nearest", "weighted"))


def test_group_summary_averages_only_its_targets():
    g = group_summary(_with_complementary(), ["mix", "absent"], ("nearest", "weighted"))
    assert g["targets"] == ["mix"]
    assert g["average"] == {"nearest": pytest.approx(0.55), "weighted": pytest.approx(0.65)}
    assert g["weighted_over_nearest"] == {"mix": pytest.approx(10.0), "average": pytest.approx(10.0)}
    assert math.isnan(g["weighted_class_over_nearest"]["average"])  # no per-class run in this table
    empty = group_summary(_with_complementary(), [], ("nearest", "weighted"))
    assert empty["targets"] == [] and math.isnan(empty["weighted_over_nearest"]["average"])


@pytest.mark.parametrize(
    ("method", "counterpart"),
    [
        ("weighted", "nearest"),
        ("weighted+fixmatch", "nearest+fixmatch"),
        ("weighted+fixmatch-teachers-joint-subspace", "nearest+fixmatch-teachers-joint-subspace"),
        ("weighted-subspace", "nearest-subspace"),
        ("weighted-class", None),
        ("weighted-class+fixmatch", None),
        ("fixmatch", None),
        ("uniform+fixmatch", None),
    ],
)
def test_nearest_counterpart_swaps_only_the_aggregator(method, counterpart):
    assert nearest_counterpart(method) == counterpart


def test_group_summary_compares_the_default_with_its_own_nearest():
    rows = [
        {"target": "mix", "shot": 5, "seed": 0, "method": m, "accuracy": a}
        for m, a in [("weighted+fixmatch", 0.8), ("nearest+fixmatch", 0.75), ("weighted", 0.6), ("nearest", 0.6)]
    ]
    table = accuracy_table(rows, 5, ("weighted", "nearest", "weighted+fixmatch", "nearest+fixmatch"))
    g = group_summary(table, ["mix"], ("weighted", "nearest"), default="weighted+fixmatch")
    assert g["default_over_nearest"]["average"] == pytest.approx(5.0)
    assert g["weighted_over_nearest"]["average"] == pytest.approx(0.0)
    assert math.isnan(group_summary(table, ["mix"], ("weighted",))["default_over_nearest"]["average"])
    assert math.isnan(
        group_summary(table, ["mix"], ("weighted",), default="fixmatch")["default_over_nearest"]["average"]
    )


def test_markdown_table_marks_cells_with_fewer_draws():
    table = {"a": {"finetune": (0.5, 0.1, 3), "best-single": (0.75, 0.0, 1), "weighted": (0.6, 0.05, 2)}}
    text = markdown_table(table, ["finetune", "weighted", "best-single"], {})
    assert "| a | 50.0 ± 10.0 | **60.0 ± 5.0 (n=2)** | 75.0 (n=1) |" in text
    assert "(n=3)" not in text


def test_markdown_table_adds_one_average_row_per_group():
    table = _with_complementary()
    text = markdown_table(table, ["nearest", "weighted"], {}, {"complementary": ["mix"], "none": ["absent"]})
    assert "| **average** | 72.5 | 72.5 |" in text
    assert text.endswith("| **average, complementary** | 55.0 | 65.0 |")
    assert "none" not in text


def test_summary_keys_come_from_the_library():
    keys = summary_keys(["cyrillic", "digits-and-greek", "lowercase", "shapes-and-latin"])
    assert keys["complementary"] == ["digits-and-greek", "shapes-and-latin"]
    spec, options = RunSpec(), DistillOptions()
    assert (
        keys["default_method"]
        == table_method(
            spec.method,
            spec.aggregator,
            options.unlabeled_loss,
            teacher_probe=options.teacher_probe,
            feature_space=options.feature_space,
        )
        == "weighted+fixmatch-teachers-joint-subspace"
    )  # run's default since the seed-1 choices (docs/results.md)
    assert keys["default_metric"] == DEFAULT_PRIMARY_METRIC == RunSpec(aggregator="nearest").metric
    assert keys["default_weighting_metric"] == DEFAULT_WEIGHTING_METRIC == spec.metric
    assert table_method("finetune", "weighted") == "finetune" and table_method("distill", "nearest") == "nearest"
    assert table_method("distill", "weighted", "fixmatch", "class") == "weighted-class+fixmatch"
    assert table_method("distill", "weighted", "none", "class") == "weighted-class"
    assert (
        table_method("distill", "weighted", "fixmatch-teachers", "task", "joint") == "weighted+fixmatch-teachers-joint"
    )
    assert table_method("distill", "weighted", "fixmatch", "task", "joint") == "weighted+fixmatch"  # no probe to name
    assert (
        table_method("distill", "weighted", "fixmatch-teachers", "task", "joint", "class")
        == "weighted+fixmatch-teachers-joint-subspace"
    )
    assert table_method("distill", "nearest", feature_space="class") == "nearest-subspace"
    with pytest.raises(TypeError):  # the agreement gate is retired: no name renders it
        table_method("distill", "weighted", "fixmatch-teachers", "task", "joint", "class", "agreement")
