"""The decoded-image store: decoded once, aspect kept, reused, and never read when damaged."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_distill.data import store as store_module
from zoo_distill.data.decode import load_rgb
from zoo_distill.data.store import RUNGS, open_store, store_side, stored_size
from zoo_distill.errors import DataError


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k, (w, h) in enumerate([(30, 20), (20, 30), (100, 50), (64, 64), (7, 9)]):
        path = tmp_path / "imgs" / f"{k}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_the_side_is_the_rung_at_or_above_the_centre_crops_need():
    assert store_side({"input_size": [3, 224, 224], "crop_pct": 0.875}) == 256
    assert store_side({"input_size": [3, 32, 32], "crop_pct": 1.0}) == 32
    assert store_side({"input_size": [3, 33, 33], "crop_pct": 1.0}) == 48
    assert store_side({"input_size": [3, 2000, 2000]}) == 2000  # past the last rung: its own need
    assert RUNGS == tuple(sorted(RUNGS))
    assert stored_size(100, 50, 32) == (64, 32) and stored_size(30, 20, 32) == (30, 20)


def test_images_are_stored_at_most_at_the_side_with_their_aspect_and_pixels(images, tmp_path):
    store = open_store(images, 32, tmp_path / "cache")
    assert len(store) == 5
    assert store.sizes.tolist() == [[20, 30], [30, 20], [32, 64], [32, 32], [9, 7]]
    assert store.shapes[:, 2:].tolist() == [[20, 30], [30, 20], [50, 100], [64, 64], [9, 7]]
    batch = store.read([1, 0, 4])
    assert batch.shape == (3, 31, 31, 3)  # padded to the batch's largest image, plus one edge row/column
    assert np.array_equal(batch[0, :30, :20], np.asarray(load_rgb(images[1])))
    assert np.array_equal(batch[1, :20, :30], np.asarray(load_rgb(images[0])))
    assert np.array_equal(batch[1, 20, :30], batch[1, 19, :30]) and np.array_equal(batch[1, :21, 30], batch[1, :21, 29])
    big = np.asarray(load_rgb(images[2]).resize((64, 32), Image.Resampling.BICUBIC))
    assert np.array_equal(store.read([2])[0, :32, :64], big)


def test_a_second_open_reads_the_file_instead_of_decoding(images, tmp_path, monkeypatch):
    first = open_store(images, 32, tmp_path / "cache")
    monkeypatch.setattr(store_module, "load_rgb", lambda path: pytest.fail("decoded again"))
    again = open_store(images, 32, tmp_path / "cache")
    assert np.array_equal(first.read(range(5)), again.read(range(5)))
    files = list((tmp_path / "cache" / "images").glob("*.safetensors"))
    assert len(files) == 1


def test_a_damaged_store_is_rebuilt_never_read(images, tmp_path):
    store_module._VERIFIED.clear()
    good = open_store(images, 32, tmp_path / "cache").read(range(5))
    (path,) = (tmp_path / "cache" / "images").glob("*.safetensors")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # a flipped byte in the pixels
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    assert np.array_equal(open_store(images, 32, tmp_path / "cache").read(range(5)), good)
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    assert np.array_equal(open_store(images, 32, tmp_path / "cache").read(range(5)), good)


def test_a_half_written_store_never_appears_under_its_name(images, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = store_module.load_rgb

    def failing(path: Path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise DataError(f"cannot read image {path}: broken")
        return real(path)

    monkeypatch.setattr(store_module, "load_rgb", failing)
    with pytest.raises(DataError, match="broken"):
        open_store(images, 32, tmp_path / "cache")
    folder = tmp_path / "cache" / "images"
    assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.tmp"))


def test_stores_concatenate_in_order_and_travel_without_descriptors(images, tmp_path):
    import pickle

    a, b = open_store(images[:2], 32, tmp_path / "c"), open_store(images[2:], 32, tmp_path / "c")
    both = a + b
    assert len(both) == 5 and np.array_equal(both.read([2])[0], b.read([0])[0])
    copy = pickle.loads(pickle.dumps(both))
    assert np.array_equal(copy.read([4, 0]), both.read([4, 0]))


def test_without_a_cache_the_store_lives_in_a_scratch_folder(images):
    store = open_store(images, 32, None)
    folder = Path(store.owner.name)
    assert folder.is_dir() and len(store) == 5
    del store
    assert not folder.exists()


def test_a_process_that_missed_the_file_reads_the_one_another_built_and_pins(images, tmp_path):
    """The builder pins its file (a shared lock on the lock file) for as long as it uses it: a process
    that missed the file and waits to build it must read the finished file, not wait for that pin."""
    import threading

    built = open_store(images, 32, tmp_path / "cache")  # built and pinned, as a DDP rank 0 or another run holds it
    (path,) = (tmp_path / "cache" / "images").glob("*.safetensors")
    found: list = []
    waiter = threading.Thread(target=lambda: found.append(store_module._build(path, images, 32, 0, None, "x")))
    waiter.daemon = True
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive(), "waited for the other process's pin"
    assert found[0].offsets.tolist() == built.parts[0].offsets.tolist()


def test_rows_made_elsewhere_go_through_the_same_writer_and_checksum(tmp_path):
    from zoo_distill.data.store import load_store_file, write_store_file
    from zoo_distill.errors import CacheError

    rng = np.random.default_rng(1)
    rows = [(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (2 * h, 2 * w)) for h, w in [(4, 6), (5, 3)]]
    path = tmp_path / "s.safetensors"
    write_store_file(path, iter(rows), 2, 8)
    store = load_store_file(path)
    assert store.shapes.tolist() == [[4, 6, 8, 12], [5, 3, 10, 6]]
    assert np.array_equal(store.read([1])[0, :5, :3], rows[1][0])
    with pytest.raises(ValueError, match="1 images where 2 were announced"):
        write_store_file(tmp_path / "short.safetensors", iter(rows[:1]), 2, 8)
    assert not (tmp_path / "short.safetensors").exists() and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(CacheError, match="not a whole image store"):
        load_store_file(tmp_path / "short.safetensors")
