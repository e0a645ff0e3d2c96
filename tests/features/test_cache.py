import os

import numpy as np

from zoo_distill.features.cache import FeatureCache, cache_key


def test_key_depends_on_every_input():
    base = dict(teacher_digest="t", data_fingerprint="d", preprocessing={"input_size": [3, 32, 32]}, view="eval")
    key = cache_key(**base)
    for field, other in [("teacher_digest", "t2"), ("data_fingerprint", "d2"),
                         ("preprocessing", {"input_size": [3, 64, 64]}), ("view", "aug:0:1")]:
        assert cache_key(**{**base, field: other}) != key


def test_save_load_roundtrip(tmp_path):
    cache = FeatureCache(tmp_path)
    arrays = {"features": np.arange(12, dtype=np.float32).reshape(3, 4), "logits": np.ones((3, 2), np.float32)}
    path = cache.save("teacher/x", "k" * 64, arrays, {"teacher": "teacher/x", "view": "eval", "images": 3})
    assert path.parent == tmp_path / "features" and "/" not in path.name
    loaded, meta = cache.load("teacher/x", "k" * 64)
    np.testing.assert_array_equal(loaded["features"], arrays["features"])
    assert meta["teacher"] == "teacher/x" and meta["key"] == "k" * 64
    assert cache.load("teacher/x", "j" * 64) is None
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]


def test_damaged_file_is_a_miss(tmp_path):
    cache = FeatureCache(tmp_path)
    path = cache.save("t", "k" * 64, {"features": np.zeros((2, 2), np.float32)}, {"teacher": "t"})
    path.write_bytes(path.read_bytes()[:40])  # as if a non-atomic writer had crashed
    assert cache.load("t", "k" * 64) is None


def test_ls_and_clear(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save("a", "1" * 64, {"features": np.zeros((2, 2), np.float32)}, {"teacher": "a", "view": "eval"})
    cache.save("b", "2" * 64, {"features": np.zeros((2, 2), np.float32)}, {"teacher": "b", "view": "eval"})
    stray = cache.dir / ".b-xyz.safetensors.abc.tmp"
    stray.write_bytes(b"partial")
    assert sorted(e.metadata["teacher"] for e in cache.entries()) == ["a", "b"]
    assert cache.clear(teacher="a")[0] == 2  # a's file and the stray temporary
    assert [e.metadata["teacher"] for e in cache.entries()] == ["b"]
    assert cache.clear()[0] == 1 and cache.entries() == []
    assert not os.listdir(cache.dir)
