"""The one image discovery (data/discover.py): Pillow's extensions, links followed once, special
files and run folders left out and counted, broken links named."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_distill.data.discover import LeftOut, find_images, image_extensions
from zoo_distill.data.target import load_target, scan_labeled, scan_unlabeled
from zoo_distill.errors import DataError

from ..conftest import write_split


def image(path: Path, seed: int = 0, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)
    return path


def test_extensions_are_pillows_registered_ones():
    extensions = image_extensions()
    assert {".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".tga", ".ico", ".bmp", ".webp", ".tif", ".ppm"} <= extensions
    assert not {".pdf", ".eps", ".mpg", ".h5", ".wmf", ".txt", ""} & extensions  # save-only, external, stubs


def test_other_extensions_and_upper_case(tmp_path):
    formats = {"a.jfif": "JPEG", "b.jpe": "JPEG", "c.tga": "TGA", "d.ico": "ICO", "e.JPG": "JPEG", "f.PNG": "PNG"}
    for i, (name, fmt) in enumerate(formats.items()):
        image(tmp_path / name, i, fmt)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "x.png.bak").write_bytes(b"")
    (tmp_path / ".DS_Store").write_bytes(b"")
    left_out = LeftOut()
    assert [p.name for p in find_images(tmp_path, left_out)] == sorted(formats)
    assert left_out.counts() == {"other": 2}  # the hidden file is not counted
    assert "2 file(s) whose extension is not an image format" in left_out.note()


def test_symlinked_folders_are_followed_once(tmp_path):
    pool, elsewhere = tmp_path / "unlabeled", tmp_path / "elsewhere"
    image(pool / "a" / "0.png", 0)
    image(elsewhere / "1.png", 1)
    (pool / "linked").symlink_to(elsewhere)
    (pool / "again").symlink_to(elsewhere)  # a second link to a folder already listed
    (pool / "a" / "loop").symlink_to(pool)  # back to the top
    (pool / "a" / "up").symlink_to(tmp_path)  # above the top: would list the pool again
    (pool / "self").symlink_to(pool / "a")
    left_out = LeftOut()
    found = find_images(pool, left_out)
    assert [p.relative_to(pool).as_posix() for p in found] == ["a/0.png", "again/1.png"]
    assert left_out.counts() == {"repeated": 4}


@pytest.mark.parametrize("kind", ["image", "class folder", "unlabeled folder", "loop on itself"])
def test_broken_links_are_errors_naming_them(tmp_path, kind):
    root = tmp_path / "t"
    write_split(root / "train", 2, 2, seed=0)
    image(root / "unlabeled" / "u.png", 5)
    link = {
        "image": root / "train" / "class_0" / "gone.png",
        "class folder": root / "train" / "class_9",
        "unlabeled folder": root / "unlabeled" / "more",
        "loop on itself": root / "train" / "class_1" / "x.png",
    }[kind]
    link.symlink_to(link.name if kind == "loop on itself" else tmp_path / "missing")
    with pytest.raises(DataError, match=f"broken symbolic link {link} -> .*; fix or remove it"):
        load_target(root)


def test_special_files_are_never_opened(tmp_path):
    folder = tmp_path / "class_0"
    image(folder / "0.png")
    os.mkfifo(folder / "x.jfif")  # opening it would wait for a writer for ever
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(folder / "s.png"))
        except OSError:  # a path too long for a socket: the FIFO alone is the case
            pass
        left_out = LeftOut()
        assert [p.name for p in find_images(folder, left_out)] == ["0.png"]
    assert left_out.counts()["special"] in (1, 2)


def test_run_folders_are_left_out(tmp_path):
    root = tmp_path / "t"
    write_split(root / "train", 2, 2, seed=0)
    for run in (root / "train" / "class_0" / "run", root / "train" / "run-at-class-level", root / "unlabeled" / "r"):
        image(run / "curves.png", 9)
        (run / "run.json").write_text("{}")
    image(root / "unlabeled" / "u.png", 5)
    data = load_target(root, check=("train", "unlabeled"))
    assert data.class_names == ("class_0", "class_1") and len(data.train) == 4
    assert [p.name for p in data.unlabeled] == ["u.png"]
    assert "3 run folder(s) (holding run.json)" in data.notes[0]
    with pytest.raises(DataError, match="is a run folder"):
        scan_unlabeled(root / "unlabeled" / "r")


def test_loose_files_beside_class_folders_are_counted(tmp_path):
    write_split(tmp_path / "train", 2, 2, seed=0)
    image(tmp_path / "train" / "stray.png")
    left_out = LeftOut()
    assert len(scan_labeled(tmp_path / "train", "train", left_out=left_out)) == 4
    assert left_out.counts() == {"loose": 1}


def test_a_plain_tree_is_found_as_before(tmp_path):
    """A PNG/JPEG tree without links or extras: the same files in the same order, nothing noted."""
    root = tmp_path / "t"
    write_split(root / "train", 2, 3, seed=0)
    write_split(root / "test", 2, 2, seed=1, fmt="jpg")
    for i in range(3):
        image(root / "unlabeled" / "deep" / f"{i}.jpeg", 10 + i, "JPEG")
    data = load_target(root)
    expected = sorted(p for p in (root / "train").rglob("*") if p.is_file())
    assert list(data.train.paths) == expected and data.notes == ()
    assert list(data.unlabeled) == sorted((root / "unlabeled").rglob("*.jpeg"))


def test_a_folder_that_cannot_be_searched_is_named(tmp_path, monkeypatch):
    """As chmod 000 does for a user (root ignores it): listing the folder and any stat inside it fail."""
    import errno

    root = tmp_path / "t"
    write_split(root / "train", 2, 2, seed=0)
    blocked = root / "train" / "class_1"
    real_scandir, real_stat = os.scandir, os.stat

    def refuse(path, inside: bool) -> None:
        if (Path(os.fsdecode(path)).parent if inside else Path(os.fsdecode(path))) == blocked:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    monkeypatch.setattr(os, "scandir", lambda path=".": refuse(path, False) or real_scandir(path))
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: refuse(path, True) or real_stat(path, *a, **k))
    with pytest.raises(DataError, match=f"cannot read folder {blocked}: permission denied"):
        load_target(root)
