"""The one image decoder: every view, feature, evaluation and prediction reads pixels through ``load_rgb``.

One function, so that what the teachers saw at ranking time, what the student trains on and what
``eval`` / ``predict`` classify are the same pixels: upright (EXIF orientation applied, as a phone
photo is shown), 8-bit RGB with their content kept, and a file too large to decode safely refused
by name instead of a raw ``DecompressionBombWarning`` on stderr.
"""

from __future__ import annotations

import re
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from zoo_distill.errors import DataError

__all__ = ["DECODER_VERSION", "image_size", "load_rgb", "reason"]

#: Bumped when the same file decodes to other pixels (2: EXIF orientation applied); part of the data
#: fingerprint, so features cached from the old pixels are not reused for the new ones.
DECODER_VERSION = 2

_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


def reason(exc: BaseException) -> str:
    """Why an image or a folder cannot be used, in words (Pillow's own messages repeat the path)."""
    if isinstance(exc, _BOMB):
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
        return f"it declares {declared}, more than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} (a decompression bomb?)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format Pillow can decode"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _scaled_to_8bit(img: Image.Image) -> Image.Image:
    """A single-channel image of more than 8 bits (I;16*, I, F) as 8-bit L, keeping its content.

    ``convert("RGB")`` clips these at 255, so a 16-bit scan comes out almost all white. 16-bit
    data is scaled by the range of its type (>> 8); 32-bit integers that fit 8 or 16 bits are
    read as such, larger ones min-max scaled; floats in [0, 1] or [0, 255] are scaled to 8 bits,
    others min-max scaled (NaN as 0, infinities as the extreme finite values).
    """
    values = np.asarray(img)
    if img.mode.startswith("I;16"):
        out = values.astype(np.uint32) >> 8
    else:
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        top, bottom = (float(finite.max()), float(finite.min())) if finite.size else (0.0, 0.0)
        values = np.nan_to_num(values, nan=0.0, posinf=top, neginf=bottom)  # inf: as the brightest finite pixel
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if img.mode == "F" and low >= 0 and high <= 1:
            out = values * 255.0
        elif low >= 0 and high <= 255:
            out = values
        elif img.mode == "I" and low >= 0 and high <= 65535:
            out = values / 257.0
        else:
            out = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Every Pillow mode as RGB; transparent pixels are composited on white."""
    if img.mode.startswith("I") or img.mode == "F":
        return _scaled_to_8bit(img).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA") if img.mode != "La" else img.convert("LA").convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")


def _upright(img: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: rotated or flipped by its EXIF orientation tag, if any.

    A damaged EXIF block leaves the pixels as stored (as image viewers do): the orientation is
    metadata, and the pixels themselves decoded."""
    try:
        orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    except (ValueError, SyntaxError, OSError, struct.error, KeyError, TypeError, IndexError):
        return img
    if orientation in (None, 1):
        return img
    try:
        return ImageOps.exif_transpose(img)
    except (ValueError, SyntaxError, OSError, struct.error, KeyError, TypeError, IndexError):
        return img


def load_rgb(path: Path) -> Image.Image:
    """Open any supported image as upright 8-bit RGB with its content kept (16-bit, float, alpha, CMYK...).

    Pillow's decompression-bomb warning (more than ``Image.MAX_IMAGE_PIXELS``) and its error (twice
    that) both become a DataError naming the file, so nothing is printed raw and ``--skip-bad-images``
    can skip and count it like any unreadable image. Its other warnings are about files it decodes
    anyway (a damaged EXIF block, ...): the image is used and nothing is printed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on files it decodes anyway ("Corrupt EXIF data", ...)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                return _to_rgb(_upright(img))
    except (UnidentifiedImageError, *_BOMB, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {reason(exc)}") from None


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the file's header (nothing decoded), or None when it cannot be opened or
    declares more pixels than Pillow allows; never a raw warning."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.size
    except (UnidentifiedImageError, *_BOMB, OSError, ValueError, SyntaxError):
        return None
