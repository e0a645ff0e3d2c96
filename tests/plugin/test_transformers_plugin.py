"""plugins/zoo-distill-transformers: tiny random transformers models, saved as safetensors, served by the
loopback Hub (or read from a folder), ranked and distilled end to end beside a timm source.

The plugin module is registered in process (``load_plugins(extra=...)``), as an installed entry point would
be; ``test_plugin_packages.py`` checks the packaging itself."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

from zoo_distill import api  # noqa: E402
from zoo_distill.errors import ProviderUnavailable, UnsafeWeightsError, ZooDistillError  # noqa: E402
from zoo_distill.plugin import manager as plugins  # noqa: E402

from ..conftest import local_entry, save_tiny_model, write_zoo  # noqa: E402
from ..hub.conftest import hub_server  # noqa: E402, F401 (the fixture)

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "zoo-distill-transformers"


@pytest.fixture
def registry(monkeypatch):
    """Built-ins plus the transformers plugin, as the process-wide registry."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    module = importlib.import_module("zd_transformers.plugin")
    registry = plugins.load_plugins(extra=[("transformers", module)])
    monkeypatch.setattr(plugins, "_cached", registry)
    return registry


def save_vit(folder: Path, num_labels: int = 5, backbone: bool = False, seed: int = 0) -> Path:
    import torch

    torch.manual_seed(seed)
    config = transformers.ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        num_labels=num_labels,
    )
    model = transformers.ViTModel(config) if backbone else transformers.ViTForImageClassification(config)
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3]
    ).save_pretrained(folder)
    return folder


def save_convnext(folder: Path) -> Path:
    import torch

    torch.manual_seed(1)
    config = transformers.ConvNextConfig(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_labels=3, image_size=32)
    transformers.ConvNextForImageClassification(config).save_pretrained(folder)
    transformers.ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875).save_pretrained(folder)
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_preprocessing_maps_onto_timm_data_configs(registry, tmp_path):
    from zd_transformers.provider import data_config_of

    from zoo_distill.plugin.types import ZooEntry

    entry = ZooEntry("x", "transformers", {"path": "."})
    vit = json.loads((save_vit(tmp_path / "vit") / "preprocessor_config.json").read_text())
    assert data_config_of(vit, entry) == {
        "input_size": [3, 32, 32],
        "crop_pct": 1.0,
        "crop_mode": "squash",
        "mean": [0.4, 0.5, 0.6],
        "std": [0.2, 0.25, 0.3],
        "interpolation": "bilinear",
    }
    cnx = json.loads((save_convnext(tmp_path / "cnx") / "preprocessor_config.json").read_text())
    assert data_config_of(cnx, entry)["crop_mode"] == "center" and data_config_of(cnx, entry)["crop_pct"] == 0.875
    clip_like = {
        "size": {"shortest_edge": 256},
        "crop_size": {"height": 224, "width": 224},
        "do_center_crop": True,
        "resample": 3,
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
    }
    assert data_config_of(clip_like, entry) == {
        "input_size": [3, 224, 224],
        "crop_pct": 0.875,
        "crop_mode": "center",
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "interpolation": "bicubic",
    }
    with pytest.raises(ProviderUnavailable, match="rescale_factor"):
        data_config_of({**clip_like, "rescale_factor": 1.0}, entry)
    with pytest.raises(ProviderUnavailable, match="size must be"):
        data_config_of({"size": {"longest_edge": 5}}, entry)


def test_teachers_features_are_the_heads_input_and_match_transformers(registry, tmp_path):
    import torch

    folder = save_vit(tmp_path / "vit")
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            {"name": "vit", "provider": "transformers", "path": "vit"},
            {"name": "vit-backbone", "provider": "transformers", "path": "vit", "kind": "backbone"},
        ],
    )
    entries = {e.name: e for e in api.load_zoo(zoo)}
    teacher = registry.provider("transformers").load(entries["vit"])
    x = torch.rand(3, 3, 32, 32)
    with torch.inference_mode():
        features, logits = teacher.forward(x)
        reference = transformers.ViTForImageClassification.from_pretrained(folder).eval()
        hidden = reference.vit(pixel_values=x).last_hidden_state[:, 0]
        assert torch.allclose(features, hidden, atol=1e-6)
        assert torch.allclose(logits, reference(pixel_values=x).logits, atol=1e-6)
    assert (teacher.feature_dim, teacher.num_source_classes) == (32, 5)
    backbone = registry.provider("transformers").load(entries["vit-backbone"])
    assert backbone.num_source_classes == 0 and backbone.forward(x)[1] is None
    assert backbone.digest != teacher.digest  # a backbone view caches no logits: its own key
    identity = registry.provider("transformers").identify(entries["vit"])
    assert identity.digest == teacher.digest and identity.data_config == teacher.data_config


def test_a_mixed_zoo_ranks_and_distills_in_one_run_reusing_each_cache(
    registry,
    hub_server,  # noqa: F811
    tmp_path,
    target_dir,
):
    hub_server.add_revision("org/tiny-vit", "v1", files_of(save_vit(tmp_path / "hub-vit", seed=2)))
    save_convnext(tmp_path / "cnx")
    save_tiny_model(tmp_path / "weights" / "a.safetensors", num_classes=4, seed=0)
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            local_entry("timm-a", "weights/a.safetensors", 4),
            {
                "name": "hub-vit",
                "provider": "transformers",
                "repo": "org/tiny-vit",
                "revision": hub_server.commit_of("org/tiny-vit", "v1"),
            },
            {"name": "local-convnext", "provider": "transformers", "path": "cnx"},
        ],
    )
    ranking = api.rank(target_dir, zoo, metrics=["knn", "leep"])
    assert sorted(s.name for s in ranking.ranked) == ["hub-vit", "local-convnext", "timm-a"]
    assert all(s.scores["leep"] is not None for s in ranking.ranked)
    settings = dict(
        aggregator="weighted",
        student="test_resnet",
        student_init="scratch",
        input_size=32,
        epochs=1,
        steps_per_epoch=2,
        batch_size=6,
        mu=1,
        views=1,
    )
    first = api.run(target_dir, zoo, out=tmp_path / "run1", **settings)
    assert set(first.metrics["alpha"]) == {"hub-vit", "local-convnext", "timm-a"}
    downloads = len(hub_server.seen("GET", "org/tiny-vit"))
    second = api.run(target_dir, zoo, out=tmp_path / "run2", **settings)
    assert second.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    assert len(hub_server.seen("GET", "org/tiny-vit")) == downloads  # nothing fetched again
    cached = api.rank(target_dir, zoo, metrics=["knn", "leep"])
    assert all(s.cached for s in cached.ranked), [(s.name, s.cached) for s in cached.ranked]


def test_bad_repos_are_one_line_errors_naming_repo_and_file(registry, hub_server, tmp_path):  # noqa: F811
    vit = files_of(save_vit(tmp_path / "vit"))
    hub_server.add_revision(
        "org/pickle-only",
        "main",
        {**{k: v for k, v in vit.items() if k != "model.safetensors"}, "pytorch_model.bin": b"\x80\x04pickle"},
    )
    hub_server.add_revision(
        "org/no-processor", "main", {k: v for k, v in vit.items() if k != "preprocessor_config.json"}
    )
    detector = json.loads(vit["config.json"])
    detector["architectures"] = ["DetrForObjectDetection"]
    hub_server.add_revision("org/detector", "main", {**vit, "config.json": json.dumps(detector).encode()})
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            {"name": n.split("/")[1], "provider": "transformers", "repo": n}
            for n in ("org/pickle-only", "org/no-processor", "org/detector")
        ],
    )
    entries = {e.name: e for e in api.load_zoo(zoo)}
    provider = registry.provider("transformers")
    with pytest.raises(
        UnsafeWeightsError,
        match=r"org/pickle-only.*has no model.safetensors; pickle checkpoints "
        r"\(pytorch_model.bin\) are refused. Convert it",
    ):
        provider.load(entries["pickle-only"])
    with pytest.raises(ProviderUnavailable, match=r"org/no-processor.*has no preprocessor_config.json"):
        provider.load(entries["no-processor"])
    with pytest.raises(
        ProviderUnavailable,
        match=r"org/detector.*is a DetrForObjectDetection, not an image "
        "classifier",
    ):
        provider.load(entries["detector"])
    for name in entries:
        with pytest.raises(ZooDistillError) as err:
            provider.load(entries[name])
        assert "\n" not in str(err.value)


def test_entry_fields_are_validated_on_load(registry, tmp_path):
    for bad, field in (
        ({"repo": "a/b", "path": "x"}, "repo"),
        ({"repo": "no spaces/x y"}, "repo"),
        ({"path": "x", "revision": "v1"}, "revision"),
        ({"path": "x", "kind": "detector"}, "kind"),
    ):
        zoo = write_zoo(tmp_path / "zoo.yaml", [{"name": "t", "provider": "transformers", **bad}])
        with pytest.raises(ZooDistillError, match=field):
            api.load_zoo(zoo)


def test_the_plugin_module_imports_neither_transformers_nor_torch():
    import subprocess

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import zd_transformers.plugin; "
        "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(PLUGIN)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
