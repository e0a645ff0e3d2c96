"""Images shared between splits, by content (data/overlap.py, load_target)."""

from __future__ import annotations

import os
import shutil

import pytest

from zoo_distill.data.overlap import ContentIndex
from zoo_distill.data.target import load_target
from zoo_distill.errors import DataError

from ..conftest import write_split
from .test_discover import image


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "t"
    write_split(root / "train", 2, 3, seed=0)
    write_split(root / "test", 2, 2, seed=1)
    image(root / "unlabeled" / "u.png", 7)
    return root


def test_no_overlap_no_note(root):
    assert load_target(root).notes == ()


@pytest.mark.parametrize("split", ["train/class_1", "unlabeled"])
def test_a_test_image_among_the_training_images_is_refused(root, split):
    copy = root / split / "renamed.png"
    shutil.copy(root / "test" / "class_0" / "001.png", copy)
    name = split.split("/")[0]
    with pytest.raises(DataError, match=f"the {name} split .* holds 1 image\\(s\\) of the test split .*renamed.png"):
        load_target(root)


def test_unlabeled_pointing_at_the_target_root_is_refused(root):
    with pytest.raises(DataError, match="the unlabeled split .* holds 4 image\\(s\\) of the test split"):
        load_target(root, unlabeled=root)


def test_a_test_split_that_is_the_train_split_is_refused(root):
    with pytest.raises(DataError, match="the train split .* holds 6 image\\(s\\) of the test split"):
        load_target(root, test=root / "train")


def test_labeled_images_in_the_pool_are_noted_not_refused(root):
    os.link(root / "train" / "class_0" / "000.png", root / "unlabeled" / "hard-link.png")
    shutil.copy(root / "train" / "class_1" / "000.png", root / "unlabeled" / "copy.png")
    data = load_target(root)
    assert len(data.unlabeled) == 3
    assert data.notes[0].startswith("2 of the 3 unlabeled images are also labeled images of the train split")


def test_only_files_of_a_shared_size_are_read(tmp_path, monkeypatch):
    small, large = image(tmp_path / "a.png", 0), tmp_path / "b.bin"
    large.write_bytes(b"x" * 10_000)
    index, read = ContentIndex(), []
    original = index.digest
    monkeypatch.setattr(index, "digest", lambda path: read.append(path.name) or original(path))
    assert index.shared([small], [large]) == []
    assert read == []
    twin = tmp_path / "c.bin"
    twin.write_bytes(b"y" * 10_000)  # same size, other bytes: read, and not the same
    assert index.shared([twin], [large]) == [] and sorted(set(read)) == ["b.bin", "c.bin"]


def test_empty_files_are_not_the_same_image(root):
    (root / "test" / "class_0" / "empty.png").write_bytes(b"")
    (root / "train" / "class_0" / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"2 unreadable image\(s\)"):  # named as unreadable, not as shared
        load_target(root, check=("train", "test"))
