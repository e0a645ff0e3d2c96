"""End-to-end CLI tests through typer's runner: exit codes, tables, JSON, errors without tracebacks."""

import json

import pytest
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC

from ..conftest import write_zoo

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_rank_end_to_end_json_and_cache_reuse(tiny_zoo, target_dir):
    first = invoke("rank", "--target", target_dir, "--zoo", tiny_zoo, "--json", "--batch-size", 5)
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert result["primary_metric"] == DEFAULT_PRIMARY_METRIC == "nce" and result["labeled_images"] == 18
    assert {s["name"] for s in result["sources"]} == {"teacher-a", "teacher-b"}
    a = next(s for s in result["sources"] if s["name"] == "teacher-a")
    assert a["status"] == "ok" and all(a["scores"][m] is not None for m in result["metrics"])
    b = next(s for s in result["sources"] if s["name"] == "teacher-b")
    assert b["scores"]["leep"] is None and "no classifier head" in b["metric_errors"]["leep"]
    assert [s["name"] for s in result["sources"]] == ["teacher-a", "teacher-b"]  # no NCE score: last
    assert set(result["weights"]) >= {"nearest", "weighted", "uniform"}
    assert sum(result["weights"]["weighted"].values()) == pytest.approx(1.0)
    # the α run would use: weighted and uniform are fed knn (features only), nearest nce (a head)
    assert result["weights_from"] == {"weighted": DEFAULT_WEIGHTING_METRIC, "uniform": DEFAULT_WEIGHTING_METRIC}
    assert set(result["weights"]["weighted"]) == {"teacher-a", "teacher-b"}
    assert result["weights"]["nearest"] == {"teacher-a": 1.0}
    assert not any(s["cached"] for s in result["sources"])
    second = json.loads(invoke("rank", "--target", target_dir, "--zoo", tiny_zoo, "--json").stdout)
    assert all(s["cached"] for s in second["sources"])
    assert [s["scores"] for s in second["sources"]] == [s["scores"] for s in result["sources"]]


def test_rank_table_and_metric_choice(tiny_zoo, target_dir):
    res = invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, "-m", "knn", "-m", "logme")
    assert res.exit_code == 0, res.output
    assert "Sources ranked by knn" in res.stdout and "teacher-a" in res.stdout and "α weighted" in res.stdout


def test_unavailable_sources_are_reported_not_fatal(tiny_zoo, target_dir, tmp_path):
    text = tiny_zoo.read_text() + "- name: gone\n  provider: hf-hub\n  repo: org/absent\n"
    zoo = tmp_path / "zoo2.yaml"
    zoo.write_text(text)
    res = invoke("rank", "-t", target_dir, "--zoo", zoo, "--json")
    assert res.exit_code == 0, res.output
    gone = next(s for s in json.loads(res.stdout)["sources"] if s["name"] == "gone")
    assert gone["status"] == "unavailable" and "HF_HUB_OFFLINE" in gone["error"]


def test_no_source_left_is_an_error(target_dir, tmp_path):
    zoo = write_zoo(tmp_path / "z.yaml", [{"name": "gone", "provider": "hf-hub", "repo": "org/absent"}])
    res = invoke("rank", "-t", target_dir, "--zoo", zoo)
    assert res.exit_code == 2 and "no source could be loaded" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metric", "nope"], "unknown metric 'nope'; known:"),
        (["--source", "nope"], "unknown source(s) 'nope'"),
        (["--device", "cuda:7"], "--device cuda:7"),
    ],
)
def test_bad_options_exit_2(tiny_zoo, target_dir, args, message):
    res = invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, *args)
    if "cuda" in message:
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA present")
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_run_says_why_no_source_could_be_scored(tiny_zoo, target_dir, tmp_path):
    res = invoke(
        "run",
        "-t",
        target_dir,
        "--zoo",
        tiny_zoo,
        "-a",
        "nearest",
        "-s",
        "teacher-b",
        "--out",
        tmp_path / "out",
        "--epochs",
        1,
        "--student",
        "resnet10t",
        "--student-init",
        "scratch",
        "--input-size",
        32,
    )
    assert res.exit_code == 2 and "no source has a finite nce score" in res.output, res.output
    assert "no classifier head" in res.output and f"-m {DEFAULT_WEIGHTING_METRIC}" in res.output
    assert "Traceback" not in res.output


def test_bad_target_and_zoo_exit_2(tiny_zoo, target_dir, tmp_path):
    res = invoke("rank", "-t", tmp_path / "nowhere", "--zoo", tiny_zoo)
    assert res.exit_code == 2 and "does not exist" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: x\n    provider: local\n")
    res = invoke("rank", "-t", target_dir, "--zoo", bad)
    assert res.exit_code == 2 and "field 'weights' is required" in res.output


def test_corrupt_image_flag(tiny_zoo, target_dir):
    (target_dir / "train" / "class_0" / "bad.jpg").write_bytes(b"nope")
    res = invoke("rank", "-t", target_dir, "--zoo", tiny_zoo)
    assert res.exit_code == 2 and "bad.jpg" in res.output and "--skip-bad-images" in res.output
    res = invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, "--skip-bad-images", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["skipped_images"][0].endswith("bad.jpg")


def listed_options(*command: str) -> list[str]:
    """The options ``--help`` shows (``--help`` itself left out), and the panels they are in."""
    res = invoke(*command, "--help")
    assert res.exit_code == 0, res.output
    return [
        line.split()[1]
        for line in res.stdout.splitlines()
        if line.startswith("│ --") and not line.startswith("│ --help")
    ]


def test_run_help_shows_at_most_25_options_in_panels_and_points_to_method_opt():
    options = listed_options("run")
    assert len(options) <= 25, options
    text = invoke("run", "--help").stdout
    for panel in ("Data", "Method", "Student and budget", "Device", "Output"):
        assert f"─ {panel} " in text, panel
    assert "--method-opt" in options and "--agg-opt" in options and "docs/distillation.md" in text
    for retired in (
        "--feature-gate",
        "--teacher-probe",
        "--source-weights",
        "--lambda-schedule",
        "--lambda-scale",
        "--head",
        "--online-teachers",
        "--feature-loss",
        "--lambda",
        "--views",
        "--temperature",
    ):
        assert retired not in options
    for command in (("baseline", "finetune"), ("baseline", "fixmatch")):
        assert "--method-opt" in listed_options(*command) and len(listed_options(*command)) <= 25


def test_plugins_lists_builtins_as_json_and_table():
    res = invoke("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["zoo_distill.builtin.metrics"]["hooks"] == ["register_metrics"]
    assert "logme" in rows["zoo_distill.builtin.metrics"]["registers"]["register_metrics"]
    assert rows["zoo_distill.builtin.methods"]["registers"]["register_methods"] == [
        "distill",
        "finetune",
        "fixmatch",
        "freematch",
        "softmatch",
    ]
    assert all(r["version"] for r in rows.values())
    table = invoke("plugins")
    assert table.exit_code == 0 and "zoo_distill.builtin.aggregators" in table.stdout


def test_cache_ls_and_clear(tiny_zoo, target_dir):
    invoke("rank", "-t", target_dir, "--zoo", tiny_zoo)
    listed = json.loads(invoke("cache", "ls", "--json").stdout)
    assert sorted(e["teacher"] for e in listed) == ["teacher-a", "teacher-b"]
    res = invoke("cache", "clear", "--yes")
    assert res.exit_code == 0 and "removed 2 file(s)" in res.stdout
    assert json.loads(invoke("cache", "ls", "--json").stdout) == []


def test_zoo_ls_and_metrics(tiny_zoo):
    rows = json.loads(invoke("zoo", "ls", "--zoo", tiny_zoo, "--json").stdout)
    assert [r["name"] for r in rows] == ["teacher-a", "teacher-b"] and all(r["available"] for r in rows)
    res = invoke("metrics")
    assert res.exit_code == 0 and "LogME" in res.stdout or "You et al" in res.stdout


def test_help_explains():
    res = invoke("rank", "--help")
    assert res.exit_code == 0 and "--target" in res.stdout and "primary" in res.stdout
    assert "ZOO_DISTILL_ZOO" in res.stdout  # a "[default: ...]" in help text is not eaten as rich markup


def test_cached_rank_does_not_build_teachers(tiny_zoo, target_dir, monkeypatch):
    assert invoke("rank", "-t", target_dir, "--zoo", tiny_zoo).exit_code == 0
    import dataclasses

    from zoo_distill.plugin.manager import get_registry

    def refuse(entry):
        raise AssertionError("teacher built despite a cache hit")

    providers = get_registry().providers
    for name, provider in list(providers.items()):
        monkeypatch.setitem(providers, name, dataclasses.replace(provider, load=refuse))
    res = invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, "--json")
    assert res.exit_code == 0, res.output
    assert all(s["cached"] and s["status"] == "ok" for s in json.loads(res.stdout)["sources"])


def test_second_rank_reuses_scores_but_not_for_other_labels(tiny_zoo, target_dir, monkeypatch):
    import zoo_distill.ranking.rank as ranking

    first = json.loads(invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, "--json", "-m", "knn").stdout)
    calls = []
    original = ranking.score_source

    def spy(metrics, *args, **kwargs):
        calls.append(kwargs.get("known") or (args[4] if len(args) > 4 else {}))
        return original(metrics, *args, **kwargs)

    monkeypatch.setattr(ranking, "score_source", spy)
    second = json.loads(invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, "--json", "-m", "knn").stdout)
    assert all("knn" in known for known in calls)  # served from the score cache
    assert [s["scores"] for s in second["sources"]] == [s["scores"] for s in first["sources"]]
    # relabel two images: same files, different labels -> the scores must be recomputed
    a, b = target_dir / "train" / "class_0", target_dir / "train" / "class_1"
    (a / "000.png").rename(b / "moved.png")
    calls.clear()
    invoke("rank", "-t", target_dir, "--zoo", tiny_zoo, "--json", "-m", "knn")
    assert calls and not any("knn" in known for known in calls)
