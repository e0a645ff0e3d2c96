"""The teacher probes of ``run --unlabeled-loss fixmatch-teachers``."""

import numpy as np
import pytest
import torch

from zoo_distill.training.methods.teacher_probe import TeacherProbes, fit_probe


def blobs(classes: int, per_class: int, seed: int, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(size=(classes, dim)) * 3
    labels = np.repeat(np.arange(classes), per_class)
    return centers[labels] + rng.normal(size=(len(labels), dim)), labels


def test_a_probe_on_separable_features_predicts_held_out_images():
    x, y = blobs(4, 5, seed=1)
    probe = fit_probe(x, y, 4)
    test_x, test_y = blobs(4, 50, seed=2)
    p = probe.probabilities(torch.tensor(test_x, dtype=torch.float32))
    assert p.shape == (200, 4) and torch.allclose(p.sum(dim=1), torch.ones(200))
    assert (p.argmax(dim=1).numpy() == test_y).mean() > 0.95


def test_two_classes_and_a_class_without_labels():
    x, y = blobs(3, 5, seed=1)
    keep = y < 2  # class 2 has no labeled image
    probe = fit_probe(x[keep], y[keep], 3)
    test_x, test_y = blobs(3, 20, seed=2)
    p = probe.probabilities(torch.tensor(test_x, dtype=torch.float32))
    assert p[:, 2].max().item() == 0.0  # never predicted
    seen = test_y < 2
    assert (p.argmax(dim=1).numpy()[seen] == test_y[seen]).mean() > 0.95
    with pytest.raises(ValueError, match="at least two classes"):
        fit_probe(x[y == 0], y[y == 0], 3)


def test_constant_features_do_not_divide_by_zero():
    x, y = blobs(2, 5, seed=1, dim=4)
    x[:, 0] = 7.0
    p = fit_probe(x, y, 2).probabilities(torch.tensor(x, dtype=torch.float32))
    assert torch.isfinite(p).all()


def test_sources_are_mixed_with_their_weights():
    x, y = blobs(3, 5, seed=1)
    views = torch.tensor(np.stack([x, x]), dtype=torch.float32)  # [views, labeled, D]
    noise = torch.tensor(np.random.default_rng(5).normal(size=(2, len(y), 16)), dtype=torch.float32)
    probes = TeacherProbes.fit({"good": views, "noise": noise}, y, 3, {"good": 0.75, "noise": 0.25})
    test_x, _ = blobs(3, 4, seed=2)
    features = {"good": torch.tensor(test_x, dtype=torch.float32), "noise": torch.zeros(12, 16)}
    mixed = probes.probabilities(features)
    expected = 0.75 * probes.probes["good"].probabilities(features["good"]) \
        + 0.25 * probes.probes["noise"].probabilities(features["noise"])
    assert torch.allclose(mixed, expected) and torch.allclose(mixed.sum(dim=1), torch.ones(12))
