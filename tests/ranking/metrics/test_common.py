"""Properties every built-in metric must have, and the shared input checks / numerical helpers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

import zoo_distill.ranking.metrics as metrics_package
from zoo_distill.plugin.types import FEATURES, LOGITS
from zoo_distill.ranking.metrics import BUILTIN_METRICS, MetricError, prepare_inputs
from zoo_distill.ranking.metrics._common import pca_project, top_eigenpairs

NAMES = [m.name for m in BUILTIN_METRICS]


def structured(
    rng: np.random.Generator, per_class: list[int], dim: int, k: int = 7, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features with class structure, labels, and logits that partly agree with the labels."""
    labels = np.repeat(np.arange(len(per_class)), per_class)
    centers = rng.normal(size=(len(per_class), dim)) * spread
    features = centers[labels] + rng.normal(size=(labels.size, dim))
    logits = rng.normal(size=(labels.size, k)) + 2.0 * (labels[:, None] % k == np.arange(k))
    return features, labels, logits


def test_builtin_metrics_order_and_fields():
    assert NAMES == ["logme", "leep", "nce", "nleep", "hscore", "gbc", "knn", "linear", "sfda", "ncti", "etran"]
    for metric in BUILTIN_METRICS:
        assert metric.reference and metric.description
        assert set(metric.needs) <= {FEATURES, LOGITS} and metric.needs
    assert {m.name for m in BUILTIN_METRICS if LOGITS in m.needs} == {"leep", "nce"}


@settings(max_examples=12, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**16),
    sizes=st.lists(st.integers(2, 6), min_size=2, max_size=4),
    dim=st.integers(1, 9),
    data=st.data(),
)
def test_label_permutation_invariance(seed, sizes, dim, data):
    """Renaming the classes (any permutation, any integers) never changes any score."""
    rng = np.random.default_rng(seed)
    features, labels, logits = structured(rng, sizes, dim)
    perm = np.array(data.draw(st.permutations(range(len(sizes)))))
    renamed = 10 * perm[labels] + 3  # a permutation, and not 0..C-1 either
    for metric in BUILTIN_METRICS:
        a = metric.score(features, labels, logits)
        b = metric.score(features, renamed, logits)
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), metric.name


#: The range each metric's docstring promises, as a function of the number of classes C.
RANGES = {
    "leep": lambda c: (-np.inf, 0.0),
    "nce": lambda c: (-np.log(c), 0.0),
    "nleep": lambda c: (-np.inf, 0.0),
    "hscore": lambda c: (0.0, np.inf),
    "gbc": lambda c: (-c * (c - 1.0), 0.0),
    "knn": lambda c: (0.0, 1.0),
    "linear": lambda c: (0.0, 1.0),
}


def assert_score(name: str, value: object, n_classes: int) -> None:
    """A plain float inside the metric's documented range (to rounding)."""
    assert type(value) is float, (name, type(value))
    low, high = RANGES.get(name, lambda c: (-np.inf, np.inf))(n_classes)
    assert low - 1e-9 <= value <= high + 1e-9, f"{name} = {value} outside [{low}, {high}] for C = {n_classes}"


def assert_informative_beats_shuffled(metric, features, labels, logits, seed: int) -> None:
    """The labels the features (and logits) were built from score higher than a shuffle of them."""
    n_classes = np.unique(labels).size
    shuffled = np.random.default_rng(seed).permutation(labels)
    real, chance = metric.score(features, labels, logits), metric.score(features, shuffled, logits)
    assert_score(metric.name, real, n_classes)
    assert_score(metric.name, chance, n_classes)
    assert real > chance, f"{metric.name}: {real} with the true labels, {chance} with shuffled ones"


@pytest.mark.parametrize("name", NAMES)
def test_few_labels_high_dimension_tells_informative_from_shuffled_labels(name):
    """5 labels per class, 10 classes, D = 2048 (D >> N): in range, and the true labels win."""
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    rng = np.random.default_rng(1)
    features, labels, logits = structured(rng, [5] * 10, 2048, k=20, spread=0.3)
    assert_informative_beats_shuffled(metric, features, labels, logits, seed=101)


@pytest.mark.parametrize("name", NAMES)
def test_paper_scale_logits_with_few_labels_score_in_range(name):
    """1000 source classes against 50 samples: every metric still answers inside its range."""
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    features, labels, logits = structured(np.random.default_rng(1), [5] * 10, 2048, k=1000, spread=0.3)
    assert_score(name, metric.score(features, labels, logits), 10)


@pytest.mark.parametrize("name", NAMES)
def test_class_with_a_single_sample(name):
    """A singleton class is scored (in range), and does not hide the class structure of the others."""
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    rng = np.random.default_rng(2)
    features, labels, logits = structured(rng, [6, 1, 5, 4], 32)
    assert_score(name, metric.score(features, labels, logits), 4)
    features, labels, logits = structured(rng, [1, 1, 3], 300)  # two singletons, D > N
    assert_score(name, metric.score(features, labels, logits), 3)
    features, labels, logits = structured(np.random.default_rng(3), [10, 1, 8, 7], 8)  # N > D
    assert_informative_beats_shuffled(metric, features, labels, logits, seed=102)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    features, labels, logits = structured(np.random.default_rng(3), [8, 9, 7], 20)
    assert metric.score(features, labels, logits) == metric.score(features.copy(), labels.copy(), logits.copy())


@pytest.mark.parametrize("name", NAMES)
def test_one_class_raises(name):
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    features, _, logits = structured(np.random.default_rng(4), [5, 5], 6)
    with pytest.raises(MetricError, match="at least 2 target classes"):
        metric.score(features, np.full(10, 3), logits)


@pytest.mark.parametrize("name", [m.name for m in BUILTIN_METRICS if FEATURES in m.needs])
def test_nan_features_raise_naming_nan(name):
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    features, labels, logits = structured(np.random.default_rng(5), [5, 5], 6)
    features[3, 2] = np.nan
    with pytest.raises(MetricError, match=r"features contain non-finite values \(1 NaN\)"):
        metric.score(features, labels, logits)


@pytest.mark.parametrize("name", ["leep", "nce"])
def test_logit_metrics_need_logits(name):
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    features, labels, logits = structured(np.random.default_rng(6), [5, 5], 6)
    with pytest.raises(MetricError, match="needs the source model's logits"):
        metric.score(features, labels, None)
    logits[0, 0] = np.inf
    with pytest.raises(MetricError, match=r"source logits contain non-finite values \(1 inf\)"):
        metric.score(features, labels, logits)


def test_prepare_inputs_remaps_casts_and_validates():
    feats, labels, logits = prepare_inputs(np.ones((4, 2), np.float32), np.array([9, 5, 9, 7]), None)
    assert feats.dtype == np.float64 and logits is None
    assert labels.tolist() == [2, 0, 2, 1]
    _, labels, _ = prepare_inputs(np.zeros((3, 1)), np.array(["b", "a", "b"]), np.zeros((3, 2), np.float32))
    assert labels.tolist() == [1, 0, 1]
    with pytest.raises(MetricError, match="features have 3 rows but labels have 2"):
        prepare_inputs(np.zeros((3, 2)), np.array([0, 1]), None)
    with pytest.raises(MetricError, match="source logits have 2 rows but features have 3"):
        prepare_inputs(np.zeros((3, 2)), np.array([0, 1, 1]), np.zeros((2, 4)))
    with pytest.raises(MetricError, match="2-D"):
        prepare_inputs(np.zeros(3), np.array([0, 1, 1]), None)
    with pytest.raises(MetricError, match=r"1 NaN, 1 inf"):
        prepare_inputs(np.array([[np.nan], [np.inf], [0.0]]), np.array([0, 1, 1]), None)
    assert issubclass(MetricError, ValueError)


@pytest.mark.parametrize("shape", [(40, 6), (8, 30)])
def test_pca_project_matches_sklearn(shape):
    x = np.random.default_rng(7).normal(size=shape) * np.linspace(3.0, 0.5, shape[1])
    ours = pca_project(x, 3)
    ref = PCA(n_components=3, svd_solver="full").fit_transform(x)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-9)
    kept = pca_project(x, 0.8)
    assert kept.shape[1] == PCA(n_components=0.8, svd_solver="full").fit(x).n_components_
    assert pca_project(x, 1000).shape[1] == min(shape[0] - 1, shape[1])  # capped at min(N - 1, D)


def test_top_eigenpairs_are_the_largest_exact_pairs():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(9, 9))
    a = a @ a.T
    vals, vecs = top_eigenpairs(a.copy(), 3)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(a)[::-1][:3], rtol=1e-10)
    assert np.all(np.diff(vals) <= 0)  # descending
    np.testing.assert_allclose(a @ vecs, vecs * vals, atol=1e-9)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-12)
    assert top_eigenpairs(a.copy(), 50)[0].shape == (9,)  # k is capped at the size


@pytest.mark.parametrize("name", ["nleep", "hscore", "gbc", "knn", "linear"])
def test_scale_free_metrics_survive_extreme_magnitudes(name):
    """Metrics that ignore the feature scale give the same score at 1e-150 and 1e150 (no overflow)."""
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    features, labels, logits = structured(np.random.default_rng(9), [7, 6, 8], 5)
    value = metric.score(features, labels, logits)
    for scale in (1e150, 1e-150, 3.0):
        assert metric.score(scale * features, labels, logits) == pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_degenerate_inputs_give_a_number_or_metric_error(name):
    """Constant features, duplicated rows, two samples, absurd magnitudes: never a bare crash."""
    metric = next(m for m in BUILTIN_METRICS if m.name == name)
    rng = np.random.default_rng(10)
    cases = [
        (np.ones((20, 8)), np.arange(20) % 3),
        (np.ones((10, 50)), np.arange(10) % 2),
        (np.repeat(rng.normal(size=(4, 6)), 5, axis=0), np.arange(20) % 4),
        (rng.normal(size=(2, 5)), np.array([0, 1])),
        (1e300 * rng.normal(size=(12, 3)), np.arange(12) % 2),
        (1e-300 * rng.normal(size=(12, 3)), np.arange(12) % 2),
    ]
    for features, labels in cases:
        logits = rng.normal(size=(labels.size, 4))
        try:
            value = metric.score(features, labels, logits)
        except MetricError as exc:
            assert str(exc)
        else:
            assert_score(name, value, np.unique(labels).size)


HEAVY = ("sklearn", "scipy")


def test_listing_the_metrics_loads_neither_scikit_learn_nor_scipy():
    """The CLI's `plugins` and `metrics` commands list every metric; they must stay fast. A metric's
    module (and what it imports) loads the first time the metric runs, and then only that one."""
    code = (
        "import json, sys, numpy as np\nfrom zoo_distill.ranking.metrics import BUILTIN_METRICS\n"
        "listed = [(m.name, m.reference) for m in BUILTIN_METRICS]\nbefore = sorted(sys.modules)\n"
        "knn = next(m for m in BUILTIN_METRICS if m.name == 'knn')\n"
        "score = knn.score(np.random.default_rng(0).normal(size=(12, 4)), np.arange(12) % 3)\n"
        "print(json.dumps([len(listed), before, sorted(sys.modules), score]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    listed, before, after, score = json.loads(out)
    assert listed == len(metrics_package.BUILTIN_METRICS) >= 11
    assert not {name.split(".")[0] for name in before} & set(HEAVY)
    assert not [m for m in before if m.startswith("zoo_distill.ranking.metrics.")]  # no metric module yet
    assert "zoo_distill.ranking.metrics.knn" in after and "zoo_distill.ranking.metrics.logme" not in after
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("path", sorted(Path(metrics_package.__file__).parent.glob("*.py")), ids=lambda p: p.name)
def test_metric_modules_import_heavy_libraries_inside_functions(path):
    for node in ast.parse(path.read_text()).body:  # module level only
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        heavy = [name for name in names if name.split(".")[0] in HEAVY]
        assert not heavy, f"{path.name}:{node.lineno} imports {heavy} at module level; import it inside the function"
