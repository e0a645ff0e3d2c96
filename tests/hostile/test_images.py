"""Images of every common mode keep their content when read (issue 15, item 3): a gradient stays a
gradient. Each image is made here, in the mode and format under test."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_distill.data.target import load_rgb

from .harness import S_LOST, documented

SIDE = 64
RAMP = np.tile(np.linspace(0.0, 1.0, SIDE), (SIDE, 1))  # left black, right white


def png16(values: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA."""
    height, width = values.shape[:2]
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def saved(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def _u16(scale: float = 65535) -> np.ndarray:
    return np.rint(RAMP * scale).astype(np.uint16)


def _palette_with_transparency() -> bytes:
    image = Image.fromarray(np.rint(RAMP * 255).astype(np.uint8), "L").convert("P")
    return saved(image, "PNG", transparency=255)  # the brightest index is transparent


FULL_RANGE = {
    "I;16 PNG (16-bit gray)": lambda: saved(Image.fromarray(_u16()), "PNG"),
    "I;16 TIFF": lambda: saved(Image.fromarray(_u16()), "TIFF"),
    "I TIFF holding 16-bit values": lambda: saved(Image.fromarray(_u16().astype(np.int32)), "TIFF"),
    "I TIFF holding 8-bit values": lambda: saved(Image.fromarray(_u16(255).astype(np.int32)), "TIFF"),
    "I TIFF with negative values": lambda: saved(Image.fromarray((RAMP * 2e6 - 1e6).astype(np.int32)), "TIFF"),
    "F TIFF in [0, 1]": lambda: saved(Image.fromarray(RAMP.astype(np.float32)), "TIFF"),
    "F TIFF in [0, 255]": lambda: saved(Image.fromarray((RAMP * 255).astype(np.float32)), "TIFF"),
    "F TIFF in [-5, 5000]": lambda: saved(Image.fromarray((RAMP * 5005 - 5).astype(np.float32)), "TIFF"),
    "16-bit RGB PNG": lambda: png16(np.repeat(_u16()[..., None], 3, axis=2), 2),
    "16-bit RGBA PNG, opaque": lambda: png16(np.dstack([_u16()] * 3 + [np.full((SIDE, SIDE), 65535)]), 6),
    "16-bit gray+alpha PNG, opaque": lambda: png16(np.dstack([_u16(), np.full((SIDE, SIDE), 65535)]), 4),
    "LA PNG, opaque": lambda: saved(Image.fromarray(np.rint(RAMP * 255).astype(np.uint8)).convert("LA"), "PNG"),
    "CMYK JPEG": lambda: saved(
        Image.fromarray(np.rint(RAMP * 255).astype(np.uint8)).convert("CMYK"), "JPEG", quality=95
    ),
    "CMYK TIFF": lambda: saved(Image.fromarray(np.rint(RAMP * 255).astype(np.uint8)).convert("CMYK"), "TIFF"),
    "1-bit PNG": lambda: saved(Image.fromarray(RAMP > 0.5), "PNG"),
}


def _luminance(path: Path) -> np.ndarray:
    image = load_rgb(path)
    assert image.mode == "RGB" and image.size == (SIDE, SIDE)
    return np.asarray(image, dtype=np.float64).mean(axis=2)


@documented(
    S_LOST,
    "16-bit grayscale (I;16), 32-bit (I), float (F), 16-bit RGB/RGBA/gray+alpha PNGs, LA, "
    "CMYK JPEG/TIFF and 1-bit images, each a left-to-right gradient",
    "Read as 8-bit RGB with the gradient kept: dark on the left, bright on the right, never decreasing "
    "(a 16-bit PNG used to read 99.7% white).",
)
@pytest.mark.parametrize("make", FULL_RANGE.values(), ids=FULL_RANGE.keys())
def test_every_mode_keeps_the_gradient(tmp_path, make):
    path = tmp_path / "image.bin"
    path.write_bytes(make())
    columns = _luminance(path).mean(axis=0)
    assert columns[:4].max() < 40 and columns[-4:].min() > 215, columns
    assert np.all(np.diff(columns) >= -3), "the gradient is not kept"
    assert (columns > 250).mean() <= 0.5, "most of the image reads white"  # 16-bit PNGs read 99.7% white


@documented(
    S_LOST,
    "A float (F) image with NaN and infinite pixels",
    "NaN reads as black, +inf as the brightest finite value; the rest keeps its gradient.",
)
def test_float_image_with_nan_and_inf(tmp_path):
    values = (RAMP * 1000).astype(np.float32)
    values[0, 0], values[0, 1], values[0, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / "f.tiff"
    Image.fromarray(values).save(path)
    lum = _luminance(path)
    assert lum[0, 0] == 0 and lum[0, 1] == 255 and lum[0, 2] == 0
    assert np.all(np.diff(lum[1:].mean(axis=0)) >= -1) and lum[1:, -1].min() > 250


@documented(
    S_LOST,
    "Transparency: a P (palette) PNG with a transparent index, LA/RGBA/16-bit RGBA half transparent",
    "Transparent pixels are composited on white; opaque ones keep their value.",
)
@pytest.mark.parametrize("kind", ["palette", "LA", "RGBA", "RGBA16"])
def test_transparency_is_composited_on_white(tmp_path, kind):
    path = tmp_path / "image.png"
    gray = np.rint(RAMP * 200).astype(np.uint8)
    alpha = np.where(np.arange(SIDE)[None, :].repeat(SIDE, 0) < SIDE // 2, 255, 0).astype(np.uint8)
    if kind == "palette":
        path.write_bytes(_palette_with_transparency())
        lum = _luminance(path)
        assert lum[:, 0].max() < 10 and lum[:, -1].min() == 255  # the transparent brightest index: white
        return
    if kind == "LA":
        Image.fromarray(np.dstack([gray, alpha]), "LA").save(path)
    elif kind == "RGBA":
        Image.fromarray(np.dstack([gray] * 3 + [alpha]), "RGBA").save(path)
    else:
        path.write_bytes(png16(np.dstack([gray.astype(np.uint16) * 257] * 3 + [alpha.astype(np.uint16) * 257]), 6))
    lum = _luminance(path)
    assert np.abs(lum[:, : SIDE // 2] - gray[:, : SIDE // 2]).max() <= 1  # opaque half: as drawn
    assert lum[:, SIDE // 2 :].min() == 255  # transparent half: white
