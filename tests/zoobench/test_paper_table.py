"""benchmarks/paper_table.py's report on a tiny fake result list (nothing trains)."""

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from zoo_distill.zoobench import ZoobenchSettings
from zoo_distill.zoobench.experiment import LABELS
from zoo_distill.zoobench.tables import summary_keys

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "paper_table.py"


@pytest.fixture(scope="module")
def paper_table():
    spec = importlib.util.spec_from_file_location("paper_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows():
    rows = []
    for target, accs in {
        "cyrillic": {"finetune": 0.5, "fixmatch": 0.55, "nearest": 0.6, "weighted": 0.62, "weighted+fixmatch": 0.65},
        "digits-and-greek": {
            "finetune": 0.4,
            "fixmatch": 0.45,
            "nearest": 0.5,
            "weighted": 0.7,
            "weighted+fixmatch": 0.7,
        },
        "shapes-and-latin": {
            "finetune": 0.4,
            "fixmatch": 0.45,
            "nearest": 0.6,
            "weighted": 0.6,
            "weighted+fixmatch": 0.6,
        },
    }.items():
        accs[summary_keys([])["default_method"]] = accs["weighted+fixmatch"]  # run's default, as the library names it
        for seed in range(2):
            rows += [
                {"target": target, "shot": 5, "seed": seed, "method": m, "accuracy": a + 0.01 * seed, "seconds": 1.0}
                for m, a in accs.items()
            ]
    return rows


def test_summary_names_defaults_and_reports_complementary_targets_apart(paper_table, tmp_path):
    args = SimpleNamespace(out=tmp_path, methods="headline", shots=[5], seeds=2, epochs=1)
    build = {"teacher_accuracy": {"digits-net": 1.0}, "generic_accuracy": {"test_resnet": 0.8}}
    assert (
        paper_table.report(args, ZoobenchSettings.full(), build, _rows(), {}, ["digits-net"], 1.0, zoo_weights="abc123")
        == 0
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["zoo_weights"] == "abc123"  # the build every kept run was trained on
    assert {
        k: summary[k] for k in ("default_method", "default_metric", "default_weighting_metric", "complementary")
    } == summary_keys(["cyrillic", "digits-and-greek", "shapes-and-latin"])
    assert summary["complementary"] == ["digits-and-greek", "shapes-and-latin"]
    group = summary["shots"]["5"]["complementary"]
    assert group["targets"] == ["digits-and-greek", "shapes-and-latin"]
    assert group["weighted_over_nearest"]["average"] == pytest.approx(10.0)
    assert group["average"]["weighted"] == pytest.approx(0.655)
    table = (tmp_path / "table.md").read_text()
    assert "| **average, complementary** | 40.5 | 45.5 | 55.5 | 65.5 |" in table
    assert "DistillWeighted − DistillNearest: +10.0 points" in table


def test_default_method_is_compared_with_its_own_nearest_on_the_complementary_targets(paper_table, tmp_path):
    default = summary_keys([])["default_method"]
    counterpart = "nearest" + default.removeprefix("weighted")
    rows = _rows() + [
        {"target": t, "shot": 5, "seed": seed, "method": counterpart, "accuracy": a, "seconds": 1.0}
        for t, a in (("digits-and-greek", 0.66), ("shapes-and-latin", 0.6))
        for seed in range(2)
    ]
    args = SimpleNamespace(out=tmp_path, methods="all", shots=[5], seeds=2, epochs=1)
    build = {"teacher_accuracy": {}, "generic_accuracy": {}}
    assert paper_table.report(args, ZoobenchSettings.full(), build, rows, {}, ["digits-net"], 1.0) == 0
    group = json.loads((tmp_path / "summary.json").read_text())["shots"]["5"]["complementary"]
    # the default is 0.70 / 0.60 (+0.01 on draw 1) on the two targets; its counterpart 0.66 / 0.60 (+0.00)
    assert group["default_over_nearest"]["digits-and-greek"] == pytest.approx(4.5)
    assert group["default_over_nearest"]["average"] == pytest.approx(2.5)
    table = (tmp_path / "table.md").read_text()
    assert f"({counterpart}), on the complementary targets: +2.5 points" in table
    assert f"| {LABELS[default]} | {LABELS[counterpart]} |" in table  # its column sits next to the default's


def test_a_table_of_complementary_targets_only_states_no_figure_it_lacks(paper_table, tmp_path):
    default = summary_keys([])["default_method"]
    counterpart = "nearest" + default.removeprefix("weighted")
    rows = [
        {"target": t, "shot": 5, "seed": 0, "method": m, "accuracy": a, "seconds": 1.0}
        for t in ("digits-and-greek", "shapes-and-latin")
        for m, a in ((default, 0.7), (counterpart, 0.6))
    ]
    args = SimpleNamespace(out=tmp_path, methods="all", shots=[5], seeds=1, epochs=1, method=[default, counterpart])
    assert (
        paper_table.report(
            args,
            ZoobenchSettings.full(),
            {"teacher_accuracy": {}, "generic_accuracy": {}},
            rows,
            {},
            ["digits-net"],
            1.0,
        )
        == 0
    )
    table = (tmp_path / "table.md").read_text()
    assert "nan" not in table and "original targets" not in table and "DistillWeighted − DistillNearest" not in table
    assert f"({counterpart}), on the complementary targets: +10.0 points" in table


def test_a_method_asked_for_by_name_gets_its_column(paper_table, tmp_path):
    rows = _rows() + [
        {"target": "cyrillic", "shot": 5, "seed": seed, "method": "uniform+fixmatch", "accuracy": 0.3, "seconds": 1.0}
        for seed in range(2)
    ]
    args = SimpleNamespace(
        out=tmp_path,
        methods="headline",
        shots=[5],
        seeds=2,
        epochs=1,
        method=["uniform+fixmatch", "single:digits-net", "singles"],
    )
    assert (
        paper_table.report(
            args,
            ZoobenchSettings.full(),
            {"teacher_accuracy": {}, "generic_accuracy": {}},
            rows,
            {},
            ["digits-net"],
            1.0,
        )
        == 0
    )
    table = (tmp_path / "table.md").read_text()
    assert f"| {LABELS['uniform+fixmatch']} |" in table and "| 30.0 ± 0.0 |" in table
    assert "single:digits-net" not in table and "singles" not in table


def test_default_method_is_compared_on_the_original_targets_only(paper_table, tmp_path, monkeypatch):
    monkeypatch.setattr(
        paper_table, "summary_keys", lambda targets: {**summary_keys(targets), "default_method": "weighted+fixmatch"}
    )
    args = SimpleNamespace(out=tmp_path, methods="headline", shots=[5], seeds=2, epochs=1)
    build = {"teacher_accuracy": {}, "generic_accuracy": {}}
    assert paper_table.report(args, ZoobenchSettings.full(), build, _rows(), {}, ["digits-net"], 1.0) == 0
    shot = json.loads((tmp_path / "summary.json").read_text())["shots"]["5"]
    assert shot["default_over"]["fixmatch"] == pytest.approx({"cyrillic": 10.0, "average": 10.0})
    assert shot["default_over"]["finetune"]["average"] == pytest.approx(15.0)
    assert shot["default_wins_over_fixmatch"] == [1, 1]
    assert shot["weighted_over_fixmatch"] == pytest.approx({"cyrillic": 7.0, "average": 7.0})  # not the complementary
    assert "ahead or level on 1 of 1" in (tmp_path / "table.md").read_text()


def test_oracle_and_tau_use_only_splits_with_every_source(paper_table):
    rows = [
        {"target": "t", "shot": 5, "seed": 0, "method": f"single:{s}", "accuracy": a}
        for s, a in (("a", 0.5), ("b", 0.6))
    ]
    rows.append({"target": "t", "shot": 5, "seed": 1, "method": "single:a", "accuracy": 0.7})  # DistillNearest's only
    assert [(r["seed"], r["method"]) for r in paper_table.complete_singles(rows, 2)] == [
        (0, "single:a"),
        (0, "single:b"),
    ]


def test_methods_are_compared_on_the_draws_the_default_ran_on(paper_table, tmp_path):
    rows = _rows() + [
        {"target": "cyrillic", "shot": 5, "seed": 2, "method": "finetune", "accuracy": 0.9, "seconds": 1.0}
    ]  # a kept draw the default has not run on yet
    args = SimpleNamespace(out=tmp_path, methods="headline", shots=[5], seeds=3, epochs=1)
    build = {"teacher_accuracy": {}, "generic_accuracy": {}}
    assert paper_table.report(args, ZoobenchSettings.full(), build, rows, {}, ["digits-net"], 1.0) == 0
    shot = json.loads((tmp_path / "summary.json").read_text())["shots"]["5"]
    assert shot["seeds"] == [0, 1] and shot["table"]["cyrillic"]["finetune"][2] == 2


def test_runs_kept_on_another_build_are_reported_with_that_builds_scores(paper_table, tmp_path):
    scores = {"knn": {"digits-net": 0.9}}
    summary = {
        "zoo_weights": "abc123",
        "teacher_accuracy": {"digits-net": 1.0},
        "generic_accuracy": {},
        "scores": [{"target": "cyrillic", "shot": 5, "seed": 0, "scores": scores}],
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    facts = paper_table.kept_build_facts(tmp_path / "summary.json", "abc123")
    assert facts["scores"] == {("cyrillic", 5, 0): scores}
    assert facts["teacher_accuracy"] == {"digits-net": 1.0}
    with pytest.raises(SystemExit, match="written on build abc123, not def456"):
        paper_table.kept_build_facts(tmp_path / "summary.json", "def456")
    with pytest.raises(SystemExit, match="cannot read"):
        paper_table.kept_build_facts(tmp_path / "missing.json", "abc123")
