import numpy as np
import pytest
import torch

from zoo_distill.errors import DataError
from zoo_distill.training.methods.feature_space import fit_class_subspace


def features_with_a_nuisance(seed: int = 0, per_class: int = 40):
    """[N, 6] features: the class sits on dims 0-1 (three separated centres), dim 2 is a large nuisance
    that varies within every class (a textured background), dims 3-5 are small noise."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    labels = np.repeat(np.arange(3), per_class)
    x = 0.3 * rng.normal(size=(len(labels), 6))
    x[:, :2] += centres[labels]
    x[:, 2] += 20.0 * rng.normal(size=len(labels))
    return x, labels


def test_the_subspace_keeps_the_classes_and_drops_what_varies_within_them():
    x, labels = features_with_a_nuisance()
    subspace = fit_class_subspace(x, labels)
    assert subspace.dim == 2  # classes - 1
    coords = subspace(torch.as_tensor(x, dtype=torch.float32)).numpy()
    centroids = np.stack([coords[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((coords[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).mean() > 0.95
    # moving an image along the nuisance moves its coordinates far less than moving it to another class
    moved = x.copy()
    moved[:, 2] += 20.0
    shift = np.linalg.norm(subspace(torch.as_tensor(moved, dtype=torch.float32)).numpy() - coords, axis=1).mean()
    assert shift < 0.1 * np.linalg.norm(centroids[1] - centroids[0])


def test_the_subspace_is_deterministic_and_float32():
    x, labels = features_with_a_nuisance(seed=1)
    a, b = fit_class_subspace(x, labels), fit_class_subspace(x, labels)
    assert torch.equal(a.basis, b.basis) and torch.equal(a.mean, b.mean)
    assert a(torch.as_tensor(x[:4], dtype=torch.float64)).dtype == torch.float32


def test_too_few_classes_are_refused_with_the_option_and_source():
    x, labels = features_with_a_nuisance()
    keep = labels < 2
    with pytest.raises(DataError, match=r"--method-opt feature_space=class.*'digits'.*has 2"):
        fit_class_subspace(x[keep], labels[keep], source="digits")


def test_classes_without_spread_still_give_a_subspace():
    """One-hot features (a teacher that is sure of every labeled image): LDA's own solver fails on the
    singular within-class scatter, and the ridged fallback still separates the classes."""
    labels = np.repeat(np.arange(4), 5)
    onehot = np.eye(4)[labels]
    subspace = fit_class_subspace(onehot, labels)
    assert subspace.dim == 3
    coords = subspace(torch.as_tensor(onehot, dtype=torch.float32)).numpy()
    assert np.all(np.isfinite(coords))
    centroids = np.stack([coords[labels == c][0] for c in range(4)])
    assert np.allclose(coords, centroids[labels], atol=1e-5)  # every image of a class at one point
    gaps = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)[~np.eye(4, dtype=bool)]
    assert gaps.min() > 1.0  # and the classes apart
