import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_distill.plugin.manager import get_registry
from zoo_distill.zoo.file import load_zoo
from zoo_distill.zoo.weights import load_state_dict
from zoo_distill.zoobench import TARGETS, ZoobenchSettings, build_zoobench

from .conftest import tiny_settings


def _digest_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_presets_fit_the_issue():
    full, mini = ZoobenchSettings.full(), ZoobenchSettings.mini()
    assert len(full.targets) >= 6 and {5, 20} <= set(full.shots) and full.split_seeds >= 3
    kinds = {t.kind for t in TARGETS}
    assert kinds == {"near", "several", "complementary"}
    assert any(t.domain == "sklearn_digits" for t in TARGETS)  # the real handwritten digits
    assert "cyrillic" not in full.sources  # the uncovered script stays uncovered
    assert set(mini.targets) <= set(full.targets)


def test_tiny_build_writes_a_loadable_zoo_and_disjoint_targets(tiny_zoobench):
    b = tiny_zoobench
    zoo = load_zoo(b.zoo, get_registry(), include_plugins=False)
    assert sorted(zoo.entries) == ["digits-net", "shapes-net"]
    for entry in zoo.entries.values():
        teacher = get_registry().provider(entry.provider).load(entry)
        assert teacher.num_source_classes == {"digits-net": 10, "shapes-net": 12}[entry.name]
    state = load_state_dict(b.generic["test_resnet"] / "model.safetensors", "generic")
    assert state and json.loads((b.generic["test_resnet"] / "config.json").read_text())["pretrained_cfg"]
    splits = b.targets["handwritten-digits"]
    test = sorted(Path(splits.test).rglob("*.png"))
    unlabeled = sorted(Path(splits.unlabeled).glob("*.png"))
    assert len(test) == 10 * 3 and len(unlabeled) == 10 * 3
    assert sorted(splits.train) == ["2shot-s0", "2shot-s1"]
    pixels = {
        split: {np.asarray(Image.open(p)).tobytes() for p in paths}
        for split, paths in {
            "test": test,
            "unlabeled": unlabeled,
            "train": sorted(Path(splits.train["2shot-s0"]).rglob("*.png")),
        }.items()
    }
    assert len(pixels["train"]) == 20
    assert not (pixels["train"] & pixels["test"]) and not (pixels["train"] & pixels["unlabeled"])
    assert not (pixels["test"] & pixels["unlabeled"])


def test_second_build_reuses_everything(tiny_zoobench):
    again = build_zoobench(tiny_zoobench.root, tiny_settings())
    assert again.built == [] and len(again.reused) == 2 + 2 + 2
    assert again.teacher_accuracy == tiny_zoobench.teacher_accuracy


def test_a_changed_setting_rebuilds_only_what_depends_on_it(tmp_path):
    build_zoobench(tmp_path, tiny_settings(targets=("shapes-on-textures",)))
    changed = build_zoobench(tmp_path, tiny_settings(targets=("shapes-on-textures",), source_per_class=4))
    assert sorted(changed.built) == ["teachers/digits", "teachers/shapes"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    settings = tiny_settings(targets=("shapes-on-textures",), sources=("shapes",), split_seeds=1)
    a = build_zoobench(tmp_path / "a", settings)
    b = build_zoobench(tmp_path / "b", settings)
    for part in ("targets", "teachers", "generic"):
        tree_a, tree_b = _digest_tree(a.root / part), _digest_tree(b.root / part)
        assert tree_a == tree_b and tree_a, part
    c = build_zoobench(
        tmp_path / "c", tiny_settings(targets=("shapes-on-textures",), sources=("shapes",), split_seeds=1, seed=1)
    )
    assert _digest_tree(a.root / "targets") != _digest_tree(c.root / "targets")
    assert _digest_tree(a.root / "teachers") != _digest_tree(c.root / "teachers")


def test_an_interrupted_target_is_rebuilt_not_trusted(tmp_path):
    settings = tiny_settings(targets=("shapes-on-textures",), sources=("shapes",), split_seeds=1)
    build_zoobench(tmp_path, settings)
    (tmp_path / "targets" / "shapes-on-textures" / "stamp.json").unlink()  # as if killed before the stamp
    again = build_zoobench(tmp_path, settings)
    assert "targets/shapes-on-textures" in again.built


def test_bad_source_domain_is_named(tmp_path):
    with pytest.raises(ValueError, match="sklearn_digits"):
        build_zoobench(tmp_path, tiny_settings(sources=("sklearn_digits",)))
