"""The training commands through typer's runner: run, baseline, eval, predict, and their errors."""

import contextlib
import json
from dataclasses import asdict

import pytest
import torch
from typer.testing import CliRunner

import zoo_distill.training.loop as trainer_module
from zoo_distill.cli.app import app
from zoo_distill.plugin.manager import get_registry
from zoo_distill.plugin.types import Aggregator
from zoo_distill.training.methods.options import FixMatchOptions

pytestmark = pytest.mark.slow  # end to end: trains students / builds zoos / runs processes

runner = CliRunner()
BUDGET = [
    "--student",
    "resnet10t",
    "--student-init",
    "scratch",
    "--input-size",
    "32",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--batch-size",
    "8",
    "--mu",
    "1",
]
FAST = BUDGET + ["--method-opt", "views=2"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_eval_predict(digits_task, tmp_path):
    out = tmp_path / "run"
    res = invoke(
        "run",
        "-t",
        digits_task.target,
        "--zoo",
        digits_task.zoo,
        "--aggregator",
        "nearest",
        *FAST,
        "--out",
        out,
        "--json",
    )
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
    recorded = {}
    for method in ("finetune", "fixmatch"):
        res = invoke("baseline", method, "-t", digits_task.target, *BUDGET, "--out", tmp_path / method, "--json")
        assert res.exit_code == 0, res.output
        metrics = json.loads(res.stdout)
        assert metrics["method"] == method and metrics["alpha"] == {}  # no teachers
        assert [row["epoch"] for row in metrics["history"]] == [1]  # --epochs 1
        assert (
            0 <= metrics["test_accuracy"] <= 1 and metrics["history"][-1]["test_accuracy"] == metrics["test_accuracy"]
        )
        assert all(0 <= v <= 1 for v in metrics["per_class_accuracy"].values())
        recorded[method] = json.loads((tmp_path / method / "run.json").read_text())["spec"]
    assert recorded["finetune"]["method_options"] == {}
    assert recorded["fixmatch"]["method_options"] == asdict(FixMatchOptions())  # its own options, at their defaults
    assert recorded["finetune"]["train"] == recorded["fixmatch"]["train"]  # the same budget
    assert recorded["fixmatch"]["train"]["steps_per_epoch"] == 2 and recorded["fixmatch"]["train"]["batch_size"] == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["--student", "no_such_net_xyz"], "unknown student architecture 'no_such_net_xyz'"),
        (["--aggregator", "nope"], "unknown aggregator 'nope'; known: nearest, uniform, weighted"),
        (["--metric", "nope"], "unknown metric 'nope'; known:"),
        (
            ["--agg-opt", "temperature=0.5", "--aggregator", "nearest"],
            "aggregator 'nearest' has no option(s) ['temperature']",
        ),
        (["--method-opt", "source_weights=class-mean"], "--method-opt source_weights must be task or class"),
        (["--method-opt", "feature_gate=agreement"], "method 'distill' has no option --method-opt feature_gate"),
        (["--method-opt", "lam"], "--method-opt expects KEY=VALUE, got 'lam'"),
        (["--method-opt", "lam=-1"], "--method-opt lam must be a finite number >= 0"),
        (["--feature-gate", "agreement"], "No such option: --feature-gate"),  # retired (CHANGELOG)
        (["--lambda", "3"], "No such option: --lambda"),  # now --method-opt lam=3
    ],
)
def test_bad_options_exit_2(digits_task, tmp_path, args, message):
    base = ["run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST, "--out", tmp_path / "x"]
    res = invoke(*base, *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


def test_all_zero_weights_is_an_error(digits_task, tmp_path, monkeypatch):
    zero = Aggregator("zero", lambda scores: {name: 0.0 for name in scores})
    monkeypatch.setitem(get_registry().aggregators, "zero", zero)
    res = invoke(
        "run",
        "-t",
        digits_task.target,
        "--zoo",
        digits_task.zoo,
        *FAST,
        "--aggregator",
        "zero",
        "--out",
        tmp_path / "z",
    )
    assert res.exit_code == 2 and "every source weight is zero" in res.output
    # whole-task kNN scores lie in [0, 1]; per-class LEEP scores are negative: zero weights on those only
    zero_per_class = Aggregator(
        "zero-per-class", lambda scores: {name: 0.0 if min(scores.values()) < 0 else 0.5 for name in scores}
    )
    monkeypatch.setitem(get_registry().aggregators, "zero-per-class", zero_per_class)
    res = invoke(
        "run",
        "-t",
        digits_task.target,
        "--zoo",
        digits_task.zoo,
        *FAST,
        "-m",
        "knn",
        "--aggregator",
        "zero-per-class",
        "--method-opt",
        "source_weights=class",
        "--out",
        tmp_path / "zc",
    )
    assert res.exit_code == 2 and "every source weight is zero" in res.output and "Traceback" not in res.output


def test_method_options_reach_the_run_and_the_baselines(digits_task, tmp_path):
    res = invoke(
        "run",
        "-t",
        digits_task.target,
        "--zoo",
        digits_task.zoo,
        *FAST,
        "--method-opt",
        "lam=2.5",
        "--method-opt",
        "unlabeled_loss=none",
        "--out",
        tmp_path / "pure",
        "--json",
    )
    assert res.exit_code == 0, res.output
    assert "loss_unsup" not in json.loads(res.stdout)["history"][0]
    spec = json.loads((tmp_path / "pure" / "run.json").read_text())["spec"]
    assert (spec["method"], spec["method_options"]["lam"], spec["method_options"]["views"]) == ("distill", 2.5, 2)
    res = invoke(
        "baseline",
        "fixmatch",
        "-t",
        digits_task.target,
        *BUDGET,
        "--method-opt",
        "threshold=0.5",
        "--out",
        tmp_path / "fm",
        "--json",
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "fm" / "run.json").read_text())["spec"]["method_options"]["threshold"] == 0.5
    res = invoke(
        "baseline",
        "finetune",
        "-t",
        digits_task.target,
        *BUDGET,
        "--method-opt",
        "threshold=0.5",
        "--out",
        tmp_path / "ft",
    )
    assert res.exit_code == 2 and "method 'finetune' has no option --method-opt threshold" in res.output


def test_missing_run_dir_is_a_clear_error(tmp_path):
    res = invoke("eval", tmp_path / "absent", "--data", tmp_path)
    assert res.exit_code == 2 and "absent" in res.output and "Traceback" not in res.output


def test_bf16_autocast_runs_on_cpu_and_bad_precision_is_refused(digits_task, tmp_path, monkeypatch):
    real_autocast, steps = trainer_module.autocast, []

    @contextlib.contextmanager
    def autocast(device, precision):
        with real_autocast(device, precision):  # what the step's loss is computed under
            steps.append((precision, torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
            yield

    monkeypatch.setattr(trainer_module, "autocast", autocast)
    run = ("run", "-t", digits_task.target, "--zoo", digits_task.zoo, *FAST)
    res = invoke(*run, "--precision", "bf16", "--out", tmp_path / "bf16", "--json")
    assert res.exit_code == 0, res.output
    assert steps == [("bf16", True, torch.bfloat16)] * 2  # every step (--steps-per-epoch 2) under bf16 autocast
    assert json.loads((tmp_path / "bf16" / "run.json").read_text())["spec"]["train"]["precision"] == "bf16"
    loss = json.loads(res.stdout)["history"][0]["loss"]
    assert 0 < loss < 20  # finite and sane: the losses are reduced in float32
    res = invoke(*run, "--precision", "fp8", "--out", tmp_path / "fp8")
    assert res.exit_code == 2 and "--precision must be fp32 or bf16" in res.output
