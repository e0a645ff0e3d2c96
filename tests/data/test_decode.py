"""The one decoder (data/decode.py): upright pixels, and a decompression bomb named, never a raw warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from zoo_distill.data.decode import image_size, load_rgb
from zoo_distill.data.target import load_target
from zoo_distill.errors import DataError

from ..conftest import png_header, write_split

UPRIGHT = np.dstack([np.tile(np.arange(32, dtype=np.uint8) * 8, (16, 1))] * 3)  # 32 wide, 16 high, a ramp
UPRIGHT[:4, :, 0] = 255  # a red band along the top: any rotation or flip moves it


def exif_rotated(path, orientation: int, stored: Image.Image, fmt: str) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, fmt, exif=exif.tobytes(), **({"quality": 100} if fmt == "JPEG" else {}))


# How a camera stores an upright scene for each EXIF orientation: the inverse of what the tag asks.
STORED = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    5: Image.Transpose.TRANSPOSE,
}


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_orientation_is_applied(tmp_path, orientation):
    path = tmp_path / "photo.png"
    exif_rotated(path, orientation, Image.fromarray(UPRIGHT).transpose(STORED[orientation]), "PNG")
    assert np.array_equal(np.asarray(load_rgb(path)), UPRIGHT)


def test_a_rotated_jpeg_phone_photo_is_read_upright(tmp_path):
    path = tmp_path / "phone.jpg"
    exif_rotated(path, 6, Image.fromarray(UPRIGHT).transpose(STORED[6]), "JPEG")
    pixels = np.asarray(load_rgb(path)).astype(int)
    assert pixels.shape == UPRIGHT.shape and np.abs(pixels - UPRIGHT).mean() < 4


@pytest.mark.parametrize("side", [10_000, 100_000])  # Pillow's warning (> 89 M pixels), then its error (2x)
def test_decompression_bombs_are_errors_naming_the_file(tmp_path, side):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(side, side))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw warning would fail here
        with pytest.raises(
            DataError, match=f"cannot read image {path}: it declares {side * side:,} pixels, more than Pillow's limit"
        ):
            load_rgb(path)


def test_a_bomb_in_a_target_is_skipped_and_counted(tmp_path):
    root = tmp_path / "t"
    write_split(root / "train", 2, 2, seed=0)
    bomb = root / "train" / "class_0" / "bomb.png"
    bomb.write_bytes(png_header(10_000, 10_000))
    with pytest.raises(DataError, match=r"1 unreadable image\(s\): .*bomb.png \(it declares 100,000,000 pixels"):
        load_target(root)
    assert load_target(root, skip_bad_images=True).skipped == (bomb,)


def test_image_size_reads_the_header_and_never_warns(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (tmp_path / "huge.png").write_bytes(png_header(10_000, 10_000))
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "ok.png").write_bytes(png_header(40, 30))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [image_size(tmp_path / n) for n in ("bomb.png", "huge.png", "text.png", "ok.png")] == [
            None,
            None,
            None,
            (40, 30),
        ]
