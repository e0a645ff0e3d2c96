"""Views made in batch on the device: the eval view matches timm's eval preprocessing, and each op does
what it says on the images that drew it only."""

import numpy as np
import pytest
import torch
from PIL import Image

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.render import Consumer, render
from zoo_distill.data.view_params import ViewParams, eval_views, strong_views, weak_views

CONFIG = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "crop_pct": 1.0}


def batch(images):
    """A padded store-like batch of HWC uint8 images, the last row and column repeated."""
    h = max(i.shape[0] for i in images) + 1
    w = max(i.shape[1] for i in images) + 1
    out = np.zeros((len(images), h, w, 3), np.uint8)
    for k, img in enumerate(images):
        out[k, : img.shape[0], : img.shape[1]] = img
        out[k, img.shape[0], : img.shape[1]] = img[-1]
        out[k, : img.shape[0] + 1, img.shape[1]] = out[k, : img.shape[0] + 1, img.shape[1] - 1]
    sizes = torch.tensor([i.shape[:2] for i in images])
    return torch.from_numpy(out), sizes


def ramp(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_the_eval_view_at_the_images_own_size_is_the_image_itself_normalised():
    images = [ramp(32, 32, 0), ramp(32, 32, 1)]
    x, sizes = batch(images)
    out = render(x, sizes, eval_views(2), Consumer.of(CONFIG))
    expected = (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    assert torch.allclose(out, expected, atol=1e-5)


def test_the_eval_view_follows_timms_eval_transform_on_smooth_images():
    from timm.data import create_transform

    config = {**CONFIG, "input_size": (3, 24, 24), "crop_pct": 0.875, "interpolation": "bilinear"}
    yy, xx = np.mgrid[0:40, 0:56]
    smooth = np.stack([xx * 4, yy * 6, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    x, sizes = batch([smooth])
    out = render(x, sizes, eval_views(1), Consumer.of(config))
    reference = create_transform(**config, is_training=False)(Image.fromarray(smooth))
    assert out.shape == (1, 3, 24, 24)
    # timm rounds its resize and crop to whole pixels; the store's box is exact: within a pixel of the ramp
    # (4 to 6 levels per pixel), on average under 2% of the range in [0, 1] units (std 0.25)
    assert ((out[0] - reference) * 0.25).abs().mean() < 0.02


def test_images_of_other_sizes_in_one_batch_are_not_mixed_with_the_padding():
    small, large = np.full((20, 12, 3), 200, np.uint8), ramp(40, 50)
    x, sizes = batch([small, large])
    out = render(x, sizes, eval_views(2), Consumer.of(CONFIG))
    assert torch.allclose(out[0], torch.full_like(out[0], (200 / 255 - 0.5) / 0.25), atol=1e-5)


def test_flips_mirror_and_jitter_scales_only_the_views_that_drew_them():
    images = [ramp(32, 32, 0), ramp(32, 32, 0)]
    x, sizes = batch(images)
    plain = eval_views(2)
    flipped = ViewParams(**{**plain.__dict__, "flip": np.array([True, False])})
    out = render(x, sizes, flipped, Consumer.of(CONFIG))
    ref = render(x, sizes, plain, Consumer.of(CONFIG))
    assert torch.allclose(out[0], ref[0].flip(-1)) and torch.equal(out[1], ref[1])
    dark = ViewParams(**{**plain.__dict__, "jitter": np.array([[0.5, 1, 1], [1, 1, 1]], np.float32)})
    out = render(x, sizes, dark, Consumer.of(CONFIG))
    raw = out * 0.25 + 0.5
    assert torch.allclose(raw[0], ((ref[0] * 0.25 + 0.5) * 0.5), atol=1e-5) and torch.allclose(out[1], ref[1])


def test_strong_views_change_pixels_deterministically_and_keep_them_in_range():
    images = [ramp(36, 30, k) for k in range(16)]
    x, sizes = batch(images)
    params = strong_views(np.random.default_rng(3), sizes.numpy(), ViewPolicy(), 2, 0.5)
    consumer = Consumer.of({**CONFIG, "mean": (0, 0, 0), "std": (1, 1, 1)})
    a, b = render(x, sizes, params, consumer), render(x, sizes, params, consumer)
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    weak = render(x, sizes, weak_views(np.random.default_rng(3), sizes.numpy(), ViewPolicy()), consumer)
    assert not torch.allclose(a, weak)


@pytest.mark.parametrize("op", range(14))
def test_each_randaugment_op_runs_on_a_batch(op):
    x, sizes = batch([ramp(32, 32, k) for k in range(3)])
    params = ViewParams(
        **{**eval_views(3).__dict__, "ops": np.full((3, 1), op), "signs": np.array([[1.0], [-1.0], [1.0]], np.float32)}
    )
    out = render(x, sizes, params, Consumer.of({**CONFIG, "mean": (0, 0, 0), "std": (1, 1, 1)}))
    assert out.shape == (3, 3, 32, 32) and torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_sharpness_is_torchvisions_on_the_views_that_drew_it():
    import torchvision.transforms.v2.functional as TF

    from zoo_distill.data.render import _sharpness

    x = torch.rand(3, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    for factor in (0.1, 1.0, 1.9):
        assert torch.allclose(_sharpness(x, factor), TF.adjust_sharpness(x, factor), atol=1e-6)
