"""plugins/zoo-distill-openclip: a tiny random CLIP (open_clip's Hub format, safetensors) whose zero-shot head
speaks the target's classes; and a zoo mixing timm, transformers and open_clip sources in one run.

Random weights make the zero-shot head plumbing only: these tests check shapes, keys and caching, never
accuracy."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

open_clip = pytest.importorskip("open_clip")
pytest.importorskip("transformers")

from zoo_distill import api  # noqa: E402
from zoo_distill.errors import DataError, UnsafeWeightsError  # noqa: E402
from zoo_distill.plugin import manager as plugins  # noqa: E402

from ..conftest import local_entry, save_tiny_model, write_zoo  # noqa: E402
from ..hub.conftest import hub_server  # noqa: E402, F401 (the fixture)
from .test_transformers_plugin import files_of, save_vit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2] / "plugins"
TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture
def registry(monkeypatch):
    """Built-ins plus both source plugins, as the process-wide registry."""
    extra = []
    for folder, module in (
        ("zoo-distill-openclip", "zd_openclip.plugin"),
        ("zoo-distill-transformers", "zd_transformers.plugin"),
    ):
        monkeypatch.syspath_prepend(str(ROOT / folder))
        extra.append((module.split(".")[0], importlib.import_module(module)))
    registry = plugins.load_plugins(extra=extra)
    monkeypatch.setattr(plugins, "_cached", registry)
    return registry


def save_clip(folder: Path, seed: int = 0) -> Path:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    folder.mkdir(parents=True)
    save_file(open_clip.CLIP(**TINY).state_dict(), folder / "open_clip_model.safetensors")
    (folder / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": TINY,
                "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear"},
            }
        )
    )
    return folder


def test_the_zero_shot_head_is_over_the_targets_classes_and_keys_the_cache(registry, tmp_path, target_dir):
    import torch

    save_clip(tmp_path / "clip")
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            {"name": "clip", "provider": "open_clip", "path": "clip"},
            {"name": "clip-plain", "provider": "open_clip", "path": "clip", "zero_shot": False},
        ],
    )
    data = api.load_target(target_dir)
    entries = {e.name: e for e in api._with_classes(api.load_zoo(zoo), data, registry)}
    assert [c["prompt"] for c in entries["clip"].options["target_classes"]] == ["class 0", "class 1", "class 2"]
    provider = registry.provider("open_clip")
    teacher = provider.load(entries["clip"])
    features, logits = teacher.forward(torch.rand(4, 3, 32, 32))
    assert features.shape == (4, 16) and logits.shape == (4, 3) and teacher.num_source_classes == 3
    plain = provider.load(entries["clip-plain"])
    assert plain.forward(torch.rand(1, 3, 32, 32))[1] is None and plain.num_source_classes == 0
    before = provider.identify(entries["clip"]).digest
    (target_dir / "classes.yaml").write_text("class_0: a red square\nclass_2: a blue square\n")
    renamed = {e.name: e for e in api._with_classes(api.load_zoo(zoo), api.load_target(target_dir), registry)}
    assert [c["prompt"] for c in renamed["clip"].options["target_classes"]] == [
        "a red square",
        "class 1",
        "a blue square",
    ]
    assert provider.identify(renamed["clip"]).digest != before  # other class texts: other cached logits
    assert provider.identify(renamed["clip-plain"]).digest == provider.identify(entries["clip-plain"]).digest
    # LEEP and NCE use the zero-shot logits: a pseudo-label per target class
    ranking = api.rank(target_dir, zoo, metrics=["leep", "nce"])
    assert all(s.scores["leep"] is not None for s in ranking.ranked if s.name == "clip")


@pytest.mark.parametrize(
    "text, why",
    [
        ("''", "is empty"),
        ('"a\\u0000b"', "holds control"),
        ("[1, 2]", "must be text"),
        ("'" + "x" * 400 + "'", "is longer than"),
    ],
)
def test_a_class_text_that_is_not_valid_text_is_a_one_line_error(registry, tmp_path, target_dir, text, why):
    save_clip(tmp_path / "clip")
    zoo = write_zoo(tmp_path / "zoo.yaml", [{"name": "clip", "provider": "open_clip", "path": "clip"}])
    (target_dir / "classes.yaml").write_text(f"class_1: {text}\n")
    with pytest.raises(DataError, match=rf"classes.yaml: class 'class_1': its text {why}"):
        api.rank(target_dir, zoo, metrics=["knn"])
    (target_dir / "classes.yaml").write_text("not_a_class: x\n")
    with pytest.raises(DataError, match="'not_a_class' is not a class folder"):
        api.rank(target_dir, zoo, metrics=["knn"])


def test_other_providers_never_see_the_class_names(registry, tmp_path, target_dir):
    save_tiny_model(tmp_path / "weights" / "a.safetensors", num_classes=4, seed=0)
    zoo = write_zoo(tmp_path / "zoo.yaml", [local_entry("timm-a", "weights/a.safetensors", 4)])
    (target_dir / "classes.yaml").write_text("class_1: ''\n")  # would be an error, were it read
    entries = api._with_classes(api.load_zoo(zoo), api.load_target(target_dir), registry)
    assert "target_classes" not in entries.entries["timm-a"].options


def test_pickle_only_clip_is_refused(registry, tmp_path):
    folder = save_clip(tmp_path / "clip")
    (folder / "open_clip_model.safetensors").rename(folder / "open_clip_pytorch_model.bin")
    zoo = write_zoo(tmp_path / "zoo.yaml", [{"name": "clip", "provider": "open_clip", "path": "clip"}])
    with pytest.raises(UnsafeWeightsError, match="has no open_clip_model.safetensors; pickle checkpoints"):
        registry.provider("open_clip").load(next(iter(api.load_zoo(zoo))))


def test_a_zoo_of_timm_transformers_and_open_clip_ranks_and_distills_reusing_every_cache(
    registry,
    hub_server,  # noqa: F811
    tmp_path,
    target_dir,
):
    hub_server.add_revision("org/tiny-clip", "v1", files_of(save_clip(tmp_path / "hub-clip", seed=3)))
    save_vit(tmp_path / "vit")
    save_tiny_model(tmp_path / "weights" / "a.safetensors", num_classes=4, seed=0)
    zoo = write_zoo(
        tmp_path / "zoo.yaml",
        [
            local_entry("timm-a", "weights/a.safetensors", 4),
            {"name": "vit", "provider": "transformers", "path": "vit"},
            {
                "name": "clip",
                "provider": "open_clip",
                "repo": "org/tiny-clip",
                "revision": hub_server.commit_of("org/tiny-clip", "v1"),
            },
        ],
    )
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
        metric="knn",
    )
    first = api.run(target_dir, zoo, out=tmp_path / "run1", **settings)
    assert set(first.metrics["alpha"]) == {"timm-a", "vit", "clip"}
    fetched = len(hub_server.seen("GET", "org/tiny-clip"))
    second = api.run(target_dir, zoo, out=tmp_path / "run2", **settings)
    assert second.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    assert len(hub_server.seen("GET", "org/tiny-clip")) == fetched
    ranked = api.rank(target_dir, zoo, metrics=["knn"])
    assert {s.name: s.cached for s in ranked.ranked} == {"timm-a": True, "vit": True, "clip": True}
