"""The complementary targets: classes from two source domains, so no single teacher covers the task."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_distill.synthetic import DOMAINS, generate
from zoo_distill.zoobench import SOURCE_DOMAINS, TARGETS, TargetSpec, ZoobenchSettings, target_spec
from zoo_distill.zoobench.build import (
    TARGET_TEST,
    TEACHER_HELD_OUT,
    TEACHER_TRAIN,
    ZoobenchBuild,
    _stream,
    build_target,
    target_depends,
)
from zoo_distill.zoobench.spec import complementary_targets

from .conftest import tiny_settings

COMPLEMENTARY = complementary_targets(t.name for t in TARGETS)


def _build(root: Path, name: str, settings: ZoobenchSettings) -> Path:
    build_target(root, name, settings, ZoobenchBuild(root, root / "zoo.yaml", {}, {}))
    return root / "targets" / name


def _pixel_digest(folder: Path) -> str:
    """Paths and decoded pixels of every image (not the PNG bytes, which depend on zlib)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.png")):
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(np.asarray(Image.open(p)).tobytes())
    return h.hexdigest()


def _pixels(folder: Path) -> set[bytes]:
    return {np.asarray(Image.open(p)).tobytes() for p in folder.rglob("*.png")}


def test_at_least_two_complementary_targets_each_split_between_two_sources():
    assert len(COMPLEMENTARY) >= 2
    for name in COMPLEMENTARY:
        spec = target_spec(name)
        domains = [domain for domain, _ in spec.parts]
        assert len(domains) == 2 and len(spec.helped_by) == 2 and set(spec.helped_by) <= set(SOURCE_DOMAINS)
        if set(domains) <= set(SOURCE_DOMAINS):  # a part drawn from a source's domain is helped by that source
            assert spec.helped_by == tuple(domains)
        assert spec.classes == () and sum(len(c) for _, c in spec.parts) == 10
        names = [DOMAINS[d].class_names[k] for d, classes in spec.parts for k in classes]
        assert len(set(names)) == len(names)
    helpers = [frozenset(target_spec(n).helped_by) for n in COMPLEMENTARY]
    assert len(set(helpers)) == len(helpers)  # different pairs of teachers


def test_full_preset_has_them_and_the_mini_demo_does_not():
    assert set(COMPLEMENTARY) <= set(ZoobenchSettings.full().targets)
    assert not complementary_targets(ZoobenchSettings.mini().targets)
    assert complementary_targets(["cyrillic", *COMPLEMENTARY, "lowercase"]) == COMPLEMENTARY


def test_parts_are_what_makes_a_target_complementary():
    with pytest.raises(ValueError, match="complementary"):
        TargetSpec("x", "digits", (0,), "complementary", ("digits",), "no parts")
    with pytest.raises(ValueError, match="complementary"):
        TargetSpec(
            "x",
            "digits+digits",
            (),
            "complementary",
            ("digits",),
            "one domain twice",
            (("digits", (0,)), ("digits", (1,))),
        )
    with pytest.raises(ValueError, match="complementary"):
        TargetSpec(
            "x", "digits", (0,), "near", ("digits",), "parts on a plain target", (("digits", (0,)), ("greek", (1,)))
        )


@pytest.mark.parametrize("name", COMPLEMENTARY)
def test_each_class_is_its_source_domain_rendered_from_the_target_stream(tmp_path, name):
    settings = tiny_settings(split_seeds=1)
    folder = _build(tmp_path, name, settings)
    spec = target_spec(name)
    index = [t.name for t in TARGETS].index(name)
    expected = [DOMAINS[d].class_names[k] for d, classes in spec.parts for k in classes]
    assert sorted(p.name for p in (folder / "test").iterdir()) == sorted(expected)
    for domain, classes in spec.parts:
        images, labels, names = generate(
            domain, settings.test_per_class, _stream(settings, TARGET_TEST, index), classes=list(classes)
        )
        for label, class_name in enumerate(names):
            written = [np.asarray(Image.open(p)) for p in sorted((folder / "test" / class_name).glob("*.png"))]
            assert len(written) == settings.test_per_class
            assert np.array_equal(np.stack(written), images[labels == label])
    assert sorted(p.name for p in (folder / "2shot-s0").iterdir()) == sorted(expected)
    assert len(list((folder / "unlabeled").glob("*.png"))) == 10 * settings.unlabeled_per_class


@pytest.mark.parametrize("name", COMPLEMENTARY)
def test_no_image_is_one_a_teacher_trained_or_was_checked_on(tmp_path, name):
    settings = tiny_settings(split_seeds=1, sources=SOURCE_DOMAINS)
    target = _pixels(_build(tmp_path, name, settings))
    assert len(target) == 10 * (3 + 3 + 2)
    for domain, classes in target_spec(name).parts:
        if domain not in settings.sources:
            continue  # a target domain: no teacher trains on it
        i = settings.sources.index(domain)
        for purpose, n in ((TEACHER_TRAIN, 20), (TEACHER_HELD_OUT, 20)):
            teacher, _, _ = generate(domain, n, _stream(settings, purpose, i), classes=list(classes))
            assert not target & {img.tobytes() for img in teacher}


def test_a_part_from_a_target_domain_shares_no_image_with_that_domain_s_own_target(tmp_path):
    settings = tiny_settings(split_seeds=1)
    mixed = _pixels(_build(tmp_path, "textured-shapes-and-digits", settings))
    for own in ("shapes-on-textures", "digits-on-textures"):
        assert not mixed & _pixels(_build(tmp_path, own, settings))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    name = COMPLEMENTARY[0]
    a = _build(tmp_path / "a", name, tiny_settings(split_seeds=1))
    b = _build(tmp_path / "b", name, tiny_settings(split_seeds=1))
    c = _build(tmp_path / "c", name, tiny_settings(split_seeds=1, seed=1))
    assert _pixel_digest(a) == _pixel_digest(b)
    assert (a / "stamp.json").read_bytes() == (b / "stamp.json").read_bytes()
    assert _pixel_digest(a) != _pixel_digest(c)


# Digests of tiny_settings(split_seeds=1) targets computed before complementary targets existed: the
# benchmark reuses built targets and runs by their stamps, so adding targets must not change them.
# (If a numpy/Pillow/matplotlib upgrade moves these, every kept zoobench artefact is stale too.)
PINNED = {
    "shapes-on-textures": "426e45ce6db49b47deeb9361df0fd108dff4628d977268018baa6cbcc3ac5d98",
    "handwritten-digits": "ae5e9a9eddf6e064b3f22103a27352999dab49983f8e236d308decb74b990eea",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_existing_targets_keep_their_bytes(tmp_path, name):
    assert _pixel_digest(_build(tmp_path, name, tiny_settings(split_seeds=1))) == PINNED[name]


def test_existing_targets_keep_their_stamps():
    s = tiny_settings(split_seeds=1)
    for spec in TARGETS:
        depends = target_depends(spec.name, s)
        if spec.kind == "complementary":
            assert depends["parts"] == [[d, list(c)] for d, c in spec.parts]
        else:
            assert set(depends) == {
                "version",
                "target",
                "domain",
                "classes",
                "seed",
                "shots",
                "split_seeds",
                "unlabeled_per_class",
                "test_per_class",
            }
    assert target_depends("shapes-on-textures", s) == {
        "version": target_depends("shapes-on-textures", s)["version"],
        "target": "shapes-on-textures",
        "domain": "shapes_on_textures",
        "classes": list(range(10)),
        "seed": 0,
        "shots": [2],
        "split_seeds": 1,
        "unlabeled_per_class": 3,
        "test_per_class": 3,
    }
    assert [t.name for t in TARGETS[:6]] == [
        "handwritten-digits",
        "lowercase",
        "greek-lowercase",
        "cyrillic",
        "shapes-on-textures",
        "digits-on-textures",
    ]  # positions seed images
