"""benchmarks/paper_table.py's report on a tiny fake result list (nothing trains)."""

import json
from types import SimpleNamespace

import pytest

from benchmarks.harness.naming import FINETUNE, FIXMATCH, NEAREST, WEIGHTED, label, run_name, single
from benchmarks.harness.tables import nearest_counterpart, summary_keys
from zoo_distill.zoobench import ZoobenchSettings

WF = run_name({"aggregator": "weighted", "unlabeled_loss": "fixmatch"})
UF = run_name({"aggregator": "uniform", "unlabeled_loss": "fixmatch"})


@pytest.fixture(scope="module")
def paper_table():
    from benchmarks import paper_table

    return paper_table


def _rows():
    rows = []
    for target, accs in {
        "cyrillic": {FINETUNE: 0.5, FIXMATCH: 0.55, NEAREST: 0.6, WEIGHTED: 0.62, WF: 0.65},
        "digits-and-greek": {
            FINETUNE: 0.4,
            FIXMATCH: 0.45,
            NEAREST: 0.5,
            WEIGHTED: 0.7,
            WF: 0.7,
        },
        "shapes-and-latin": {
            FINETUNE: 0.4,
            FIXMATCH: 0.45,
            NEAREST: 0.6,
            WEIGHTED: 0.6,
            WF: 0.6,
        },
    }.items():
        accs[summary_keys([])["default_method"]] = accs[WF]  # run's default, as the library names it
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
    assert group["average"][WEIGHTED] == pytest.approx(0.655)
    table = (tmp_path / "table.md").read_text()
    assert "| **average, complementary** | 40.5 | 45.5 | 55.5 | 65.5 |" in table
    assert "DistillWeighted − DistillNearest: +10.0 points" in table


def test_default_method_is_compared_with_its_own_nearest_on_the_complementary_targets(paper_table, tmp_path):
    default = summary_keys([])["default_method"]
    counterpart = nearest_counterpart(default)
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
    assert f"({label(counterpart)}), on the complementary targets: +2.5 points" in table
    assert f"| {label(default)} | {label(counterpart)} |" in table  # its column sits next to the default's


def test_a_table_of_complementary_targets_only_states_no_figure_it_lacks(paper_table, tmp_path):
    default = summary_keys([])["default_method"]
    counterpart = nearest_counterpart(default)
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
    assert f"({label(counterpart)}), on the complementary targets: +10.0 points" in table


def test_a_method_asked_for_by_name_gets_its_column(paper_table, tmp_path):
    rows = _rows() + [
        {"target": "cyrillic", "shot": 5, "seed": seed, "method": UF, "accuracy": 0.3, "seconds": 1.0}
        for seed in range(2)
    ]
    args = SimpleNamespace(
        out=tmp_path,
        methods="headline",
        shots=[5],
        seeds=2,
        epochs=1,
        method=[UF, run_name(single("digits-net")), "singles"],
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
    assert f"| {label(UF)} |" in table and "| 30.0 ± 0.0 |" in table
    assert "digits-net" not in table and "singles" not in table


def test_default_method_is_compared_on_the_original_targets_only(paper_table, tmp_path, monkeypatch):
    monkeypatch.setattr(paper_table, "summary_keys", lambda targets: {**summary_keys(targets), "default_method": WF})
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
        {"target": "t", "shot": 5, "seed": 0, "method": run_name(single(s)), "accuracy": a}
        for s, a in (("a", 0.5), ("b", 0.6))
    ]
    rows.append(
        {"target": "t", "shot": 5, "seed": 1, "method": run_name(single("a")), "accuracy": 0.7}
    )  # DistillNearest's only
    assert [(r["seed"], r["method"]) for r in paper_table.complete_singles(rows, 2)] == [
        (0, run_name(single("a"))),
        (0, run_name(single("b"))),
    ]


def test_methods_are_compared_on_the_draws_the_default_ran_on(paper_table, tmp_path):
    rows = _rows() + [
        {"target": "cyrillic", "shot": 5, "seed": 2, "method": FINETUNE, "accuracy": 0.9, "seconds": 1.0}
    ]  # a kept draw the default has not run on yet
    args = SimpleNamespace(out=tmp_path, methods="headline", shots=[5], seeds=3, epochs=1)
    build = {"teacher_accuracy": {}, "generic_accuracy": {}}
    assert paper_table.report(args, ZoobenchSettings.full(), build, rows, {}, ["digits-net"], 1.0) == 0
    shot = json.loads((tmp_path / "summary.json").read_text())["shots"]["5"]
    assert shot["seeds"] == [0, 1] and shot["table"]["cyrillic"][FINETUNE][2] == 2


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
