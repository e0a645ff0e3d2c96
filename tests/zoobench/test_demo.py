"""The main job on the embedded default, end to end with tiny settings."""

import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC
from zoo_distill.zoobench.comparison import Budget
from zoo_distill.zoobench.demo import DEMO_METHODS, run_demo

from .conftest import tiny_settings

pytestmark = pytest.mark.slow  # end to end: trains students / builds zoos / runs processes


def test_demo_builds_ranks_distills_and_compares(tmp_path):
    console = Console(record=True, width=160)
    settings = tiny_settings(targets=("shapes-on-textures",), split_seeds=1)
    seen = []
    result = run_demo(
        tmp_path / "zoo",
        tmp_path / "runs",
        settings,
        "shapes-on-textures",
        Budget(epochs=1),
        console,
        on_result=lambda method, _: seen.append(method),
    )
    text = console.export_text()
    assert seen == ["default", "weighted", "finetune", "fixmatch", "nearest"] == list(DEMO_METHODS)
    assert f"Sources ranked by {DEFAULT_PRIMARY_METRIC}" in text and "zoo-distill run --aggregator weighted" in text
    for label in (
        "DistillWeighted \\+ FixMatch, joint probe, class subspace",
        "DistillWeighted",
        "fine-tune",
        "FixMatch",
        "DistillNearest",
    ):
        assert re.search(rf"{label}\s+\d+\.\d%", text), label
    params = {m: r["student"]["params"] for m, r in result.results.items()}
    assert len(set(params.values())) == 1  # one student, one cost
    assert sum(result.results["weighted"]["alpha"].values()) == __import__("pytest").approx(1.0)
    assert list(result.results["nearest"]["alpha"].values()) == [1.0]
    for method in seen:
        assert (tmp_path / "runs" / method / "student.safetensors").exists()
    again = run_demo(
        tmp_path / "zoo",
        tmp_path / "runs2",
        settings,
        "shapes-on-textures",
        Budget(epochs=1),
        Console(record=True),
        methods={"finetune": DEMO_METHODS["finetune"]},
    )
    assert again.build.built == []  # the zoo is reused
    assert again.results["finetune"]["test_accuracy"] == result.results["finetune"]["test_accuracy"]


def test_demo_cli_help_and_bad_input():
    runner = CliRunner()
    out = runner.invoke(app, ["demo", "--help"])
    assert out.exit_code == 0 and "build" in out.output and "--target" in out.output
    assert "<cache>/zoobench/<preset>" in out.output and "ROOT/runs" in out.output
    out = runner.invoke(app, ["demo", "--target", "no-such-target"])
    assert out.exit_code == 2 and "no-such-target" in out.output
    out = runner.invoke(app, ["demo", "build", "--preset", "huge"])
    assert out.exit_code == 2 and "huge" in out.output
