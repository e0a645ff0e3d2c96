import json
import os

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from zoo_distill.errors import UnsafeWeightsError, ZooDistillError
from zoo_distill.runs import export
from zoo_distill.runs.export import load_student, save_student

from ..conftest import TINY_CFG

LABELS = ["cat", "dog", "emu"]


def _trained(arch: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    """A tiny model whose weights and BatchNorm statistics all differ from a fresh init."""
    torch.manual_seed(seed)
    model = timm.create_model(arch, num_classes=3, **kwargs)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor) * 0.1)
    return model.eval()


def _overlay_cfg(model: torch.nn.Module, path) -> dict:
    return dict(file=str(path), num_classes=model.num_classes)


@pytest.mark.parametrize("arch", ["test_convnext", "test_resnet"])
def test_exact_roundtrip_through_zoo_distill_and_both_timm_paths(tmp_path, arch):
    model = _trained(arch)
    weights = save_student(tmp_path / "run", model, arch, 3, TINY_CFG, LABELS)
    assert weights == tmp_path / "run" / "student.safetensors"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        ours, config = load_student(tmp_path / "run")
        local = timm.create_model("local-dir:" + str(tmp_path / "run"), pretrained=True).eval()
        # num_classes in the overlay too: otherwise timm drops the classifier as "not matching 1000 classes"
        by_file = timm.create_model(
            arch, pretrained=True, num_classes=3, pretrained_cfg_overlay=_overlay_cfg(model, weights)
        ).eval()
        for loaded in (ours, local, by_file):
            assert torch.equal(loaded(x), expected)
    assert not ours.training
    assert config["architecture"] == arch
    assert list(local.pretrained_cfg["label_names"]) == LABELS
    assert tuple(local.pretrained_cfg["input_size"]) == (3, 32, 32)
    assert ours.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)


def test_config_json_has_timm_fields(tmp_path):
    model = _trained("test_convnext")
    cfg = {**TINY_CFG, "crop_mode": "squash"}
    save_student(tmp_path, model, "test_convnext", 3, cfg, LABELS, extra={"zoo_distill": {"method": "distill"}})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "test_convnext"
    assert config["num_classes"] == 3
    assert config["num_features"] == model.num_features
    assert config["global_pool"] == "avg"
    assert config["label_names"] == LABELS
    assert config["zoo_distill"] == {"method": "distill"}
    pre = config["pretrained_cfg"]
    assert pre["input_size"] == [3, 32, 32]
    assert pre["mean"] == [0.5, 0.5, 0.5] and pre["std"] == [0.5, 0.5, 0.5]
    assert pre["interpolation"] == "bilinear" and pre["crop_pct"] == 1.0 and pre["crop_mode"] == "squash"
    assert pre["num_classes"] == 3
    assert pre["classifier"] == "head.fc"
    assert not {"file", "url", "hf_hub_id", "source", "architecture"} & set(pre)


def test_fixed_size_model_args_roundtrip(tmp_path):
    model = _trained("test_vit", img_size=32)
    save_student(tmp_path, model, "test_vit", 3, TINY_CFG, LABELS)
    assert json.loads((tmp_path / "config.json").read_text())["model_args"]["img_size"] == [32, 32]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_student(tmp_path)[0](x), model(x))
        local = timm.create_model("local-dir:" + str(tmp_path), pretrained=True).eval()
        assert torch.equal(local(x), model(x))


def test_local_dir_ignores_a_training_checkpoint_beside_it(tmp_path):
    """timm globs *.safetensors when model.safetensors is absent; 'checkpoint' sorts before 'student'."""
    other = _trained("test_convnext", seed=1)
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "checkpoint.safetensors"))
    model = _trained("test_convnext")
    save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        local = timm.create_model("local-dir:" + str(tmp_path), pretrained=True).eval()
        assert torch.equal(local(x), model(x))
        assert not torch.equal(other(x), model(x))


def test_files_are_replaced_atomically_and_linked(tmp_path):
    for name in ("student.safetensors", "model.safetensors", "config.json"):
        (tmp_path / name).write_text("stale")
    model = _trained("test_convnext")
    save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors", "student.safetensors"]
    assert os.path.samefile(tmp_path / "student.safetensors", tmp_path / "model.safetensors")
    state = load_file(str(tmp_path / "student.safetensors"))
    assert state.keys() == model.state_dict().keys()
    assert json.loads((tmp_path / "config.json").read_text())["architecture"] == "test_convnext"
    # saving again over an existing export replaces it in place
    second = _trained("test_convnext", seed=3)
    save_student(tmp_path, second, "test_convnext", 3, TINY_CFG, LABELS)
    assert len(list(tmp_path.iterdir())) == 3
    assert torch.equal(
        load_file(str(tmp_path / "model.safetensors"))["head.fc.weight"], second.state_dict()["head.fc.weight"]
    )


def test_copy_when_hard_links_are_unsupported(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError("links not supported")

    monkeypatch.setattr(export.os, "link", no_link)
    model = _trained("test_convnext")
    save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS)
    assert not os.path.samefile(tmp_path / "student.safetensors", tmp_path / "model.safetensors")
    assert (tmp_path / "student.safetensors").read_bytes() == (tmp_path / "model.safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors", "student.safetensors"]


def test_save_refuses_inconsistent_inputs(tmp_path):
    model = _trained("test_convnext")
    with pytest.raises(ZooDistillError, match="does not match the model's architecture 'test_convnext'"):
        save_student(tmp_path, model, "resnet10t", 3, TINY_CFG, LABELS)
    with pytest.raises(ZooDistillError, match="num_classes=4 but the model has 3"):
        save_student(tmp_path, model, "test_convnext", 4, TINY_CFG, LABELS + ["x"])
    with pytest.raises(ZooDistillError, match="2 label_names for 3 classes"):
        save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS[:2])
    with pytest.raises(ZooDistillError, match=r"extra config keys \['architecture'\]"):
        save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS, extra={"architecture": "x"})
    with pytest.raises(ZooDistillError, match="not timm PretrainedCfg fields"):
        save_student(tmp_path, model, "test_convnext", 3, {**TINY_CFG, "bogus": 1}, LABELS)
    model.kd_head = torch.nn.Linear(2, 2)  # a distillation head left on the model is not timm's
    with pytest.raises(ZooDistillError, match=r"extra \['kd_head.bias', 'kd_head.weight'\]"):
        save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS)
    assert list(tmp_path.iterdir()) == []


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(ZooDistillError, match=f"run directory {tmp_path / 'absent'} does not exist"):
        load_student(tmp_path / "absent")
    with pytest.raises(ZooDistillError, match="config.json does not exist"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ZooDistillError, match="config.json is not valid JSON"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "no_such_net", "num_classes": 3}))
    with pytest.raises(ZooDistillError, match="neither student.safetensors nor model.safetensors"):
        load_student(tmp_path)
    save_file({"w": torch.zeros(1)}, str(tmp_path / "student.safetensors"))
    with pytest.raises(ZooDistillError, match="config.json: unknown timm architecture 'no_such_net'"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "test_convnext"}))
    with pytest.raises(ZooDistillError, match="field 'num_classes'"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "test_convnext", "num_classes": 3}))
    with pytest.raises(ZooDistillError, match="do not fit the architecture"):
        load_student(tmp_path)


@pytest.mark.parametrize("with_student", [False, True])
def test_pickle_named_model_safetensors_is_refused(tmp_path, with_student):
    model = _trained("test_convnext")
    save_student(tmp_path, model, "test_convnext", 3, TINY_CFG, LABELS)
    if not with_student:
        (tmp_path / "student.safetensors").unlink()
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "model.safetensors")
    with pytest.raises(UnsafeWeightsError, match="model.safetensors is a pickle"):
        load_student(tmp_path)


def test_diverging_weight_names_are_refused(tmp_path):
    save_student(tmp_path, _trained("test_convnext"), "test_convnext", 3, TINY_CFG, LABELS)
    (tmp_path / "model.safetensors").unlink()
    other = _trained("test_convnext", seed=5)
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ZooDistillError, match="hold different weights"):
        load_student(tmp_path)
    # a directory written by timm itself (model.safetensors only) loads
    (tmp_path / "student.safetensors").unlink()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_student(tmp_path)[0](x), other(x))
