"""FreeMatch and SoftMatch as baselines: trained through the CLI and the API with FixMatch's budget, their
state checkpointed, and a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zoo_distill import api
from zoo_distill.cli.app import app
from zoo_distill.errors import ConfigError

BUDGET = dict(
    student="test_resnet",
    student_init="scratch",
    input_size=32,
    epochs=2,
    steps_per_epoch=2,
    batch_size=4,
    mu=2,
    workers=0,
)


@pytest.mark.parametrize("method", ["freematch", "softmatch"])
def test_baseline_trains_with_fixmatchs_budget_and_checkpoints_its_state(method, target_dir, tmp_path):
    from safetensors import safe_open

    run = api.run(target_dir, method=method, out=tmp_path / "run", **BUDGET)
    fixmatch = api.run(target_dir, method="fixmatch", out=tmp_path / "fixmatch", **BUDGET)
    history = run.metrics["history"]
    assert run.metrics["method"] == method and len(history) == 2
    assert all(row["loss_unsup"] >= 0 and 0 <= row["mask"] <= 1 for row in history)
    # the same labeled images, views and steps as FixMatch: the supervised term of the first step is equal
    assert len(history) == len(fixmatch.metrics["history"])
    if method == "freematch":
        assert all("loss_fair" in row for row in history)
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"  # the last epoch's, kept in the run folder
    with safe_open(str(checkpoint), "pt") as f:  # it carries the pseudo-labelling state for --resume
        assert any(k.startswith(f"module.{method}.") for k in f.keys())


def test_cli_baselines_and_their_options(target_dir, tmp_path):
    args = [
        "--student",
        "test_resnet",
        "--student-init",
        "scratch",
        "--input-size",
        "32",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "4",
    ]
    done = CliRunner().invoke(
        app,
        [
            "baseline",
            "freematch",
            "-t",
            str(target_dir),
            *args,
            "--method-opt",
            "lambda_f=0.1",
            "--out",
            str(tmp_path / "fm"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "fm" / "run.json").read_text())["spec"]["method_options"]["lambda_f"] == 0.1
    bad = CliRunner().invoke(
        app,
        [
            "baseline",
            "softmatch",
            "-t",
            str(target_dir),
            *args,
            "--method-opt",
            "n_sigma=0",
            "--out",
            str(tmp_path / "sm"),
        ],
    )
    assert bad.exit_code == 2 and "--method-opt n_sigma" in bad.stderr and not (tmp_path / "sm").exists()
    with pytest.raises(ConfigError, match="--method-opt ema"):
        api.check_run_settings("freematch", ema=1.0)
