import numpy as np
from PIL import Image

from zoo_distill.data.views import EVAL_VIEW, ViewPolicy, make_view, view_name


def image(seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8))


def test_view_zero_is_the_image_and_named_eval():
    img = image()
    assert make_view(img, ViewPolicy(), 0, 5, 0) is img
    assert view_name(ViewPolicy(), 0, 0) == EVAL_VIEW


def test_views_are_deterministic_and_distinct():
    img = image()
    a = np.asarray(make_view(img, ViewPolicy(), 0, 5, 3))
    assert np.array_equal(a, np.asarray(make_view(img, ViewPolicy(), 0, 5, 3)))
    assert a.shape == (32, 32, 3)
    for other in [(1, 5, 3), (0, 6, 3), (0, 5, 4)]:
        assert not np.array_equal(a, np.asarray(make_view(img, ViewPolicy(), *other)))


def test_view_names_identify_policy_seed_and_index():
    names = {view_name(p, s, v) for p in (ViewPolicy(), ViewPolicy(hflip=True)) for s in (0, 1) for v in (1, 2)}
    assert len(names) == 8
