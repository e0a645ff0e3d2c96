"""FreeMatch's thresholds and fairness term, checked against hand computations of USB's definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo_distill.training.methods.freematch import FreeMatchThresholds


def test_the_thresholds_start_at_one_over_c_and_follow_the_ema():
    fm = FreeMatchThresholds(4, ema=0.5)
    assert float(fm.global_threshold) == pytest.approx(0.25)
    probs = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.1, 0.9, 0.0, 0.0]])
    fm.update(probs)
    assert float(fm.global_threshold) == pytest.approx(0.5 * 0.25 + 0.5 * 0.8)
    assert fm.class_confidence.tolist() == pytest.approx(
        [0.5 * 0.25 + 0.5 * 0.4, 0.5 * 0.25 + 0.5 * 0.5, 0.5 * 0.25 + 0.5 * 0.05, 0.5 * 0.25 + 0.5 * 0.05]
    )
    assert fm.label_histogram.tolist() == pytest.approx([0.375, 0.375, 0.125, 0.125])


def test_a_class_the_model_rarely_predicts_gets_a_lower_threshold():
    fm = FreeMatchThresholds(3, ema=0.0)
    fm.global_threshold.fill_(0.8)
    fm.class_confidence.copy_(torch.tensor([0.6, 0.3, 0.1]))
    probs = torch.tensor([[0.75, 0.2, 0.05], [0.2, 0.75, 0.05], [0.85, 0.1, 0.05]])
    mask, pseudo = fm.mask(probs)
    # class 0 needs 0.8, class 1 needs 0.8 * 0.3 / 0.6 = 0.4
    assert pseudo.tolist() == [0, 1, 0] and mask.tolist() == [0.0, 1.0, 1.0]


def test_fairness_matches_usbs_definition_and_is_zero_without_masked_images():
    fm = FreeMatchThresholds(3, ema=0.0)
    fm.class_confidence.copy_(torch.tensor([0.5, 0.3, 0.2]))
    fm.label_histogram.copy_(torch.tensor([0.6, 0.4, 0.0]))
    strong = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [3.0, 0.0, 1.0]])
    assert float(fm.fairness(torch.zeros(3), strong)) == 0.0
    mask = torch.tensor([1.0, 1.0, 0.0])
    p = strong[:2].softmax(-1)
    # the strong predictions' histogram is [0.5, 0.5, 0]: its reciprocal scales the batch mean, 0 where empty
    model = torch.tensor([0.5 / 0.6, 0.3 / 0.4, 0.0])  # a class with no pseudo-labels gets 0, not inf
    model = model / model.sum()
    batch = p.mean(0) * torch.tensor([2.0, 2.0, 0.0])
    batch = batch / batch.sum()
    expected = float((model * torch.log(batch + 1e-12)).sum())
    assert float(fm.fairness(mask, strong)) == pytest.approx(expected, rel=1e-6)
    assert math.isfinite(expected)


def test_one_step_updates_then_masks_and_survives_a_checkpoint():
    torch.manual_seed(0)
    weak, strong = torch.randn(8, 5) * 3, torch.randn(8, 5, requires_grad=True)
    fm = FreeMatchThresholds(5, ema=0.2)
    out = fm.losses(weak, strong)
    probs = weak.softmax(1)
    tau = 0.2 * 0.2 + 0.8 * probs.max(1).values.mean()
    local = 0.2 * 0.2 + 0.8 * probs.mean(0)
    mask = (probs.max(1).values >= tau * (local / local.max())[probs.argmax(1)]).float()
    assert out["mask"].tolist() == mask.tolist() and 0 < mask.sum() < 8
    expected = (F.cross_entropy(strong, probs.argmax(1), reduction="none") * mask).mean()
    assert float(out["loss_unsup"].detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    out["loss_unsup"].backward()
    assert strong.grad is not None and weak.grad is None  # pseudo-labels are never trained through
    resumed = FreeMatchThresholds(5, ema=0.2)
    resumed.load_state_dict(fm.state_dict())
    again = torch.randn(8, 5) * 3
    assert fm.losses(again, strong.detach())["mask"].tolist() == resumed.losses(again, strong.detach())["mask"].tolist()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        FreeMatchThresholds(1)
    with pytest.raises(ValueError, match="EMA"):
        FreeMatchThresholds(3, ema=1.0)
