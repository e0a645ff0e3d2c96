"""View parameters: functions of seeds only, the bank's views drawn once per view for the whole split."""

import numpy as np

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.view_params import (
    EVAL_VIEW,
    SeededViews,
    eval_views,
    strong_views,
    view_name,
    view_table,
    weak_views,
)

SIZES = np.array([[32, 32], [40, 24], [17, 60], [1, 1]] * 4)


def test_view_zero_is_the_whole_image_and_named_eval():
    table = view_table(ViewPolicy(), 0, 0, SIZES)
    assert np.array_equal(table.box, np.tile([0, 0, 1, 1], (len(SIZES), 1)))
    assert not table.flip.any() and (table.jitter == 1).all() and table.ops.shape == (len(SIZES), 0)
    assert view_name(ViewPolicy(), 0, 0) == EVAL_VIEW


def test_views_are_deterministic_distinct_and_inside_their_image():
    a = view_table(ViewPolicy(), 0, 3, SIZES)
    assert np.array_equal(a.box, view_table(ViewPolicy(), 0, 3, SIZES).box)
    for seed, view in [(1, 3), (0, 4)]:
        assert not np.array_equal(a.box, view_table(ViewPolicy(), seed, view, SIZES).box)
    assert (a.box >= 0).all() and (a.box <= 1).all()
    assert (a.box[:, 2] > a.box[:, 0]).all() and (a.box[:, 3] > a.box[:, 1]).all()
    # the crop keeps 0.6..1 of the area, rounded in the image's own pixels
    area = (a.box[:, 2] - a.box[:, 0]) * (a.box[:, 3] - a.box[:, 1])
    big = SIZES.min(1) >= 17
    assert (area[big] > 0.5).all() and (area <= 1.0 + 1e-6).all()
    assert (a.jitter >= 0.8 - 1e-6).all() and (a.jitter <= 1.2 + 1e-6).all() and not a.flip.any()


def test_view_names_identify_policy_seed_and_index():
    names = {view_name(p, s, v) for p in (ViewPolicy(), ViewPolicy(hflip=True)) for s in (0, 1) for v in (1, 2)}
    assert len(names) == 8


def test_the_student_reads_the_banks_very_parameters():
    seeded = SeededViews(ViewPolicy(), 5, 4, SIZES)
    index, view = np.array([3, 0, 3, 7]), np.array([2, 0, 1, 2])
    picked = seeded.of(index, view)
    assert picked.image.tolist() == [0, 1, 2, 3]  # made from the step's batch rows, in order
    for k, (i, v) in enumerate(zip(index, view)):
        assert np.array_equal(picked.box[k], view_table(ViewPolicy(), 5, int(v), SIZES).box[i])
        assert np.array_equal(picked.jitter[k], view_table(ViewPolicy(), 5, int(v), SIZES).jitter[i])


def test_weak_and_strong_views_come_from_the_generator_only():
    def draw(seed):
        rng = np.random.default_rng(seed)
        return weak_views(rng, SIZES, ViewPolicy(hflip=True)), strong_views(rng, SIZES, ViewPolicy(), 2, 0.5)

    (w1, s1), (w2, s2), (w3, _) = draw(7), draw(7), draw(8)
    for f in ("box", "flip", "jitter"):
        assert np.array_equal(getattr(w1, f), getattr(w2, f))
    assert np.array_equal(s1.ops, s2.ops) and np.array_equal(s1.cutout, s2.cutout)
    assert not np.array_equal(w1.box, w3.box)
    assert w1.flip.any() and not w1.flip.all()  # hflip: about half
    assert s1.ops.shape == (len(SIZES), 2) and ((s1.ops >= 0) & (s1.ops < 14)).all()
    assert set(np.unique(s1.signs)) <= {-1.0, 1.0} and (s1.cutout[:, 2] <= 0.5).all()


def test_concat_pads_the_op_columns_of_weak_views():
    rng = np.random.default_rng(0)
    both = type(eval_views(1)).concat([eval_views(2), strong_views(rng, SIZES[:3], ViewPolicy(), 2, 0.5)])
    assert len(both) == 5 and both.ops.shape == (5, 2) and (both.ops[:2] == -1).all()
