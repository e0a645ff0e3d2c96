"""The training commands through typer's runner: run, baseline, eval, predict, and their errors."""

import json

import pytest
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.plugin.manager import get_registry
from zoo_distill.plugin.types import Aggregator

pytestmark = pytest.mark.slow  # end to end: trains students / builds zoos / runs processes

runner = CliRunner()
BUDGET = ["--student", "resnet10t", "--student-init", "scratch", "--input-size", "32", "--epochs", "1",
          "--steps-per-epoch", "2", "--batch-size", "8", "--mu", "1"]
FAST = BUDGET + ["--views", "2"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_eval_predict(digits_task, tmp_path):
    out = tmp_path / "run"
    res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, "--aggregator", "nearest",
                 *FAST, "--out", out, "--json")
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.stdout)
    assert metrics["aggregator"] == "nearest" and list(metrics["alpha"].values()) == [1.0]
    ev = json.loads(invoke("eval", out, "--data", digits_task.target, "--json").stdout)
    assert ev["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    image = next((digits_task.target / "test" / "1").glob("*.png"))
    pred = json.loads(invoke("predict", out, image, "--json").stdout)
    assert pred[0]["image"] == str(image) and pred[0]["top"][0][0] in {"0", "1", "2", "3"}
    table = invoke("eval", out, "--data", digits_task.target)
    assert table.exit_code == 0 and "accuracy" in table.stdout


def test_run_summary_and_baselines(digits_task, tmp_path):
    res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--out", tmp_path / "w")
    assert res.exit_code == 0, res.output
    assert "source weights α (weighted, from knn)" in res.stdout and "test accuracy" in res.stdout
    for method in ("finetune", "fixmatch"):
        res = invoke("baseline", method, "-t", digits_task.target, *BUDGET,
                     "--out", tmp_path / method, "--json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["method"] == method


@pytest.mark.parametrize("args, message", [
    (["--student", "no_such_net_xyz"], "unknown student architecture 'no_such_net_xyz'"),
    (["--aggregator", "nope"], "unknown aggregator 'nope'; known: nearest, uniform, weighted"),
    (["--metric", "nope"], "unknown metric 'nope'; known:"),
    (["--temperature", "0.5", "--aggregator", "nearest"], "aggregator 'nearest' has no option(s) ['temperature']"),
    (["--feature-loss", "l1"], "--feature-loss must be cosine or mse"),
    (["--source-weights", "sample"], "--source-weights must be task, class or class-mean"),
])
def test_bad_options_exit_2(digits_task, tmp_path, args, message):
    base = ["run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--out", tmp_path / "x"]
    res = invoke(*base, *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_all_zero_weights_is_an_error(digits_task, tmp_path, monkeypatch):
    zero = Aggregator("zero", lambda scores: {name: 0.0 for name in scores})
    monkeypatch.setitem(get_registry().aggregators, "zero", zero)
    res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--aggregator", "zero",
                 "--out", tmp_path / "z")
    assert res.exit_code == 2 and "every source weight is zero" in res.output
    # whole-task kNN scores lie in [0, 1]; per-class LEEP scores are negative: zero weights on those only
    zero_per_class = Aggregator("zero-per-class", lambda scores: {name: 0.0 if min(scores.values()) < 0 else 0.5
                                                                  for name in scores})
    monkeypatch.setitem(get_registry().aggregators, "zero-per-class", zero_per_class)
    res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "-m", "knn", "--aggregator",
                 "zero-per-class", "--source-weights", "class", "--out", tmp_path / "zc")
    assert res.exit_code == 2 and "every source weight is zero" in res.output and "Traceback" not in res.output


def test_class_mean_weights_are_the_per_class_weights_mean_and_one_per_source(digits_task, tmp_path):
    runs = {}
    for mode in ("class", "class-mean"):
        res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--source-weights", mode,
                     "--out", tmp_path / mode, "--json")
        assert res.exit_code == 0, res.output
        runs[mode] = json.loads(res.stdout)
    assert "class_alpha" in runs["class"] and "class_alpha" not in runs["class-mean"]
    assert runs["class-mean"]["alpha"] == pytest.approx(runs["class"]["alpha"])  # class mode reports that mean too
    assert sum(runs["class-mean"]["alpha"].values()) == pytest.approx(1.0)


def test_missing_run_dir_is_a_clear_error(tmp_path):
    res = invoke("eval", tmp_path / "absent", "--data", tmp_path)
    assert res.exit_code == 2 and "absent" in res.output and "Traceback" not in res.output


def test_bf16_autocast_runs_on_cpu_and_bad_precision_is_refused(digits_task, tmp_path):
    res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--precision", "bf16",
                 "--out", tmp_path / "bf16", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["history"][0]["loss"] > 0
    res = invoke("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--precision", "fp8",
                 "--out", tmp_path / "fp8")
    assert res.exit_code == 2 and "--precision must be fp32 or bf16" in res.output
