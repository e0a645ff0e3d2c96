import errno
import json
import os

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from zoo_distill.errors import CacheError
from zoo_distill.features.cache import FeatureCache
from zoo_distill.util.rowfile import RowWriter, locate


def arrays(n: int = 37, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "features": rng.standard_normal((n, 6), dtype=np.float32),
        "logits": rng.standard_normal((n, 3), dtype=np.float32),
        "half": rng.standard_normal((n, 2)).astype(np.float16),
    }


def shapes(data: dict[str, np.ndarray]) -> dict:
    return {name: (a.shape, a.dtype) for name, a in data.items()}


def test_rows_written_in_blocks_give_save_files_bytes(tmp_path):
    data, meta = arrays(), {"zoo_distill": json.dumps({"teacher": "t/é", "key": "k"})}
    save_file(data, str(tmp_path / "whole.safetensors"), metadata=meta)
    starts = np.random.default_rng(1).permutation(range(0, 37, 5))  # blocks of 5 rows, in any order
    with RowWriter(tmp_path / "rows.safetensors", shapes(data), meta) as writer:
        for start in starts:
            for name, a in data.items():
                writer.write(name, int(start), a[start : start + 5])
    assert (tmp_path / "rows.safetensors").read_bytes() == (tmp_path / "whole.safetensors").read_bytes()
    found, metadata = locate(tmp_path / "rows.safetensors")
    assert metadata == meta and found["logits"].shape == (37, 3)
    np.testing.assert_array_equal(found["features"].memmap(), data["features"])
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_an_exception_mid_write_leaves_no_file(tmp_path):
    data, target = arrays(), tmp_path / "x.safetensors"
    with pytest.raises(RuntimeError, match="teacher failed"), RowWriter(target, shapes(data)) as writer:
        writer.write("features", 0, data["features"][:10])
        assert not target.exists()  # the rows go to a temporary name
        raise RuntimeError("teacher failed")
    assert list(tmp_path.iterdir()) == []


def test_missing_rows_are_never_published(tmp_path):
    data, target = arrays(), tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="rows never written"), RowWriter(target, shapes(data)) as writer:
        for name, a in data.items():
            writer.write(name, 0, a[:-1])  # the last row is missing
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="do not fit"), RowWriter(target, shapes(data)) as writer:
        writer.write("features", 30, data["features"][:10])  # past the end
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_left_by_a_killed_writer_is_a_miss_and_cleared(tmp_path):
    """A process killed mid-write leaves its temporary; the cache never reads it as the key's file."""
    cache, data = FeatureCache(tmp_path), arrays()
    writer = cache.writer("t", "k" * 64, shapes(data), {"teacher": "t"})
    writer.__enter__()
    writer.write("features", 0, data["features"])  # ... and the process dies here: no __exit__
    os.close(writer._fd)  # (what the OS does for a killed process)
    writer._fd = writer._tmp = None
    assert cache.load("t", "k" * 64) is None and cache.locate("t", "k" * 64) is None
    assert cache.entries() == []
    assert cache.clear()[0] == 1 and not [p for p in cache.dir.iterdir() if p.suffix == ".tmp"]


def test_cache_writer_stamps_like_save_and_reads_back(tmp_path):
    cache, data = FeatureCache(tmp_path), arrays()
    with cache.writer("t/x", "k" * 64, shapes(data), {"teacher": "t/x", "view": "eval"}) as writer:
        for name, a in data.items():
            writer.write(name, 0, a[:20])
            writer.write(name, 20, a[20:])
    loaded, meta = cache.load("t/x", "k" * 64)
    assert meta["key"] == "k" * 64 and meta["teacher"] == "t/x" and meta["format"] >= 1
    for name, a in data.items():
        np.testing.assert_array_equal(loaded[name], a)
    rows = cache.locate("t/x", "k" * 64)
    assert rows["features"].offset + rows["features"].nbytes <= cache.path_for("t/x", "k" * 64).stat().st_size
    assert cache.locate("t/x", "j" * 64) is None  # another key's name is a miss
    saved = cache.save("u", "k" * 64, data, {"teacher": "u"})  # the same arrays through save: same data bytes
    np.testing.assert_array_equal(load_file(str(saved))["features"], loaded["features"])


def test_locate_refuses_truncated_and_damaged_files(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file(arrays(), str(path))
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])
    with pytest.raises(ValueError, match="bytes where the header describes"):
        locate(path)
    path.write_bytes(b"\xff" * 16)
    with pytest.raises(ValueError):
        locate(path)
    path.write_bytes(whole[:40])
    assert FeatureCache(tmp_path).locate("x", "k") is None


def test_a_full_disk_is_a_cache_error(tmp_path, monkeypatch):
    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    cache = FeatureCache(tmp_path)
    with pytest.raises(CacheError, match="No space left"), cache.writer("t", "k" * 64, shapes(arrays()), {}):
        pass
    assert not [p for p in cache.dir.iterdir() if not p.name.endswith(".lock")]
