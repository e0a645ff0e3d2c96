"""Every built-in metric on degenerate inputs: a finite float or a MetricError, nothing else.

A NaN or inf score would silently poison a ranking (and the aggregator weights computed from
it), and any other exception type would surface as a traceback or a vague per-source failure.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zoo_distill.plugin.types import FEATURES, LOGITS
from zoo_distill.ranking.metrics import BUILTIN_METRICS, MetricError

NAMES = [m.name for m in BUILTIN_METRICS]
METRICS = {m.name: m for m in BUILTIN_METRICS}


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _labels(n: int, classes: int = 3) -> np.ndarray:
    return np.arange(n) % classes


def _logits(n: int, k: int = 5) -> np.ndarray:
    return _rng().normal(size=(n, k))


def _features(n: int, d: int) -> np.ndarray:
    return _rng().normal(size=(n, d))


def _nan_at(array: np.ndarray, value: float) -> np.ndarray:
    out = array.copy()
    out[1, 0] = value
    return out


# (case id, features, labels, logits, inputs the metric cannot possibly score -> MetricError required)
CASES = {
    "constant-features": (np.full((20, 8), 3.0), _labels(20), _logits(20), ()),
    "zero-features": (np.zeros((20, 8)), _labels(20), _logits(20), ()),
    "constant-features-wide": (np.ones((10, 50)), _labels(10, 2), _logits(10), ()),
    "one-constant-column": (np.c_[_features(20, 4), np.ones(20)], _labels(20), _logits(20), ()),
    "one-class": (_features(20, 8), np.zeros(20, int), _logits(20), tuple(NAMES)),
    "duplicate-points": (np.repeat(_features(4, 6), 5, axis=0), _labels(20, 4), _logits(20), ()),
    "duplicates-across-classes": (np.repeat(_features(1, 6), 12, axis=0), _labels(12), _logits(12), ()),
    "nan-in-features": (
        _nan_at(_features(20, 8), np.nan),
        _labels(20),
        _logits(20),
        tuple(m.name for m in BUILTIN_METRICS if FEATURES in m.needs),
    ),
    "inf-in-features": (
        _nan_at(_features(20, 8), np.inf),
        _labels(20),
        _logits(20),
        tuple(m.name for m in BUILTIN_METRICS if FEATURES in m.needs),
    ),
    "neg-inf-in-features": (
        _nan_at(_features(20, 8), -np.inf),
        _labels(20),
        _logits(20),
        tuple(m.name for m in BUILTIN_METRICS if FEATURES in m.needs),
    ),
    "huge-d-tiny-n": (_features(6, 4096), _labels(6, 2), _logits(6), ()),
    "huge-d-tiny-n-constant": (np.ones((6, 4096)), _labels(6, 2), _logits(6), ()),
    "two-samples": (_features(2, 5), np.array([0, 1]), _logits(2), ()),
    "singleton-classes": (_features(5, 3), np.arange(5), _logits(5), ()),
    "one-dim": (_features(15, 1), _labels(15), _logits(15), ()),
    "nan-logits": (
        _features(20, 8),
        _labels(20),
        _nan_at(_logits(20), np.nan),
        tuple(m.name for m in BUILTIN_METRICS if LOGITS in m.needs),
    ),
    "inf-logits": (
        _features(20, 8),
        _labels(20),
        _nan_at(_logits(20), np.inf),
        tuple(m.name for m in BUILTIN_METRICS if LOGITS in m.needs),
    ),
    "identical-logits": (_features(20, 8), _labels(20), np.full((20, 5), 0.7), ()),
    "one-source-class": (_features(20, 8), _labels(20), np.ones((20, 1)), ()),
    "huge-logits": (_features(20, 8), _labels(20), 1e300 * _logits(20), ()),
    "huge-features": (1e300 * _features(20, 8), _labels(20), _logits(20), ()),
    "tiny-features": (1e-310 * _features(20, 8), _labels(20), _logits(20), ()),
    "integer-features": (np.arange(40).reshape(20, 2) % 3, _labels(20), _logits(20), ()),
    "bool-features": (_features(20, 8) > 0, _labels(20), _logits(20), ()),
    "float32-features": (_features(20, 8).astype(np.float32), _labels(20), _logits(20), ()),
    "odd-label-values": (_features(20, 8), (_labels(20) * 1000) - 7, _logits(20), ()),
    "no-logits": (_features(20, 8), _labels(20), None, tuple(m.name for m in BUILTIN_METRICS if LOGITS in m.needs)),
    "empty": (np.zeros((0, 8)), np.zeros(0, int), np.zeros((0, 5)), tuple(NAMES)),
    "zero-dims": (
        np.zeros((20, 0)),
        _labels(20),
        _logits(20),
        tuple(m.name for m in BUILTIN_METRICS if FEATURES in m.needs),
    ),
    "label-count-mismatch": (_features(20, 8), _labels(19), _logits(20), tuple(NAMES)),
    "labels-2d": (_features(20, 8), _labels(20)[:, None], _logits(20), tuple(NAMES)),
    "features-1d": (
        _features(20, 1)[:, 0],
        _labels(20),
        _logits(20),
        tuple(m.name for m in BUILTIN_METRICS if FEATURES in m.needs),
    ),
    "logits-1d": (
        _features(20, 8),
        _labels(20),
        _logits(20)[:, 0],
        tuple(m.name for m in BUILTIN_METRICS if LOGITS in m.needs),
    ),
    "logit-row-mismatch": (
        _features(20, 8),
        _labels(20),
        _logits(19),
        tuple(m.name for m in BUILTIN_METRICS if LOGITS in m.needs),
    ),
    "string-features": (
        np.full((20, 2), "a"),
        _labels(20),
        _logits(20),
        tuple(m.name for m in BUILTIN_METRICS if FEATURES in m.needs),
    ),
}


def check(name: str, features, labels, logits, must_fail: bool = False) -> float | None:
    """Score and assert the contract: finite float or MetricError with a non-empty message."""
    metric = METRICS[name]
    try:
        value = metric.score(features, labels, logits)
    except MetricError as exc:
        assert str(exc).strip(), f"{name}: MetricError without a message"
        return None
    assert not must_fail, f"{name} scored inputs it cannot score: {value!r}"
    assert isinstance(value, float) and np.isfinite(value), f"{name} returned {value!r}"
    return value


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", NAMES)
def test_degenerate_input_gives_a_finite_float_or_metric_error(name, case):
    features, labels, logits, must_fail = CASES[case]
    check(name, features, labels, logits, must_fail=name in must_fail)


@pytest.mark.parametrize("name", NAMES)
def test_metric_error_messages_say_what_is_wrong(name):
    metric = METRICS[name]
    with pytest.raises(MetricError, match="at least 2 target classes"):
        metric.score(_features(10, 4), np.zeros(10, int), _logits(10))
    bad = _nan_at(_features(10, 4), np.nan) if FEATURES in metric.needs else _features(10, 4)
    bad_logits = _nan_at(_logits(10), np.nan) if LOGITS in metric.needs else _logits(10)
    with pytest.raises(MetricError, match="non-finite values"):
        metric.score(bad, _labels(10), bad_logits)
    if LOGITS in metric.needs:
        with pytest.raises(MetricError, match="logits"):
            metric.score(_features(10, 4), _labels(10), None)


def _every_metric_refuses(features, labels, logits) -> None:
    for metric in BUILTIN_METRICS:
        with pytest.raises(MetricError):
            metric.score(features, labels, logits)


def test_mixed_type_labels_are_a_metric_error():
    """API misuse (the CLI always passes integer labels): the same contract should hold."""
    _every_metric_refuses(_features(12, 4), np.array([0, "a"] * 6, dtype=object), _logits(12))


def test_non_numeric_logits_are_a_metric_error():
    _every_metric_refuses(_features(12, 4), _labels(12), np.full((12, 3), "a"))


finite_or_extreme = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, width=64),
    st.sampled_from([0.0, 1.0, -1.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 1e150]),
)
any_float = st.one_of(finite_or_extreme, st.sampled_from([np.nan, np.inf, -np.inf]))


@st.composite
def metric_inputs(draw, elements=finite_or_extreme):
    n = draw(st.integers(2, 12))
    d = draw(st.integers(1, 7))
    features = draw(hnp.arrays(np.float64, (n, d), elements=elements))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(-3, 3)))
    k = draw(st.integers(1, 4))
    logits = draw(hnp.arrays(np.float64, (n, k), elements=elements))
    return features, labels, logits


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=metric_inputs())
def test_random_small_inputs_never_crash(name, inputs):
    """Tiny random arrays with extreme magnitudes and arbitrary labels: the same contract."""
    check(name, *inputs)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=metric_inputs(elements=any_float))
def test_random_inputs_with_non_finite_values_never_crash(name, inputs):
    check(name, *inputs)


def test_rank_reports_constant_features_as_errors_or_finite_scores(tmp_path, monkeypatch):
    """Through ``rank --json``: a source whose features are all equal never yields NaN/inf, and the
    ranking still sorts and weights the healthy source."""
    from typer.testing import CliRunner

    import zoo_distill.features.extract as features_module
    from zoo_distill.cli.app import app

    from ...conftest import local_entry, save_tiny_model, write_split, write_zoo

    target = tmp_path / "target"
    write_split(target / "train", 3, 5, seed=4)
    save_tiny_model(tmp_path / "w" / "flat.safetensors", num_classes=4, seed=0)
    save_tiny_model(tmp_path / "w" / "good.safetensors", num_classes=4, seed=1)
    zoo = write_zoo(
        tmp_path / "zoo.yaml", [local_entry("flat", "w/flat.safetensors"), local_entry("good", "w/good.safetensors")]
    )
    real = features_module.iter_features
    flattened = []

    def flatten(teacher, paths, *args, **kwargs):
        for feats, logits in real(teacher, paths, *args, **kwargs):
            if teacher.name == "flat":  # a collapsed teacher: one constant vector and one logit row for all
                flattened.append(len(feats))
                feats = np.full_like(feats, 0.25)
                logits = np.full_like(logits, 1.5) if logits is not None else None
            yield feats, logits

    monkeypatch.setattr(features_module, "iter_features", flatten)
    res = CliRunner().invoke(
        app, ["rank", "-t", str(target), "--zoo", str(zoo), "--json", "--cache-dir", str(tmp_path / "cache")]
    )
    assert res.exit_code == 0, res.output
    assert "NaN" not in res.stdout and "Infinity" not in res.stdout
    result = json.loads(res.stdout)
    flat = next(s for s in result["sources"] if s["name"] == "flat")
    assert flat["status"] == "ok" and set(flat["scores"]) == set(result["metrics"])
    for metric, value in flat["scores"].items():
        assert (value is None and flat["metric_errors"][metric]) or np.isfinite(value), (metric, value)
    good = next(s for s in result["sources"] if s["name"] == "good")
    assert all(np.isfinite(v) for v in good["scores"].values())
    assert sum(flattened) == 15  # the collapsed teacher really produced every feature of the ranking
    primary = [s["scores"][result["primary_metric"]] for s in result["sources"]]
    known = [v for v in primary if v is not None]
    assert known == sorted(known, reverse=True) and primary[: len(known)] == known  # None sorts last
    for weights in result["weights"].values():
        assert all(np.isfinite(w) for w in weights.values())
        assert sum(weights.values()) == pytest.approx(1.0)
