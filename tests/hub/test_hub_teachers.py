"""Hub-hosted teachers through the REAL huggingface_hub client, against the local Hub look-alike."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from zoo_distill.cli.app import app
from zoo_distill.errors import ProviderUnavailable, UnsafeWeightsError
from zoo_distill.plugin.manager import get_registry
from zoo_distill.plugin.types import ZooEntry

from ..conftest import write_zoo
from .conftest import hf_cache_files, tiny_repo_files

HUB_ENTRY = {"name": "hub-t", "provider": "hf-hub", "repo": "org/tiny", "revision": "v1"}
PROBE = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)


@pytest.fixture
def tiny(hub_server, tmp_path):
    """org/tiny: ``main`` -> commit A (seed 0), tag ``v1`` -> commit B (seed 1, different weights)."""
    files_a, files_b = tiny_repo_files(tmp_path, seed=0), tiny_repo_files(tmp_path, seed=1)
    commit_a = hub_server.add_revision("org/tiny", "main", files_a)
    commit_b = hub_server.add_revision("org/tiny", "v1", files_b)
    assert commit_a != commit_b and files_a["model.safetensors"] != files_b["model.safetensors"]
    return {"A": (commit_a, files_a), "B": (commit_b, files_b)}


def load(options: dict, name: str = "hub-t"):
    entry = ZooEntry(name, options["provider"], {k: v for k, v in options.items() if k not in ("name", "provider")})
    return get_registry().provider(entry.provider).load(entry)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_first_use_downloads_into_the_hf_cache_then_works_offline(hub_server, tiny):
    from huggingface_hub import constants

    commit_b, files_b = tiny["B"]
    provider = get_registry().provider("hf-hub")
    entry = ZooEntry("hub-t", "hf-hub", {"repo": "org/tiny", "revision": "v1"})
    assert provider.is_available(entry) is None  # online: loadable, though not cached

    teacher = load(HUB_ENTRY)  # (a) first use: downloaded through huggingface_hub
    feats, logits = teacher.forward(PROBE)
    assert teacher.num_source_classes == 3 and tuple(teacher.data_config["input_size"]) == (3, 32, 32)
    assert teacher.digest == sha256(files_b["model.safetensors"])

    cache = Path(constants.HF_HUB_CACHE) / "models--org--tiny"
    assert (cache / "refs" / "v1").read_text() == commit_b
    snapshot = cache / "snapshots" / commit_b
    assert (snapshot / "config.json").read_bytes() == files_b["config.json"]
    assert (snapshot / "model.safetensors").read_bytes() == files_b["model.safetensors"]
    # LFS-tracked weights are stored under their sha256 (X-Linked-Etag), over plain HTTP (no Xet).
    assert (cache / "blobs" / sha256(files_b["model.safetensors"])).is_file()
    for filename in ("config.json", "model.safetensors"):
        assert [r.method for r in hub_server.seen(repo_id="org/tiny", filename=filename)] == ["HEAD", "GET"]
    assert all(r.revision == "v1" and r.status == 200 for r in hub_server.seen())

    # (b) no server, offline: the same teacher from the cache, identical features
    hub_server.stop()
    hub_server.mode.offline()
    assert provider.is_available(entry) is None
    again = load(HUB_ENTRY)
    feats2, logits2 = again.forward(PROBE)
    assert again.digest == teacher.digest
    assert torch.equal(feats, feats2) and torch.equal(logits, logits2)
    # offline and not cached (another revision): unavailable, with the fix in the message
    reason = provider.is_available(ZooEntry("hub-main", "hf-hub", {"repo": "org/tiny", "revision": "main"}))
    assert "not cached" in reason and "HF_HUB_OFFLINE" in reason


def test_the_pinned_revision_is_honoured(hub_server, tiny):
    commit_a, files_a = tiny["A"]
    commit_b, files_b = tiny["B"]
    on_tag = load(HUB_ENTRY)
    on_commit = load({**HUB_ENTRY, "revision": commit_a}, name="hub-commit")
    on_main = load({**HUB_ENTRY, "revision": "main"}, name="hub-main")  # main -> commit A: already cached
    unpinned = load({k: v for k, v in HUB_ENTRY.items() if k != "revision"}, name="hub-unpinned")
    assert on_tag.digest == sha256(files_b["model.safetensors"])
    assert on_main.digest == on_commit.digest == unpinned.digest == sha256(files_a["model.safetensors"])
    assert on_tag.digest != on_main.digest
    assert not torch.equal(on_tag.forward(PROBE)[0], on_main.forward(PROBE)[0])
    asked = [(r.method, r.revision) for r in hub_server.seen(filename="model.safetensors")]
    assert asked == [
        ("HEAD", "v1"),
        ("GET", "v1"),
        ("HEAD", commit_a),
        ("GET", commit_a),
        ("HEAD", "main"),
        ("HEAD", "main"),
    ]
    from huggingface_hub import constants

    snapshots = Path(constants.HF_HUB_CACHE) / "models--org--tiny" / "snapshots"
    assert {p.name for p in snapshots.iterdir()} == {commit_a, commit_b}


def test_missing_repo_file_and_revision_name_the_entry(hub_server, tiny, tmp_path):
    files = tiny_repo_files(tmp_path, seed=2)
    hub_server.add_revision("org/noconfig", "main", {"model.safetensors": files["model.safetensors"]})
    with pytest.raises(ProviderUnavailable, match=r"source 'ghost'.*'org/ghost'.*does not exist or is private"):
        load({"provider": "hf-hub", "repo": "org/ghost"}, name="ghost")
    with pytest.raises(ProviderUnavailable, match=r"source 'nocfg'.*config\.json.*does not exist in the repository"):
        load({"provider": "hf-hub", "repo": "org/noconfig"}, name="nocfg")
    with pytest.raises(ProviderUnavailable, match=r"source 'badrev'.*revision 'v9' does not exist"):
        load({"provider": "hf-hub", "repo": "org/tiny", "revision": "v9"}, name="badrev")
    codes = [r.status for r in hub_server.seen(method="HEAD")]
    assert codes.count(404) == 3


def test_rank_reports_broken_hub_entries_as_unavailable(hub_server, tiny, tmp_path, target_dir):
    files = tiny_repo_files(tmp_path, seed=2)
    hub_server.add_revision("org/noconfig", "main", {"model.safetensors": files["model.safetensors"]})
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            HUB_ENTRY,
            {"name": "ghost", "provider": "hf-hub", "repo": "org/ghost", "revision": "main"},
            {"name": "nocfg", "provider": "hf-hub", "repo": "org/noconfig"},
        ],
    )
    res = CliRunner().invoke(app, ["rank", "--target", str(target_dir), "--zoo", str(zoo), "--json", "-m", "knn"])
    assert res.exit_code == 0, res.output
    sources = {s["name"]: s for s in json.loads(res.stdout)["sources"]}
    assert sources["hub-t"]["status"] == "ok"
    for name, repo in (("ghost", "org/ghost"), ("nocfg", "org/noconfig")):
        assert sources[name]["status"] == "unavailable"
        assert f"source {name!r}" in sources[name]["error"] and repo in sources[name]["error"]
    assert "does not exist or is private" in sources["ghost"]["error"]
    assert "config.json" in sources["nocfg"]["error"]


def test_a_repo_with_only_a_pickle_checkpoint_is_refused(hub_server, tmp_path):
    files = tiny_repo_files(tmp_path, seed=0)
    buffer = io.BytesIO()
    torch.save(timm.create_model("test_convnext", num_classes=3).state_dict(), buffer)
    hub_server.add_revision(
        "org/pickled", "main", {"config.json": files["config.json"], "pytorch_model.bin": buffer.getvalue()}
    )
    with pytest.raises(UnsafeWeightsError, match=r"source 'p'.*no model\.safetensors.*pickle.*refused"):
        load({"provider": "hf-hub", "repo": "org/pickled"}, name="p")
    assert not hub_server.seen(filename="pytorch_model.bin")  # the pickle is never even downloaded


def test_timm_provider_fetches_timm_hub_repo(hub_server, tmp_path):
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=1000)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    weights = (tmp_path / "w.safetensors").read_bytes()
    commit = hub_server.add_revision("timm/test_resnet.r160_in1k", "main", {"model.safetensors": weights})

    teacher = load({"provider": "timm", "model": "test_resnet.r160_in1k"}, name="tr")
    assert teacher.num_source_classes == 1000 and teacher.digest == sha256(weights)
    assert tuple(teacher.data_config["input_size"]) == (3, 160, 160)  # timm's own pretrained preprocessing
    seen = hub_server.seen(repo_id="timm/test_resnet.r160_in1k")
    assert [(r.method, r.filename, r.revision) for r in seen] == [
        ("HEAD", "model.safetensors", "main"),
        ("GET", "model.safetensors", "main"),
    ]
    assert hf_cache_files("timm/test_resnet.r160_in1k")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(teacher.model(x), model.eval()(x))

    hub_server.stop()
    hub_server.mode.offline()
    assert load({"provider": "timm", "model": "test_resnet.r160_in1k"}, name="tr").digest == teacher.digest
    from huggingface_hub import constants

    snapshot = Path(constants.HF_HUB_CACHE) / "models--timm--test_resnet.r160_in1k" / "snapshots" / commit
    assert (snapshot / "model.safetensors").read_bytes() == weights
