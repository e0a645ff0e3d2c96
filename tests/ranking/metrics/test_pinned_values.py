"""Pinned metric values: a change of implementation must not move a published score.

The values were recorded with the hand-written implementations (tridiagonal PCA and LogME,
float32-screened kNN, closed-form ridge) before they were replaced by scipy / scikit-learn,
on seeded few-label inputs (N = 50..200, D = 64..2048, C = 5..10). Any later change that moves
them by more than 1e-6 relative changes the benchmark figures and must say why.
"""

from __future__ import annotations

import numpy as np
import pytest

from zoo_distill.ranking.metrics import gbc, hscore, knn, leep, linear, logme, nce, nleep

# (seed, N, D, C, K source classes, {metric: value})
PINNED = [
    (
        0,
        50,
        64,
        5,
        20,
        {
            "logme": 0.4428760235273339,
            "leep": -1.3626991203505125,
            "nce": -0.7777092716079779,
            "nleep": -1.226925467176875,
            "hscore": 1.8050467342162506,
            "gbc": -0.8820017201776077,
            "knn": 0.44,
            "linear": 0.54,
            "knn_k3": 0.62,
            "knn_k5": 0.54,
            "gbc_spherical": -1.1352356162601105,
        },
    ),
    (
        1,
        80,
        2048,
        8,
        1000,
        {
            "logme": 126.52235136652061,
            "leep": -1.9383540425361772,
            "nce": -0.05198603854199589,
            "nleep": -1.802831821826461,
            "hscore": 3.934953518073163,
            "gbc": -1.0817985642055856,
            "knn": 0.1875,
            "linear": 0.4125,
            "knn_k3": 0.225,
            "knn_k5": 0.2625,
            "gbc_spherical": -6.5660291168546525,
        },
    ),
    (
        2,
        120,
        512,
        10,
        50,
        {
            "logme": 14.514567365022122,
            "leep": -1.922286629442908,
            "nce": -0.4482499946264846,
            "nleep": -1.8125550835683446,
            "hscore": 3.3994905751431066,
            "gbc": -1.9992602280820018,
            "knn": 0.20833333333333334,
            "linear": 0.4583333333333333,
            "knn_k3": 0.26666666666666666,
            "knn_k5": 0.3416666666666667,
            "gbc_spherical": -9.638138990981922,
        },
    ),
    (
        3,
        200,
        64,
        5,
        10,
        {
            "logme": -0.43974545200324855,
            "leep": -1.1337119222991712,
            "nce": -0.6191842257855127,
            "nleep": -1.246492007026054,
            "hscore": 1.6781116021751805,
            "gbc": -4.735848393965937,
            "knn": 0.5,
            "linear": 0.7500000000000001,
            "knn_k3": 0.53,
            "knn_k5": 0.555,
            "gbc_spherical": -4.287358640129475,
        },
    ),
    (
        4,
        200,
        1024,
        10,
        100,
        {
            "logme": 20.075160969963513,
            "leep": -2.128962010504306,
            "nce": -0.5989282598402023,
            "nleep": -1.8208017116457094,
            "hscore": 3.299071963568916,
            "gbc": -7.418839288317131,
            "knn": 0.195,
            "linear": 0.34500000000000003,
            "knn_k3": 0.26,
            "knn_k5": 0.32,
            "gbc_spherical": -17.092234728112157,
        },
    ),
    (
        5,
        150,
        300,
        6,
        30,
        {
            "logme": 3.698946038932973,
            "leep": -1.4672685835013661,
            "nce": -0.6515271950572636,
            "nleep": -1.4107166170283607,
            "hscore": 1.9886848646518935,
            "gbc": -3.9025129943363788,
            "knn": 0.37333333333333335,
            "linear": 0.4,
            "knn_k3": 0.4066666666666667,
            "knn_k5": 0.43333333333333335,
            "gbc_spherical": -6.571486537637524,
        },
    ),
]
FUNCTIONS = {
    "logme": logme.logme,
    "leep": leep.leep,
    "nce": nce.nce,
    "nleep": nleep.nleep,
    "hscore": hscore.hscore,
    "gbc": gbc.gbc,
    "knn": knn.knn,
    "linear": linear.linear,
    "knn_k3": lambda f, y, z: knn.knn(f, y, k=3),
    "knn_k5": lambda f, y, z: knn.knn(f, y, k=5),
    "gbc_spherical": lambda f, y, z: gbc.gbc(f, y, gaussian_type="spherical"),
}


def inputs(seed: int, n: int, d: int, c: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weak class structure (so no score saturates), per-feature scales that differ, noisy logits."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % c)
    f = (1.0 / d**0.25) * rng.normal(size=(c, d))[y] + rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, d)
    z = rng.normal(size=(n, k)) + 2.0 * (y[:, None] % k == np.arange(k))
    return f, y, z


@pytest.mark.parametrize("seed,n,d,c,k,expected", PINNED, ids=[f"N{p[1]}-D{p[2]}-C{p[3]}" for p in PINNED])
def test_scores_are_unchanged(seed, n, d, c, k, expected):
    f, y, z = inputs(seed, n, d, c, k)
    got = {name: FUNCTIONS[name](f, y, z) for name in expected}
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-12)
