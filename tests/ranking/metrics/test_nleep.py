"""N-LEEP: deterministic, and it prefers features whose clusters match the labels."""

from __future__ import annotations

import numpy as np

from zoo_distill.ranking.metrics.nleep import n_mixture_components, nleep


def clustered(seed: int = 0, classes: int = 4, per_class: int = 30, dim: int = 20):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per_class)
    f = 6.0 * rng.normal(size=(classes, dim))[y] + rng.normal(size=(y.size, dim))
    return f, y, rng


def test_deterministic():
    f, y, _ = clustered()
    assert nleep(f, y) == nleep(f.copy(), y.copy())


def test_separable_beats_shuffled():
    f, y, rng = clustered()
    separable = nleep(f, y)
    assert separable > -0.2  # clusters recover the classes: close to the maximum 0
    assert separable > nleep(f, rng.permutation(y)) + 0.5


def test_scale_invariant():
    f, y, _ = clustered(seed=1)
    assert np.isclose(nleep(f, y), nleep(1000.0 * f, y), rtol=1e-6, atol=1e-9)


def test_component_rule():
    assert n_mixture_components(5000, 50) == 250  # the paper's 5 x C
    assert n_mixture_components(50, 10) == 10  # few labels: never fewer than C
    assert n_mixture_components(300, 10) == 30  # about 10 samples per component
    assert n_mixture_components(3, 2) == 2
