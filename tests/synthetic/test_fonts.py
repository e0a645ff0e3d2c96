"""Glyph rendering: fonts only from matplotlib's bundled data, clean, unclipped, deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from zoo_distill.synthetic import DOMAINS
from zoo_distill.synthetic import fonts as F

MPL_TTF = (Path(matplotlib.get_data_path()) / "fonts" / "ttf").resolve()
GLYPH_DOMAINS = [d for d in DOMAINS.values() if d.chars]


def test_font_files_come_only_from_matplotlib_data_path():
    files = F.font_files()
    assert len(files) >= 12
    for path in files:
        assert path.resolve().parent == MPL_TTF, path
        assert path.name.startswith("DejaVu") and path.suffix == ".ttf"
    names = {p.name for p in files}
    for family in (
        "DejaVuSans.ttf",
        "DejaVuSerif.ttf",
        "DejaVuSansMono.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSansMono-BoldOblique.ttf",
    ):
        assert family in names
    # every DejaVu file matplotlib ships is considered
    assert names == {p.name for p in MPL_TTF.glob("DejaVu*.ttf")}


@pytest.mark.parametrize("domain", GLYPH_DOMAINS, ids=lambda d: d.name)
def test_glyph_domains_use_many_bundled_fonts(domain):
    fonts = F.fonts_covering("".join(domain.chars))
    assert len(fonts) >= 12  # Sans/Serif/Mono x regular/bold/oblique/bold-oblique
    assert all(p.resolve().parent == MPL_TTF for p in fonts)
    assert {"DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"} <= {p.name for p in fonts}
    loaded = F.load_font(fonts[0])
    assert Path(loaded.path).resolve().parent == MPL_TTF


def test_coverage_check_rejects_missing_glyphs():
    assert not any("Display" in p.name for p in F.fonts_covering("A"))  # Display files lack Latin
    assert F.has_glyph(F.font_dir() / "DejaVuSans.ttf", "\u0416")  # Cyrillic Zhe
    assert not F.has_glyph(F.font_dir() / "DejaVuSans.ttf", "\u4e2d")  # CJK: not in DejaVu
    with pytest.raises(ValueError):
        F.fonts_covering("\u4e2d")


@pytest.mark.parametrize("domain", GLYPH_DOMAINS, ids=lambda d: d.name)
def test_every_glyph_renders_nonblank_in_every_font(domain):
    assert len(set(domain.chars)) == len(domain.chars) == domain.num_classes
    fonts = F.fonts_covering("".join(domain.chars))
    for path in fonts:
        for ch in domain.chars:
            mask = F._glyph_mask(path, ch, 0)
            arr = np.asarray(mask)
            assert arr.max() == 255 and (arr > 128).sum() >= 50, (path.name, ch)
            assert min(mask.size) >= 4


def test_render_glyph_is_deterministic_and_well_formed():
    def run(seed):
        return F.render_glyph(np.random.default_rng(seed), "G")

    a, b, c = run(3), run(3), run(4)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert hashlib.sha256(a.tobytes()).digest() == hashlib.sha256(b.tobytes()).digest()
    assert not np.array_equal(a, c)


def test_glyph_alpha_is_antialiased_and_visible():
    fonts = F.fonts_covering("8")
    for seed in range(20):
        alpha = F.glyph_alpha(np.random.default_rng(seed), "8", fonts)
        assert alpha.shape == (32, 32) and alpha.dtype == np.float32
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0
        assert alpha.max() > 0.9 and alpha.sum() > 25  # clearly visible
        partial = ((alpha > 0.05) & (alpha < 0.95)).sum()
        assert partial >= 10  # soft, antialiased edges (not a hard binary mask)


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_fit_mask_never_clips(angle):
    square = Image.new("L", (100, 100), 255)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        # rotation is drawn in [-angle, angle]; scale 0.6 -> a 19.2 px side, fully inside 32 px
        alpha = F.fit_mask(rng, square, rotation=angle, scale=(0.6, 0.6), aspect_jitter=0.0, shift=1.0)
        assert alpha.sum() == pytest.approx(19.2**2, rel=0.04)


def test_fit_mask_shift_zero_centres():
    square = Image.new("L", (50, 50), 255)
    alpha = F.fit_mask(np.random.default_rng(0), square, rotation=0, scale=(0.5, 0.5), aspect_jitter=0, shift=0)
    ys, xs = np.nonzero(alpha > 0.5)
    assert (ys.mean(), xs.mean()) == pytest.approx((15.5, 15.5), abs=0.3)


def test_contrasting_colours_have_contrast():
    rng = np.random.default_rng(0)
    for _ in range(200):
        fg, bg = F.contrasting_colours(rng, 0.4)
        assert abs(F.luminance(fg) - F.luminance(bg)) >= 0.4
        c = F.colour_contrasting_with(rng, 0.5, 0.4)
        assert abs(F.luminance(c) - 0.5) >= 0.4
