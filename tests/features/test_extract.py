import numpy as np

from zoo_distill.features.cache import FeatureCache
from zoo_distill.data.target import load_target
from zoo_distill.features.extract import compute_features, extract
from zoo_distill.plugin.manager import get_registry
from zoo_distill.zoo.file import load_zoo


def teachers(zoo_path):
    registry = get_registry()
    return {e.name: registry.provider(e.provider).load(e) for e in load_zoo(zoo_path)}


def test_extract_caches_and_reuses(tiny_zoo, target_dir, tmp_path):
    teacher = teachers(tiny_zoo)["teacher-a"]
    paths = load_target(target_dir).train.paths
    cache = FeatureCache(tmp_path / "c")
    first = extract(teacher, paths, cache, batch_size=4)
    assert not first.cached and first.features.shape == (18, teacher.feature_dim) and first.logits.shape == (18, 4)
    second = extract(teacher, paths, cache, batch_size=7)
    assert second.cached and second.path == first.path
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.logits, first.logits)


def test_batch_size_does_not_change_features(tiny_zoo, target_dir):
    teacher = teachers(tiny_zoo)["teacher-a"]
    paths = load_target(target_dir).train.paths
    a, _ = compute_features(teacher, paths, batch_size=1)
    b, _ = compute_features(teacher, paths, batch_size=18)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_cache_misses_on_other_teacher_or_data(tiny_zoo, target_dir, tmp_path):
    t = teachers(tiny_zoo)
    paths = load_target(target_dir).train.paths
    cache = FeatureCache(tmp_path / "c")
    extract(t["teacher-a"], paths, cache)
    assert not extract(t["teacher-b"], paths, cache).cached
    assert not extract(t["teacher-a"], paths[:-1], cache).cached
    assert extract(t["teacher-a"], paths, cache).cached
    headless = extract(t["teacher-b"], paths, cache)
    assert headless.cached and headless.logits is None
