"""Glyph rendering from the DejaVu fonts that ship inside matplotlib (never the system's fonts).

``font_files()`` lists every ``DejaVu*.ttf`` in ``matplotlib.get_data_path()/fonts/ttf``;
``fonts_covering(chars)`` keeps those that have a real glyph for every character (the two
``*Display`` files only hold a handful of large operators, so they drop out of every domain; a
font set is chosen per domain, not per class, so the font never gives the class away).

``render_glyph`` draws one glyph at 4x resolution with a random font, stroke width, aspect and
size, rotates it (default ±15°), crops it tight so it is never clipped, places it at a random
offset (by default within the middle half of the free margin: objects stay roughly centred, as
in real datasets) and box-downsamples the coverage mask; ``composite`` blends it over a colour
or a background image. All randomness comes from the ``np.random.Generator`` passed in.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "SIZE",
    "SUPERSAMPLE",
    "colour_contrasting_with",
    "composite",
    "contrasting_colours",
    "downsample_alpha",
    "fit_mask",
    "font_dir",
    "font_files",
    "fonts_covering",
    "glyph_alpha",
    "has_glyph",
    "load_font",
    "luminance",
    "render_glyph",
]

SIZE = 32  # output side in pixels
SUPERSAMPLE = 4  # render at SIZE * SUPERSAMPLE, then downsample
_GLYPH_PT = 96  # point size of the high-resolution glyph before it is fitted to the canvas


def font_dir() -> Path:
    """The folder of TrueType fonts bundled with matplotlib."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.lru_cache(maxsize=None)
def font_files() -> tuple[Path, ...]:
    """Every DejaVu font file matplotlib ships (Sans, Serif, Mono and their styles), sorted."""
    files = tuple(sorted(font_dir().glob("DejaVu*.ttf")))
    if not files:
        raise FileNotFoundError(f"no DejaVu*.ttf fonts in matplotlib's data path {font_dir()}")
    return files


@functools.lru_cache(maxsize=None)
def _char_indices(path: Path) -> Callable[[int], int]:
    from matplotlib.ft2font import FT2Font

    return FT2Font(str(path)).get_char_index


def has_glyph(path: Path, char: str) -> bool:
    """Whether the font maps ``char`` to a real glyph (not .notdef)."""
    return _char_indices(Path(path))(ord(char)) != 0


@functools.lru_cache(maxsize=None)
def fonts_covering(chars: str) -> tuple[Path, ...]:
    """The bundled DejaVu fonts that have a glyph for every character of ``chars``."""
    chars = "".join(c for c in chars if not c.isspace())
    found = tuple(p for p in font_files() if all(has_glyph(p, c) for c in chars))
    if not found:
        raise ValueError(f"no bundled DejaVu font covers all of {chars!r}")
    return found


@functools.lru_cache(maxsize=None)
def load_font(path: Path, size: int = _GLYPH_PT) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


@functools.lru_cache(maxsize=4096)
def _glyph_mask(path: Path, text: str, stroke: int) -> Image.Image:
    """Tight high-resolution coverage mask ('L') of ``text`` in one font; cached, never mutated."""
    font = load_font(path)
    left, top, right, bottom = (int(v) for v in font.getbbox(text, stroke_width=stroke))  # whole pixels
    pad = 4
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(canvas).text(
        (pad - left, pad - top), text, fill=255, font=font, stroke_width=stroke, stroke_fill=255
    )
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"{text!r} renders blank in {Path(path).name}")
    return canvas.crop(box)


def fit_mask(
    rng: np.random.Generator,
    mask: Image.Image,
    *,
    rotation: float = 15.0,
    scale: tuple[float, float] = (0.55, 0.85),
    aspect_jitter: float = 0.12,
    shift: float = 0.5,
    size: int = SIZE,
) -> np.ndarray:
    """Rescale, rotate and randomly place a tight high-res mask; return float32 alpha [size, size].

    The longer side of the upright mask becomes ``scale`` x the canvas (shrunk further if the
    rotated mask would not fit); the offset is random but keeps the whole mask inside, so nothing
    is clipped. ``shift`` (0..1) is how much of the free margin the offset may use around the
    centre (1: anywhere inside the canvas, 0: centred).
    """
    hi = size * SUPERSAMPLE
    angle = float(rng.uniform(-rotation, rotation)) if rotation else 0.0
    target = float(rng.uniform(*scale)) * hi
    ax, ay = 1.0 + rng.uniform(-aspect_jitter, aspect_jitter, size=2)
    w, h = mask.size[0] * ax, mask.size[1] * ay
    k = target / max(w, h)
    mask = mask.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.LANCZOS)
    if angle:
        mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        box = mask.getbbox()
        if box is not None:
            mask = mask.crop(box)
    if max(mask.size) > hi:
        k = hi / max(mask.size)
        side = (min(hi, max(1, round(mask.size[0] * k))), min(hi, max(1, round(mask.size[1] * k))))
        mask = mask.resize(side, Image.Resampling.LANCZOS)
    w, h = mask.size
    fx, fy = rng.uniform(-shift, shift, size=2) * 0.5 + 0.5
    x, y = round(fx * (hi - w)), round(fy * (hi - h))
    canvas = Image.new("L", (hi, hi), 0)
    canvas.paste(mask, (x, y))
    return downsample_alpha(canvas, size)


def downsample_alpha(mask: Image.Image, size: int = SIZE) -> np.ndarray:
    """Antialiased (box) downsample of a high-res 'L' mask to float32 alpha in [0, 1]."""
    factor = mask.size[0] // size
    small = (
        mask.reduce(factor)
        if factor > 1 and mask.size == (size * factor,) * 2
        else mask.resize((size, size), Image.Resampling.BOX)
    )
    return np.asarray(small, dtype=np.float32) / 255.0


def glyph_alpha(
    rng: np.random.Generator,
    text: str,
    fonts: tuple[Path, ...],
    *,
    rotation: float = 15.0,
    scale: tuple[float, float] = (0.55, 0.85),
    max_stroke: int = 2,
    size: int = SIZE,
) -> np.ndarray:
    """Alpha [size, size] of ``text`` in a random font from ``fonts`` with random stroke/rotation/placement.

    The stroke (extra outline width at the 96 pt render size) is halved for bold fonts, whose
    counters would otherwise close up at 32 px.
    """
    path = fonts[int(rng.integers(len(fonts)))]
    top = max_stroke // 2 if "Bold" in path.name else max_stroke
    stroke = int(rng.integers(0, top + 1))
    return fit_mask(rng, _glyph_mask(path, text, stroke), rotation=rotation, scale=scale, size=size)


_LUMA = np.array([0.299, 0.587, 0.114]) / 255.0


def luminance(rgb: np.ndarray) -> np.ndarray | float:
    """Rec. 601 luma in [0, 1] of RGB colour(s) in 0..255 (last axis = channels)."""
    out = np.asarray(rgb, dtype=np.float64) @ _LUMA
    return float(out) if out.ndim == 0 else out


def contrasting_colours(rng: np.random.Generator, min_contrast: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Random (foreground, background) RGB colours whose luminances differ by >= ``min_contrast``."""
    pairs = rng.integers(0, 256, size=(32, 2, 3))
    lum = np.asarray(luminance(pairs))  # [32, 2]: an array for arrays of colours
    ok = np.flatnonzero(np.abs(lum[:, 0] - lum[:, 1]) >= min_contrast)
    if len(ok):
        fg, bg = pairs[ok[0]]
        return fg.astype(np.float32), bg.astype(np.float32)
    fg = np.full(3, 255.0 if rng.random() < 0.5 else 0.0, np.float32)
    return fg, 255.0 - fg


def colour_contrasting_with(rng: np.random.Generator, reference: float, min_contrast: float = 0.4) -> np.ndarray:
    """A random RGB colour whose luminance differs from ``reference`` (0..1) by >= ``min_contrast``."""
    cands = rng.integers(0, 256, size=(32, 3))
    ok = np.flatnonzero(np.abs(luminance(cands) - reference) >= min_contrast)
    if len(ok):
        return cands[ok[0]].astype(np.float32)
    return np.full(3, 0.0 if reference > 0.5 else 255.0, np.float32)


def composite(alpha: np.ndarray, fg: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Blend colour ``fg`` over ``background`` (an RGB colour or an [H, W, 3] image) by ``alpha``."""
    a = alpha[..., None]
    out = np.asarray(fg, np.float32) * a + np.asarray(background, np.float32) * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_glyph(
    rng: np.random.Generator,
    text: str,
    fonts: tuple[Path, ...] | None = None,
    *,
    min_contrast: float = 0.4,
    size: int = SIZE,
    **jitter,
) -> np.ndarray:
    """One uint8 [size, size, 3] image of ``text``: random font/jitter, contrasting random colours."""
    fonts = fonts or fonts_covering(text)
    fg, bg = contrasting_colours(rng, min_contrast)
    return composite(glyph_alpha(rng, text, fonts, size=size, **jitter), fg, bg)
