"""The synthetic domains: each a label space plus a seeded renderer of 32x32 RGB images.

Every renderer is a pure function of the ``np.random.Generator`` it is handed and the class
index, so the caller (``zoo_distill.synthetic.generate``) controls all randomness. Glyph domains
draw from the DejaVu fonts bundled with matplotlib (see ``fonts``); shapes are drawn with
PIL ImageDraw; textures are computed with numpy at 4x resolution and box-downsampled.

``sklearn_digits`` is the one domain backed by real data (scikit-learn's bundled 8x8 scans,
1797 images, 174-183 per class). It has a finite ``pool`` of items per class: ``generate`` draws
items without replacement, so a class yields at most as many images as it has scans (in the
pool or in the ``subset`` the caller passes), never repeats.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from zoo_distill.synthetic import fonts as F

__all__ = ["DOMAINS", "Domain", "HI", "SHAPES", "SIZE", "TEXTURES", "shape_alpha", "texture_field"]

SIZE = F.SIZE
HI = SIZE * F.SUPERSAMPLE

Renderer = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Domain:
    """A label space and its renderer ``render(rng, class_index) -> uint8 [32, 32, 3]``.

    ``pool``/``render_item`` are set only for domains backed by a finite real dataset:
    ``pool(class_index)`` gives the dataset item ids of a class and ``render_item(rng, item)``
    renders one of them (``render`` then picks an item at random, with replacement).
    ``chars`` lists the rendered characters of glyph domains (``chars[k]`` is class k).
    """

    name: str
    class_names: tuple[str, ...]
    render: Renderer
    description: str = ""
    chars: tuple[str, ...] = ()
    pool: Callable[[int], np.ndarray] | None = None
    render_item: Renderer | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def finite(self) -> bool:
        return self.pool is not None


# ---------------------------------------------------------------------------------------- glyphs


def _glyph_domain(name: str, table: list[tuple[str, str]], description: str, **jitter) -> Domain:
    chars = tuple(ch for ch, _ in table)
    names = tuple(n for _, n in table)
    joined = "".join(chars)

    def render(rng: np.random.Generator, k: int) -> np.ndarray:
        return F.render_glyph(rng, chars[k], F.fonts_covering(joined), **jitter)

    return Domain(name, names, render, description, chars=chars)


_DIGITS = [(str(d), str(d)) for d in range(10)]
_LATIN = [(chr(c), chr(c)) for c in range(ord("A"), ord("Z") + 1)]
_GREEK = list(
    zip(
        "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ",
        [
            "alpha",
            "beta",
            "gamma",
            "delta",
            "epsilon",
            "zeta",
            "eta",
            "theta",
            "iota",
            "kappa",
            "lambda",
            "mu",
            "nu",
            "xi",
            "omicron",
            "pi",
            "rho",
            "sigma",
            "tau",
            "upsilon",
            "phi",
            "chi",
            "psi",
            "omega",
        ],
    )
)
_CYRILLIC = list(
    zip(
        "БГДЖЗИЙЛПФЦЧШЩЪЫЬЭЮЯ",
        [
            "be",
            "ghe",
            "de",
            "zhe",
            "ze",
            "i",
            "short_i",
            "el",
            "pe",
            "ef",
            "tse",
            "che",
            "sha",
            "shcha",
            "hard_sign",
            "yeru",
            "soft_sign",
            "e_reversed",
            "yu",
            "ya",
        ],
    )
)
# Target-only scripts: lowercase letters whose shape differs from their uppercase source class.
_LOWERCASE = [(c, c) for c in "abdefghijkmnqrty"]
_GREEK_LOWER = list(
    zip(
        "αβγδεζηθλμξπρσφψω",
        [
            "alpha",
            "beta",
            "gamma",
            "delta",
            "epsilon",
            "zeta",
            "eta",
            "theta",
            "lambda",
            "mu",
            "xi",
            "pi",
            "rho",
            "sigma",
            "phi",
            "psi",
            "omega",
        ],
    )
)

_SYMBOLS = [
    ("+", "plus"),
    ("\u2212", "minus"),
    ("\u00d7", "times"),
    ("\u00f7", "divide"),
    ("=", "equals"),
    ("\u2260", "not_equal"),
    ("<", "less_than"),
    (">", "greater_than"),
    ("\u2264", "less_equal"),
    ("\u2265", "greater_equal"),
    ("\u00b1", "plus_minus"),
    ("\u2248", "approx"),
    ("\u2211", "sum"),
    ("\u222b", "integral"),
    ("\u221a", "square_root"),
    ("\u221e", "infinity"),
    ("\u2202", "partial"),
    ("\u2207", "nabla"),
    ("\u2208", "element_of"),
    ("\u2190", "arrow_left"),
    ("\u2192", "arrow_right"),
    ("\u2191", "arrow_up"),
    ("\u2193", "arrow_down"),
    ("%", "percent"),
]


# ---------------------------------------------------------------------------------------- shapes

SHAPES = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "hexagon",
    "diamond",
    "ring",
    "pentagon",
    "crescent",
    "heart",
    "arrow",
)
# Max rotation per shape: shapes whose identity survives any turn spin freely; square, diamond and
# cross stay near upright so they do not turn into each other (a square at 45° is a diamond).
_SHAPE_ROTATION = {
    "circle": 0.0,
    "ring": 0.0,
    "square": 15.0,
    "diamond": 15.0,
    "cross": 15.0,
    "triangle": 20.0,
    "heart": 20.0,
    "star": 180.0,
    "hexagon": 180.0,
    "pentagon": 180.0,
    "crescent": 180.0,
    "arrow": 180.0,
}


def _regular(n: int, r: float, c: float = HI / 2, start: float = -math.pi / 2, inner: float | None = None):
    pts = []
    for i in range(n):
        a = start + 2 * math.pi * i / n
        pts.append((c + r * math.cos(a), c + r * math.sin(a)))
        if inner is not None:
            b = a + math.pi / n
            pts.append((c + inner * r * math.cos(b), c + inner * r * math.sin(b)))
    return pts


def _shape_mask(rng: np.random.Generator, shape: str) -> Image.Image:
    """Canonical (upright, centred) high-resolution mask of a shape with random proportions."""
    img = Image.new("L", (HI, HI), 0)
    d = ImageDraw.Draw(img)
    c, r = HI / 2, HI / 2 - 4
    if shape == "circle":
        d.ellipse([c - r, c - r, c + r, c + r], fill=255)
    elif shape == "square":
        d.rectangle([c - r, c - r, c + r, c + r], fill=255)
    elif shape == "triangle":
        d.polygon(_regular(3, r), fill=255)
    elif shape == "star":
        d.polygon(_regular(5, r, inner=float(rng.uniform(0.38, 0.5))), fill=255)
    elif shape == "cross":
        w = r * float(rng.uniform(0.28, 0.4))
        d.rectangle([c - w, c - r, c + w, c + r], fill=255)
        d.rectangle([c - r, c - w, c + r, c + w], fill=255)
    elif shape == "hexagon":
        d.polygon(_regular(6, r), fill=255)
    elif shape == "diamond":
        w = r * float(rng.uniform(0.5, 0.7))
        d.polygon([(c, c - r), (c + w, c), (c, c + r), (c - w, c)], fill=255)
    elif shape == "ring":
        w = int(r * float(rng.uniform(0.18, 0.32)))
        d.ellipse([c - r, c - r, c + r, c + r], outline=255, width=w)
    elif shape == "pentagon":
        d.polygon(_regular(5, r), fill=255)
    elif shape == "crescent":
        d.ellipse([c - r, c - r, c + r, c + r], fill=255)
        off = r * float(rng.uniform(0.4, 0.6))
        d.ellipse([c - r + off, c - r - off * 0.2, c + r + off, c + r - off * 0.2], fill=0)
    elif shape == "heart":
        q = r * 0.52
        d.ellipse([c - 2 * q, c - r * 0.75, c, c - r * 0.75 + 2 * q], fill=255)
        d.ellipse([c, c - r * 0.75, c + 2 * q, c - r * 0.75 + 2 * q], fill=255)
        d.polygon(
            [(c - 2 * q + 1.5, c - r * 0.75 + q * 1.25), (c + 2 * q - 1.5, c - r * 0.75 + q * 1.25), (c, c + r)],
            fill=255,
        )
    elif shape == "arrow":
        shaft = r * float(rng.uniform(0.18, 0.28))
        head = r * float(rng.uniform(0.6, 0.8))
        neck = c + r * float(rng.uniform(0.0, 0.3))
        d.rectangle([c - r, c - shaft, neck, c + shaft], fill=255)
        d.polygon([(neck, c - head), (c + r, c), (neck, c + head)], fill=255)
    else:  # pragma: no cover - guarded by SHAPES
        raise ValueError(shape)
    return img.crop(img.getbbox())


def shape_alpha(rng: np.random.Generator, k: int) -> np.ndarray:
    shape = SHAPES[k]
    return F.fit_mask(
        rng, _shape_mask(rng, shape), rotation=_SHAPE_ROTATION[shape], scale=(0.45, 0.9), aspect_jitter=0.1
    )


def _render_shape(rng: np.random.Generator, k: int) -> np.ndarray:
    fg, bg = F.contrasting_colours(rng, 0.4)
    return F.composite(shape_alpha(rng, k), fg, bg)


# -------------------------------------------------------------------------------------- textures

TEXTURES = (
    "stripes_horizontal",
    "stripes_vertical",
    "stripes_diagonal",
    "checkerboard",
    "dots",
    "grid",
    "waves",
    "zigzag",
    "rings",
    "noise",
    "clouds",
)

_TEX_SS = 3  # textures: 3x3 samples per output pixel, box-averaged (antialiasing)
_coords = (np.arange(SIZE * _TEX_SS, dtype=np.float32) + 0.5) / _TEX_SS  # sample centres in output px
_grid = np.meshgrid(_coords, _coords)


def _box_down(field: np.ndarray) -> np.ndarray:
    s = _TEX_SS
    return field.reshape(SIZE, s, SIZE, s).mean(axis=(1, 3), dtype=np.float32)


def _rotated(rng: np.random.Generator, angle_deg: float, jitter: float = 8.0):
    a = math.radians(angle_deg + float(rng.uniform(-jitter, jitter)))
    x, y = _grid
    x0, y0 = rng.uniform(0, 64, size=2)
    return (x + x0) * math.cos(a) + (y + y0) * math.sin(a), -(x + x0) * math.sin(a) + (y + y0) * math.cos(a)


def texture_field(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A [32, 32] float32 pattern in [0, 1] of the given texture kind (random period/phase/angle)."""
    if kind in ("stripes_horizontal", "stripes_vertical", "stripes_diagonal"):
        angle = {
            "stripes_horizontal": 90.0,
            "stripes_vertical": 0.0,
            "stripes_diagonal": float(rng.choice([45.0, -45.0])),
        }[kind]
        u, _ = _rotated(rng, angle)
        period, duty = rng.uniform(4.5, 10.0), rng.uniform(0.35, 0.6)
        hi = np.mod(u / period, 1.0) < duty
    elif kind == "checkerboard":
        u, v = _rotated(rng, 0.0)
        p = rng.uniform(4.0, 9.0)
        hi = (np.floor(u / p) + np.floor(v / p)) % 2 == 0
    elif kind == "dots":
        u, v = _rotated(rng, 0.0, jitter=20.0)
        p = rng.uniform(5.5, 10.0)
        du, dv = np.mod(u, p) - p / 2, np.mod(v, p) - p / 2
        hi = np.hypot(du, dv) < p * rng.uniform(0.2, 0.33)
    elif kind == "grid":
        u, v = _rotated(rng, 0.0)
        p, w = rng.uniform(6.0, 11.0), rng.uniform(0.14, 0.24)
        hi = (np.mod(u / p, 1.0) < w) | (np.mod(v / p, 1.0) < w)
    elif kind in ("waves", "zigzag"):
        u, v = _rotated(rng, 90.0, jitter=10.0)
        lam, amp = rng.uniform(9.0, 18.0), rng.uniform(1.5, 3.0)
        t = v / lam
        offset = amp * (np.sin(2 * np.pi * t) if kind == "waves" else 4 * np.abs(np.mod(t, 1.0) - 0.5) - 1)
        period = rng.uniform(5.5, 10.0)
        hi = np.mod((u + offset) / period, 1.0) < 0.5
    elif kind == "rings":
        x, y = _grid
        cx, cy = rng.uniform(-4, 36, size=2)
        p = rng.uniform(4.5, 9.0)
        hi = np.mod(np.hypot(x - cx, y - cy) / p + rng.random(), 1.0) < 0.5
    elif kind == "noise":  # fine i.i.d. speckle at output resolution
        return rng.random((SIZE, SIZE)).astype(np.float32)
    elif kind == "clouds":  # smooth low-frequency blobs
        cells = int(rng.integers(3, 6))
        low = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
        f = np.asarray(low.resize((SIZE, SIZE), Image.Resampling.BICUBIC), np.float32) / 255.0
        f = (f - f.min()) / max(1e-6, float(f.max() - f.min()))
        return f.astype(np.float32)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return _box_down(hi.astype(np.float32))


def _render_texture(rng: np.random.Generator, k: int) -> np.ndarray:
    fg, bg = F.contrasting_colours(rng, 0.3)
    return F.composite(texture_field(rng, TEXTURES[k]), fg, bg)


def _render_shape_on_texture(rng: np.random.Generator, k: int) -> np.ndarray:
    """A shape (label) over a random texture of muted contrast (a distractor from another domain)."""
    base = rng.integers(0, 256, size=3).astype(np.float32)
    other = np.clip(base + rng.normal(0, 45, size=3), 0, 255).astype(np.float32)
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    background = F.composite(texture_field(rng, kind), other, base)
    ref = (float(F.luminance(base)) + float(F.luminance(other))) / 2
    fg = F.colour_contrasting_with(rng, ref, 0.4)
    return F.composite(shape_alpha(rng, k), fg, background)


def _digit_on_texture(fonts: tuple):
    def render(rng: np.random.Generator, k: int) -> np.ndarray:
        """A digit glyph (label) over a random muted texture: needs a glyph and a texture source."""
        base = rng.integers(0, 256, size=3).astype(np.float32)
        other = np.clip(base + rng.normal(0, 45, size=3), 0, 255).astype(np.float32)
        kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
        background = F.composite(texture_field(rng, kind), other, base)
        fg = F.colour_contrasting_with(rng, (float(F.luminance(base)) + float(F.luminance(other))) / 2, 0.45)
        return F.composite(F.glyph_alpha(rng, str(k), fonts, max_stroke=3), fg, background)

    return render


# -------------------------------------------------------------------------------- sklearn digits


@functools.lru_cache(maxsize=1)
def _sk_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


@functools.lru_cache(maxsize=None)
def _sk_pool(k: int) -> np.ndarray:
    pool = np.flatnonzero(_sk_digits()[1] == k).astype(np.int64)
    pool.setflags(write=False)
    return pool


def _render_sk_item(rng: np.random.Generator, item: int) -> np.ndarray:
    """Scan ``item`` upscaled to ~20-28 px (longer side), slightly rotated, colourised, randomly placed."""
    scan = _sk_digits()[0][item] / 16.0
    mask = Image.fromarray(np.rint(scan * 255).astype(np.uint8)).resize((64, 64), Image.Resampling.BICUBIC)
    alpha = F.fit_mask(rng, mask, rotation=8.0, scale=(20 / SIZE, 28 / SIZE), aspect_jitter=0.08)
    fg, bg = F.contrasting_colours(rng, 0.4)
    return F.composite(alpha, fg, bg)


def _render_sk(rng: np.random.Generator, k: int) -> np.ndarray:
    pool = _sk_pool(k)
    return _render_sk_item(rng, int(pool[int(rng.integers(len(pool)))]))


# -------------------------------------------------------------------------------------- registry


def _build() -> dict[str, Domain]:
    domains = [
        _glyph_domain("digits", _DIGITS, "Digits 0-9 in the bundled DejaVu fonts, random colours and jitter."),
        _glyph_domain("latin", _LATIN, "Uppercase Latin letters A-Z in DejaVu fonts."),
        _glyph_domain("greek", _GREEK, "The 24 uppercase Greek letters in DejaVu fonts."),
        _glyph_domain("cyrillic", _CYRILLIC, "20 uppercase Cyrillic letters that do not look like Latin ones."),
        _glyph_domain("symbols", _SYMBOLS, "Math symbols and arrows in DejaVu fonts."),
        _glyph_domain(
            "lowercase",
            _LOWERCASE,
            "16 lowercase Latin letters whose shape differs from the uppercase one (target only).",
        ),
        _glyph_domain("greek_lowercase", _GREEK_LOWER, "17 lowercase Greek letters in DejaVu fonts (target only)."),
        Domain(
            "digits_on_textures",
            tuple(str(d) for d in range(10)),
            _digit_on_texture(F.fonts_covering("0123456789")),
            "Digits 0-9 in DejaVu fonts over random muted textures (needs a glyph and a texture source).",
        ),
        Domain(
            "shapes",
            SHAPES,
            _render_shape,
            "Filled geometric shapes (ring: outline) on a plain background, random size/place/turn/colour.",
        ),
        Domain(
            "textures",
            TEXTURES,
            _render_texture,
            "Two-colour periodic and random textures, random period/phase/angle/colours.",
        ),
        Domain(
            "shapes_on_textures",
            SHAPES,
            _render_shape_on_texture,
            "The shapes label space drawn over random muted textures (needs shape and texture sources).",
        ),
        Domain(
            "sklearn_digits",
            tuple(str(d) for d in range(10)),
            _render_sk,
            "scikit-learn's bundled 8x8 handwritten digit scans, upscaled to 20-28 px, colourised, placed "
            "at random; finite: at most the real scans per class (174-183), drawn without replacement.",
            pool=_sk_pool,
            render_item=_render_sk_item,
        ),
    ]
    return {d.name: d for d in domains}


DOMAINS: dict[str, Domain] = _build()
