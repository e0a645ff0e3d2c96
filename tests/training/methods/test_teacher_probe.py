"""The teacher probes of the distill method's ``unlabeled_loss=fixmatch-teachers``."""

import numpy as np
import pytest
import torch

from zoo_distill.errors import DataError
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
    with pytest.raises(DataError, match="at least two classes"):
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
    expected = 0.75 * probes.probes["good"].probabilities(features["good"]) + 0.25 * probes.probes[
        "noise"
    ].probabilities(features["noise"])
    assert torch.allclose(mixed, expected) and torch.allclose(mixed.sum(dim=1), torch.ones(12))


def complementary_views(per_class: int, seed: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """Two teachers that each know part of a 4-class task: "a" tells 0 from 1 (2 and 3 look alike to it),
    "b" tells 2 from 3 (0 and 1 look alike to it). [views=1, N, D] each."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), per_class)
    code_a = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0], [0.0, 3.0]])[labels]
    code_b = np.array([[0.0, 3.0], [0.0, 3.0], [3.0, 0.0], [-3.0, 0.0]])[labels]
    return (
        {
            "a": torch.tensor(code_a + rng.normal(size=code_a.shape), dtype=torch.float32)[None],
            "b": torch.tensor(code_b + rng.normal(size=code_b.shape), dtype=torch.float32)[None],
        },
        labels,
    )


def test_a_joint_probe_uses_each_teacher_for_the_classes_it_knows():
    train, labels = complementary_views(10, seed=1)
    test, test_labels = complementary_views(100, seed=2)
    alpha = {"a": 0.5, "b": 0.5}
    confidence = {}
    for joint in (False, True):
        probes = TeacherProbes.fit(train, labels, 4, alpha, joint=joint)
        p = probes.probabilities({s: f[0] for s, f in test.items()})
        assert torch.allclose(p.sum(dim=1), torch.ones(len(p)))
        assert (p.argmax(dim=1).numpy() == test_labels).mean() > 0.95
        confidence[joint] = p[torch.arange(len(p)), torch.as_tensor(test_labels)].mean().item()
    # each teacher alone is unsure of half the classes, so their mixture is never sure of any (<= 0.75 here)
    assert confidence[False] < 0.75 and confidence[True] > confidence[False] + 0.15, confidence


def test_feature_weights_make_a_feature_costlier_to_use():
    x, y = blobs(2, 10, seed=1, dim=2)
    light = fit_probe(x, y, 2, feature_weights=np.array([1.0, 1e-3]))  # the second feature nearly unusable
    heavy = fit_probe(x, y, 2)
    use = lambda probe: abs(probe.weight[1, 1].item() / probe.scale[1].item())  # noqa: E731 (the raw feature's coefficient)
    assert use(light) < 0.1 * use(heavy)
