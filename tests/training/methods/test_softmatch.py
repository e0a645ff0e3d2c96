"""SoftMatch's distribution alignment and truncated-Gaussian weights, against hand computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo_distill.training.methods.softmatch import SoftMatchWeights


def test_alignment_lifts_the_classes_the_model_under_predicts():
    sm = SoftMatchWeights(2, ema=0.0)
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3]])
    aligned = sm.align(probs)
    assert sm.mean_prediction.tolist() == pytest.approx([0.8, 0.2])
    expected = probs / torch.tensor([0.8, 0.2])
    assert torch.allclose(aligned, expected / expected.sum(1, keepdim=True))
    assert aligned[1].argmax() == 1  # 0.3 of a rarely predicted class beats 0.7 of the common one


def test_weights_are_one_above_the_mean_confidence_and_gaussian_below():
    sm = SoftMatchWeights(3, ema=0.0, n_sigma=2.0)
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.4, 0.35, 0.25]])
    weights, pseudo = sm.weights(probs)
    conf = torch.tensor([0.9, 0.5, 0.4])
    mu, var = conf.mean(), conf.var(unbiased=True)
    assert float(sm.confidence_mean) == pytest.approx(float(mu)) and float(sm.confidence_var) == pytest.approx(
        float(var)
    )
    expected = torch.exp(-((conf - mu).clamp(max=0) ** 2) / (2 * var / 4))
    assert weights.tolist() == pytest.approx(expected.tolist()) and weights[0] == 1.0 and weights[2] < weights[1] < 1
    assert pseudo.tolist() == [0, 0, 0]


def test_one_step_and_a_checkpoint():
    torch.manual_seed(1)
    weak, strong = torch.randn(6, 4) * 2, torch.randn(6, 4)
    sm = SoftMatchWeights(4, ema=0.999)
    out = sm.losses(weak, strong)
    probs = weak.softmax(1)
    mean_pred = 0.999 * 0.25 + 0.001 * probs.mean(0)
    aligned = probs / mean_pred
    aligned = aligned / aligned.sum(1, keepdim=True)
    conf = aligned.max(1).values
    mu = 0.999 * 0.25 + 0.001 * conf.mean()
    var = 0.999 * 1.0 + 0.001 * conf.var(unbiased=True)
    w = torch.exp(-((conf - mu).clamp(max=0) ** 2) / (2 * var / 4))
    expected = (F.cross_entropy(strong, aligned.argmax(1), reduction="none") * w).mean()
    assert float(out["loss_unsup"]) == pytest.approx(float(expected), rel=1e-6)
    resumed = SoftMatchWeights(4, ema=0.999)
    resumed.load_state_dict(sm.state_dict())
    again = torch.randn(6, 4)
    assert torch.equal(sm.losses(again, strong)["loss_unsup"], resumed.losses(again, strong)["loss_unsup"])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        SoftMatchWeights(1)
    with pytest.raises(ValueError):
        SoftMatchWeights(3, n_sigma=0)
