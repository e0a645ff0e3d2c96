"""`zoo ls` (cached/size columns) and `zoo pull` through typer's runner, the real client and the local Hub."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.zoo.pull import human_size

from ..conftest import local_entry, save_tiny_model, write_zoo
from .conftest import tiny_repo_files

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def hub_zoo(hub_server, tmp_path):
    """A zoo with an hf-hub entry (pinned tag), a timm entry and a local entry, all served or on disk."""
    files = tiny_repo_files(tmp_path, seed=0)
    hub_server.add_revision("org/tiny", "main", tiny_repo_files(tmp_path, seed=1))
    hub_server.add_revision("org/tiny", "v1", files)
    torch.manual_seed(0)
    resnet = timm.create_model("test_resnet", num_classes=1000)
    save_file({k: v.contiguous() for k, v in resnet.state_dict().items()}, str(tmp_path / "r.safetensors"))
    hub_server.add_revision(
        "timm/test_resnet.r160_in1k", "main", {"model.safetensors": tmp_path.joinpath("r.safetensors").read_bytes()}
    )
    save_tiny_model(tmp_path / "weights" / "a.safetensors", num_classes=4)
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            {"name": "hub-t", "provider": "hf-hub", "repo": "org/tiny", "revision": "v1", "domain": "toy"},
            {"name": "timm-t", "provider": "timm", "model": "test_resnet.r160_in1k"},
            local_entry("local-t", "weights/a.safetensors"),
        ],
    )
    sizes = {
        "hub-t": len(files["model.safetensors"]),
        "timm-t": (tmp_path / "r.safetensors").stat().st_size,
        "local-t": (tmp_path / "weights" / "a.safetensors").stat().st_size,
    }
    return zoo, sizes


def ls(zoo) -> dict[str, dict]:
    res = invoke("zoo", "ls", "--zoo", zoo, "--json")
    assert res.exit_code == 0, res.output
    return {r["name"]: r for r in json.loads(res.stdout)}


def test_pull_fills_the_hf_cache_and_ls_shows_it(hub_server, hub_zoo):
    zoo, sizes = hub_zoo
    before = ls(zoo)
    assert {n: (r["cached"], r["size_bytes"]) for n, r in before.items()} == {
        "hub-t": (False, None),
        "timm-t": (False, None),
        "local-t": (True, sizes["local-t"]),
    }
    assert all(r["available"] for r in before.values())  # online: downloadable
    assert not hub_server.seen(kind="any")  # ls never touches the network

    res = invoke("zoo", "pull", "hub-t", "timm-t", "--zoo", zoo)
    assert res.exit_code == 0, res.output
    assert "ok hub-t (org/tiny@v1): downloaded config.json, model.safetensors" in res.stdout
    assert "ok timm-t (timm/test_resnet.r160_in1k@main): downloaded model.safetensors" in res.stdout
    gets = {(r.repo_id, r.filename, r.revision) for r in hub_server.seen(method="GET")}
    assert gets == {
        ("org/tiny", "config.json", "v1"),
        ("org/tiny", "model.safetensors", "v1"),
        ("timm/test_resnet.r160_in1k", "model.safetensors", "main"),
    }

    after = ls(zoo)
    assert {n: (r["cached"], r["size_bytes"]) for n, r in after.items()} == {n: (True, s) for n, s in sizes.items()}
    table = invoke("zoo", "ls", "--zoo", zoo)
    assert table.exit_code == 0 and "cached" in table.stdout and human_size(sizes["hub-t"]) in table.stdout

    # a second pull downloads nothing: HEAD only, reported as already cached
    n_get = len(hub_server.seen(method="GET"))
    res = invoke("zoo", "pull", "--all", "--zoo", zoo, "--json")
    assert res.exit_code == 0, res.output
    report = {r["name"]: r for r in json.loads(res.stdout)}
    assert report["hub-t"]["cached"] == ["config.json", "model.safetensors"] and not report["hub-t"]["downloaded"]
    assert report["timm-t"]["cached"] == ["model.safetensors"] and report["timm-t"]["bytes_downloaded"] == 0
    assert "local" in report["local-t"]["skipped"]
    assert len(hub_server.seen(method="GET")) == n_get

    # the offline machine: no server, HF_HUB_OFFLINE=1, the same cache -> everything available
    hub_server.stop()
    hub_server.mode.offline()
    offline = ls(zoo)
    assert all(r["available"] and r["cached"] for r in offline.values())


def test_pull_progress_bar_is_shown(hub_server, hub_zoo, monkeypatch):
    zoo, _ = hub_zoo
    monkeypatch.delenv("ZOO_DISTILL_NO_PROGRESS")
    res = invoke("zoo", "pull", "hub-t", "--zoo", zoo)
    assert res.exit_code == 0, res.output
    assert "hub-t" in res.stderr and "2/2" in res.stderr  # one task per entry, one step per file


def test_pull_errors_name_the_entries(hub_server, hub_zoo, tmp_path):
    zoo, _ = hub_zoo
    res = invoke("zoo", "pull", "nope", "hub-t", "--zoo", zoo)
    assert res.exit_code == 2 and "unknown source(s) 'nope'" in res.stderr
    assert not hub_server.seen(kind="any")  # unknown names fail before any download

    res = invoke("zoo", "pull", "--zoo", zoo)
    assert res.exit_code == 2 and "--all" in res.stderr

    broken = write_zoo(
        tmp_path / "broken.yaml",
        [
            {"name": "ghost", "provider": "hf-hub", "repo": "org/ghost"},
            {"name": "hub-t", "provider": "hf-hub", "repo": "org/tiny", "revision": "v1"},
            {"name": "badrev", "provider": "hf-hub", "repo": "org/tiny", "revision": "v9"},
        ],
    )
    res = invoke("zoo", "pull", "--all", "--zoo", broken)
    assert res.exit_code == 2
    assert "source 'ghost'" in res.stderr and "does not exist or is private" in res.stderr
    assert "source 'badrev'" in res.stderr and "revision 'v9' does not exist" in res.stderr
    assert "ok hub-t" in res.stdout  # the others are still pulled
    assert "Traceback" not in res.output


def test_pull_offline_says_what_to_do(hub_server, hub_zoo):
    zoo, _ = hub_zoo
    hub_server.mode.offline()
    res = invoke("zoo", "pull", "hub-t", "--zoo", zoo)
    assert res.exit_code == 2 and "HF_HUB_OFFLINE" in res.stderr and "'hub-t'" in res.stderr
    assert not hub_server.seen(kind="any")
