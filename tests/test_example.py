"""The offline example: builds deterministically, reuses identical builds, and ranks sensibly."""

import json

import pytest
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.example import ExampleSettings, build_example
from zoo_distill.zoo.file import load_zoo

pytestmark = pytest.mark.slow  # end to end: trains students / builds zoos / runs processes

TINY = ExampleSettings(
    seed=0,
    target_domain="shapes",
    source_domains=("shapes", "textures"),
    source_per_class=100,
    source_epochs=10,
    source_classes=6,
    target_classes=4,
    train_per_class=8,
    unlabeled_per_class=4,
    test_per_class=4,
)


@pytest.fixture(scope="module")
def tiny_example(tmp_path_factory):
    return build_example(tmp_path_factory.mktemp("ex"), TINY)


def test_build_writes_a_valid_zoo_and_target(tiny_example):
    zoo = load_zoo(tiny_example.zoo)
    assert [e.name for e in zoo] == ["shapes-net", "textures-net"]
    assert all(e.provider == "local" for e in zoo)
    assert len(list((tiny_example.target / "train").glob("*/*.png"))) == 4 * 8
    assert len(list((tiny_example.target / "unlabeled").glob("*.png"))) == 4 * 4
    assert tiny_example.teacher_accuracy["shapes-net"] > 0.5  # the teacher learned its domain


def test_identical_build_is_reused(tiny_example):
    again = build_example(tiny_example.root, TINY)
    assert again.reused and again.teacher_accuracy == tiny_example.teacher_accuracy


def test_related_source_outranks_unrelated(tiny_example):
    """A teacher trained on the target's own kind of images beats one trained on textures."""
    res = CliRunner().invoke(
        app,
        [
            "rank",
            "--target",
            str(tiny_example.target),
            "--zoo",
            str(tiny_example.zoo),
            "--json",
            "-m",
            "logme",
            "-m",
            "leep",
            "-m",
            "nce",
            "-m",
            "knn",
            "-m",
            "linear",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    scores = {s["name"]: s["scores"] for s in result["sources"]}
    for metric in ("logme", "leep", "nce", "knn", "linear"):
        assert scores["shapes-net"][metric] > scores["textures-net"][metric], metric
    assert result["sources"][0]["name"] == "shapes-net"
    assert result["weights"]["nearest"] == {"shapes-net": 1.0, "textures-net": 0.0}
    assert result["weights"]["weighted"]["shapes-net"] > 0.5
