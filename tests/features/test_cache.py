import multiprocessing
import os
from pathlib import Path

import numpy as np

from zoo_distill.features.cache import FeatureCache, cache_key


def test_key_depends_on_every_input():
    base = {
        "teacher_digest": "t",
        "data_fingerprint": "d",
        "preprocessing": {"input_size": [3, 32, 32]},
        "view": "eval",
    }
    key = cache_key(**base)
    for field, other in [
        ("teacher_digest", "t2"),
        ("data_fingerprint", "d2"),
        ("preprocessing", {"input_size": [3, 64, 64]}),
        ("view", "aug:0:1"),
    ]:
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


def _save_scores_in_turn(root: str, key: str, worker: int, count: int, start) -> None:
    """One of two processes: merge ``count`` scores of its own into the same key's file, one at a time."""
    cache = FeatureCache(root)
    start.wait()
    for i in range(count):
        cache.save_scores(key, {f"w{worker}-m{i}": float(i)})


def test_two_processes_saving_scores_for_one_key_lose_none(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_save_scores_in_turn, args=(str(tmp_path), "k" * 64, w, 40, start)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    scores = FeatureCache(tmp_path).load_scores("k" * 64)
    assert scores == {f"w{w}-m{i}": float(i) for w in range(2) for i in range(40)}


def test_locks_stay_out_of_ls_and_clear_removes_the_free_ones(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save("a", "1" * 64, {"features": np.zeros((2, 2), np.float32)}, {"teacher": "a", "view": "eval"})
    cache.save_scores("1" * 64, {"logme": 1.0})
    with cache.lock("a", "1" * 64):
        pass  # leaves a free lock file, as a finished extraction does
    held = cache.lock("b", "2" * 64)  # an extraction still running
    held.acquire()
    try:
        assert {p.name.endswith(".lock") for p in cache.dir.iterdir()} == {True, False}
        assert [e.metadata["teacher"] for e in cache.entries()] == ["a"]
        assert cache.clear()[0] == 1  # the feature file; locks are bookkeeping, not counted
        assert [p.name for p in cache.dir.iterdir()] == [Path(held.lock_file).name]  # still in use: kept
        assert not list((tmp_path / "scores").iterdir())
    finally:
        held.release()
    assert tuple(cache.clear()) == (0, 0) and not os.listdir(cache.dir)


def test_clearing_one_teacher_removes_its_free_lock_only(tmp_path):
    cache = FeatureCache(tmp_path)
    for name, key in (("a", "1" * 64), ("b", "2" * 64)):
        cache.save(name, key, {"features": np.zeros((2, 2), np.float32)}, {"teacher": name})
        with cache.lock(name, key):
            pass
    assert cache.clear(teacher="a")[0] == 1
    assert sorted(p.name for p in cache.dir.iterdir()) == sorted(
        [cache.path_for("b", "2" * 64).name, cache.path_for("b", "2" * 64).name + ".lock"]
    )


def test_a_flipped_byte_is_a_miss_for_both_writers(tmp_path):
    """save() and the row writer stamp the same checksum; a byte flipped on disk makes either file a miss."""
    from zoo_distill.util.rowfile import locate

    cache = FeatureCache(tmp_path)
    a = np.arange(48, dtype=np.float32).reshape(12, 4)
    saved = cache.save("s", "1" * 64, {"features": a}, {"teacher": "s"})
    with cache.writer("w", "2" * 64, {"features": (a.shape, np.float32)}, {"teacher": "w"}) as writer:
        writer.write("features", 6, a[6:])
        writer.write("features", 0, a[:6])  # any order: the checksum is computed once every row is there
    written = cache.path_for("w", "2" * 64)
    assert locate(saved)[1]["zoo_distill_sha256"] == locate(written)[1]["zoo_distill_sha256"]
    assert cache.load("s", "1" * 64) is not None and cache.locate("w", "2" * 64) is not None
    for path in (saved, written):
        raw = bytearray(path.read_bytes())
        raw[locate(path)[0]["features"].offset + 17] ^= 0x01  # one bit of one row
        path.write_bytes(bytes(raw))
    assert cache.load("s", "1" * 64) is None and cache.load("w", "2" * 64) is None
    assert cache.locate("s", "1" * 64) is None and cache.locate("w", "2" * 64) is None
    assert cache.locate("w", "2" * 64, verify=False) is not None  # the header alone cannot tell


def test_edited_scores_are_a_miss(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save_scores("k" * 64, {"logme": 1.5})
    assert cache.load_scores("k" * 64) == {"logme": 1.5}
    path = next((tmp_path / "scores").glob("*.json"))
    path.write_text(path.read_text().replace("1.5", "2.5"))
    assert cache.load_scores("k" * 64) == {}
