import json
from pathlib import Path

import pytest
import torch

from zoo_distill.errors import ProviderUnavailable, UnsafeWeightsError, ZooDistillError
from zoo_distill.plugin.manager import get_registry
from zoo_distill.plugin.types import Teacher, ZooEntry
from zoo_distill.zoo.file import load_zoo

from ..conftest import TINY_CFG, local_entry, save_tiny_model, write_zoo


def populate_hf_cache(repo: str, files: dict[str, Path], commit: str = "a" * 40, ref: str = "main") -> None:
    """Lay files out exactly as huggingface_hub's cache does, so its real client finds them offline."""
    from huggingface_hub import constants

    root = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        (snapshot / name).write_bytes(src.read_bytes())


def load(entry_dict, tmp_path) -> Teacher:
    zoo = load_zoo(write_zoo(tmp_path / "zoo.yaml", [entry_dict]))
    entry = next(iter(zoo))
    return get_registry().provider(entry.provider).load(entry)


def test_local_teacher_is_frozen_with_its_preprocessing(tmp_path):
    save_tiny_model(tmp_path / "w.safetensors", num_classes=5)
    teacher = load(local_entry("t", "w.safetensors", 5), tmp_path)
    assert isinstance(teacher, Teacher)
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.model.parameters())
    assert tuple(teacher.data_config["input_size"]) == (3, 32, 32)
    assert teacher.data_config["interpolation"] == "bilinear"
    feats, logits = teacher.forward(torch.zeros(2, 3, 32, 32))
    assert feats.shape == (2, teacher.feature_dim) and logits.shape == (2, 5)
    assert teacher.num_source_classes == 5 and len(teacher.digest) == 64


def test_headless_teacher_has_no_logits(tmp_path):
    save_tiny_model(tmp_path / "w.safetensors", num_classes=0)
    teacher = load(local_entry("t", "w.safetensors", 0), tmp_path)
    feats, logits = teacher.forward(torch.zeros(1, 3, 32, 32))
    assert logits is None and teacher.num_source_classes == 0 and feats.shape[1] == teacher.feature_dim


def test_local_errors_name_the_source(tmp_path):
    with pytest.raises(ProviderUnavailable, match="source 't'.*does not exist"):
        load(local_entry("t", "missing.safetensors"), tmp_path)
    save_tiny_model(tmp_path / "w.safetensors", num_classes=5)
    with pytest.raises(ZooDistillError, match="source 't'.*do not fit the architecture"):
        load(local_entry("t", "w.safetensors", num_classes=3), tmp_path)
    with pytest.raises(ZooDistillError, match=r"\('t'\): field 'arch': 'no_such_arch_xyz' is not a timm"):
        load(local_entry("t", "w.safetensors", arch="no_such_arch_xyz"), tmp_path)
    torch.save({"x": torch.zeros(1)}, tmp_path / "w.pth")
    with pytest.raises(UnsafeWeightsError, match="pickle"):
        load(local_entry("t", "w.pth"), tmp_path)


def test_hf_hub_offline_and_not_cached_says_how_to_fix(tmp_path):
    entry = {"name": "hub-t", "provider": "hf-hub", "repo": "org/tiny", "revision": "v1"}
    zoo = load_zoo(write_zoo(tmp_path / "zoo.yaml", [entry]))
    provider = get_registry().provider("hf-hub")
    reason = provider.is_available(zoo.entries["hub-t"])
    assert "not cached" in reason and "HF_HUB_OFFLINE" in reason
    with pytest.raises(ProviderUnavailable, match=r"source 'hub-t'.*HF_HUB_OFFLINE.*zoo-distill zoo pull hub-t"):
        provider.load(zoo.entries["hub-t"])


def test_hf_hub_reads_the_real_cache_layout_offline(tmp_path):
    weights = save_tiny_model(tmp_path / "src" / "model.safetensors", num_classes=3)
    config = tmp_path / "src" / "config.json"
    config.write_text(json.dumps({"architecture": "test_convnext", "num_classes": 3, "pretrained_cfg": TINY_CFG}))
    populate_hf_cache("org/tiny", {"model.safetensors": weights, "config.json": config})
    entry = ZooEntry("hub-t", "hf-hub", {"repo": "org/tiny", "revision": "main"})
    provider = get_registry().provider("hf-hub")
    assert provider.is_available(entry) is None
    teacher = provider.load(entry)
    assert teacher.num_source_classes == 3 and tuple(teacher.data_config["input_size"]) == (3, 32, 32)


def test_hf_hub_repo_with_only_pickle_is_refused(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"architecture": "test_convnext", "num_classes": 3}))
    populate_hf_cache("org/pickled", {"config.json": config})
    entry = ZooEntry("p", "hf-hub", {"repo": "org/pickled"})
    with pytest.raises(ZooDistillError, match="source 'p'"):
        get_registry().provider("hf-hub").load(entry)


def test_timm_provider_offline_not_cached(tmp_path):
    entry = ZooEntry("r18", "timm", {"model": "resnet18.a1_in1k"})
    provider = get_registry().provider("timm")
    assert "not cached" in provider.is_available(entry)
    with pytest.raises(ProviderUnavailable, match="source 'r18'.*timm/resnet18.a1_in1k.*HF_HUB_OFFLINE"):
        provider.load(entry)


def test_timm_provider_uses_cached_hub_safetensors(tmp_path):
    weights = save_tiny_model(tmp_path / "model.safetensors", num_classes=1000, arch="test_resnet")
    populate_hf_cache("timm/test_resnet.r160_in1k", {"model.safetensors": weights})
    entry = ZooEntry("tr", "timm", {"model": "test_resnet.r160_in1k"})
    teacher = get_registry().provider("timm").load(entry)
    assert teacher.num_source_classes == 1000
    assert tuple(teacher.data_config["input_size"]) == (3, 160, 160)  # timm's pretrained preprocessing


@pytest.mark.parametrize(
    "arch, cfg",
    [("test_convnext", TINY_CFG), ("resnet10t", None), ("test_vit", {"crop_pct": 0.9, "interpolation": "bilinear"})],
)
def test_identify_matches_the_built_teacher(tmp_path, arch, cfg):
    """The cheap identity must key the cache exactly like the loaded teacher, or hits never happen."""
    save_tiny_model(tmp_path / "w.safetensors", num_classes=3, arch=arch)
    entry_dict = local_entry("t", "w.safetensors", 3, arch=arch)
    if cfg is None:
        entry_dict.pop("pretrained_cfg")
    else:
        entry_dict["pretrained_cfg"] = cfg
    entry = next(iter(load_zoo(write_zoo(tmp_path / "zoo.yaml", [entry_dict]))))
    provider = get_registry().provider("local")
    identity = provider.identify(entry)
    teacher = provider.load(entry)
    assert identity.digest == teacher.digest
    assert dict(identity.data_config) == dict(teacher.data_config)
