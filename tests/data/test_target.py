import numpy as np
import pytest
from PIL import Image

from zoo_distill.data.target import fingerprint, load_rgb, load_target
from zoo_distill.errors import DataError

from ..conftest import write_split


def test_scans_the_imagefolder_layout(target_dir):
    data = load_target(target_dir)
    assert data.class_names == ("class_0", "class_1", "class_2")
    assert len(data.train) == 18 and data.train.counts() == {"class_0": 6, "class_1": 6, "class_2": 6}
    assert len(data.unlabeled) == 10  # found at depth 2
    assert data.test is not None and len(data.test) == 12
    assert data.test.class_names == data.train.class_names


def test_explicit_split_paths(target_dir, tmp_path):
    data = load_target(labeled=target_dir / "train", test=target_dir / "test")
    assert len(data.train) == 18 and data.unlabeled == () and len(data.test) == 12


def test_grayscale_rgba_and_palette_become_rgb(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)
    for mode in ("L", "RGBA", "P", "LA"):
        path = tmp_path / f"im_{mode}.png"
        Image.fromarray(arr).convert(mode).save(path)
        img = load_rgb(path)
        assert img.mode == "RGB" and img.size == (8, 8)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, r"target folder .* does not exist"),
        (lambda root: (root / "train").mkdir(parents=True), r"train split .* has no class folders"),
        (lambda root: write_split(root / "train", 1, 3, 0), r"has 1 class; at least 2 are needed"),
        (
            lambda root: (write_split(root / "train", 2, 3, 0), (root / "train" / "empty").mkdir()),
            r"class folder\(s\) with no images: empty",
        ),
        (
            lambda root: (write_split(root / "train", 2, 3, 0), write_split(root / "test", 3, 2, 0)),
            r"test split .*: class\(es\) absent from the train split: class_2",
        ),
        (
            lambda root: (write_split(root / "train", 2, 3, 0), (root / "unlabeled").mkdir()),
            r"unlabeled split .* has no images",
        ),
        (
            lambda root: (
                (root / "train").mkdir(parents=True) or Image.new("RGB", (4, 4)).save(root / "train" / "a.png")
            ),
            r"images must sit in one sub-folder per class",
        ),
    ],
)
def test_bad_layouts_are_clear_errors(tmp_path, setup, message):
    root = tmp_path / "t"
    setup(root)
    with pytest.raises(DataError, match=message):
        load_target(root)


def test_corrupt_image_is_named_and_can_be_skipped(target_dir):
    bad = target_dir / "train" / "class_1" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=r"1 unreadable image\(s\): .*broken.png.*--skip-bad-images"):
        load_target(target_dir)
    data = load_target(target_dir, skip_bad_images=True)
    assert data.skipped == (bad,) and len(data.train) == 18


def test_truncated_image_is_detected(target_dir):
    path = target_dir / "train" / "class_0" / "000.png"
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DataError, match="000.png"):
        load_target(target_dir)


def test_fingerprint_changes_with_files_and_labels(target_dir):
    data = load_target(target_dir)
    fp = fingerprint(data.train.paths, data.train.labels)
    assert fp == fingerprint(data.train.paths, data.train.labels)
    assert fp != fingerprint(data.train.paths[:-1], data.train.labels[:-1])
    assert fp != fingerprint(data.train.paths, [0] * len(data.train))
    Image.new("RGB", (32, 32), (1, 2, 3)).save(data.train.paths[0])
    assert fp != fingerprint(data.train.paths, data.train.labels)
