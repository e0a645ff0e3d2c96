"""`zoo-distill push` uploads a run's student through the real client; timm loads it back from the Hub."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.plugin.manager import get_registry
from zoo_distill.plugin.types import ZooEntry
from zoo_distill.runs.export import save_student

from ..conftest import TINY_CFG

runner = CliRunner()
LABELS = ["cat", "dog", "fox"]
METRICS = {
    "method": "distill",
    "aggregator": "weighted",
    "metric": "knn",
    "test_accuracy": 0.8125,
    "per_class_accuracy": {"cat": 1.0, "dog": 0.75, "fox": 0.6875},
    "alpha": {"a": 0.7, "b": 0.3},
    "scores": {"a": 0.9, "b": 0.4},
    "train_seconds": 12.5,
    "student": {"arch": "test_convnext", "params": 12345, "macs": 2e6, "cpu_latency_ms": 0.5},
    "data": {"labeled": 18, "unlabeled": 10, "test": 12, "classes": LABELS},
    "notes": ["read from /home/someone/private/data"],
}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def run_dir(tmp_path):
    """A run directory as `distill` leaves it: the exported student, metrics, run.json and a checkpoint."""
    torch.manual_seed(3)
    model = timm.create_model("test_convnext", num_classes=3, pretrained_cfg_overlay=dict(TINY_CFG)).eval()
    out = tmp_path / "run"
    save_student(out, model, "test_convnext", 3, TINY_CFG, LABELS, extra={"zoo_distill": {"method": "distill"}})
    (out / "metrics.json").write_text(json.dumps(METRICS))
    (out / "run.json").write_text(json.dumps({"target": {"labeled": "/home/someone/private/data/train"}}))
    save_file({"step": torch.zeros(1)}, str(out / "checkpoint.safetensors"))
    return out, model


@pytest.mark.parametrize("xet", [True, False], ids=["upload-pipeline", "create-commit"])
def test_push_then_timm_loads_it_from_the_hub(hub_server, run_dir, monkeypatch, xet):
    from huggingface_hub import constants

    # with hf_xet installed upload_folder takes the streamed pipeline; without it, create_commit
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    out, model = run_dir
    res = invoke("push", out, "org/pushed", "--message", "first student")
    assert res.exit_code == 0, res.output
    assert "org/pushed@main" in res.stdout and "hf-hub:org/pushed" in res.stdout

    files = hub_server.files("org/pushed")
    assert set(files) == {".gitattributes", "config.json", "model.safetensors", "README.md"}
    assert files["model.safetensors"] == (out / "student.safetensors").read_bytes()
    assert files["config.json"] == (out / "config.json").read_bytes()
    card = files["README.md"].decode()
    assert "library_name: timm" in card and "0.8125" in card and "| a | 0.9 | 0.700 |" in card
    assert 'timm.create_model("hf-hub:org/pushed", pretrained=True)' in card
    assert "/home/someone" not in card  # no local paths leave the machine
    ops = [(r.method, r.path) for r in hub_server.seen(kind="api")]
    assert ("POST", "/api/repos/create") in ops and ("POST", "/api/models/org/pushed/commit/main") in ops

    # timm alone, through the same server, reproduces the student exactly
    loaded = timm.create_model("hf-hub:org/pushed", pretrained=True).eval()
    assert loaded.pretrained_cfg["label_names"] == LABELS and loaded.num_classes == 3
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert {r.filename for r in hub_server.seen(method="GET")} == {"config.json", "model.safetensors"}

    # ... and so does zoo-distill's hf-hub provider, pinned to the pushed commit
    commit = hub_server.commit_of("org/pushed")
    teacher = (
        get_registry().provider("hf-hub").load(ZooEntry("pushed", "hf-hub", {"repo": "org/pushed", "revision": commit}))
    )
    assert teacher.num_source_classes == 3 and tuple(teacher.data_config["input_size"]) == (3, 32, 32)

    # pushing the same run again is a no-op commit-wise, and does not fail
    res = invoke("push", out, "org/pushed")
    assert res.exit_code == 0, res.output
    assert hub_server.commit_of("org/pushed") == commit


def test_push_to_a_branch_and_private(hub_server, run_dir):
    out, model = run_dir
    res = invoke("push", out, "org/branchy", "--revision", "dev", "--private")
    assert res.exit_code == 0, res.output
    assert hub_server.repos["org/branchy"].private
    assert "model.safetensors" in hub_server.files("org/branchy", "dev")
    assert "model.safetensors" not in hub_server.files("org/branchy", "main")
    loaded = timm.create_model("hf-hub:org/branchy@dev", pretrained=True).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert {r.revision for r in hub_server.seen(method="GET")} == {"dev"}


def test_push_errors_are_one_line(hub_server, run_dir, tmp_path):
    out, _ = run_dir
    res = invoke("push", tmp_path / "nowhere", "org/x")
    assert res.exit_code == 2 and "does not exist" in res.stderr and "Traceback" not in res.output
    (tmp_path / "bad").mkdir()
    torch.save({"w": torch.zeros(1)}, tmp_path / "bad" / "student.safetensors")
    (tmp_path / "bad" / "config.json").write_text((out / "config.json").read_text())
    res = invoke("push", tmp_path / "bad", "org/x")
    assert res.exit_code == 2 and "pickle" in res.stderr
    assert not hub_server.seen(kind="any")  # nothing is uploaded before the run checks out

    hub_server.mode.offline()
    res = invoke("push", out, "org/x")
    assert res.exit_code == 2 and "HF_HUB_OFFLINE" in res.stderr
    hub_server.mode.online()
    hub_server.stop()  # the Hub is unreachable
    res = invoke("push", out, "org/x")
    assert res.exit_code == 2 and "push" in res.stderr and "org/x" in res.stderr and "Traceback" not in res.output
