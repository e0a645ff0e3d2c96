import gc
import multiprocessing
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo_distill.data.policy import ViewPolicy
from zoo_distill.data.store import open_store, store_side
from zoo_distill.data.target import load_target
from zoo_distill.data.view_params import view_table
from zoo_distill.errors import DataError
from zoo_distill.features.bank import TeacherBank, build_bank
from zoo_distill.features.cache import FeatureCache
from zoo_distill.features.extract import compute_features, extract
from zoo_distill.plugin.manager import get_registry
from zoo_distill.zoo.file import load_zoo

VIEWS, SEED, BATCH = 3, 7, 4  # batches of 4: several batches for the DataLoader workers to share


def zoo_entries(zoo_path):
    registry = get_registry()
    return {e.name: (e, registry.provider(e.provider)) for e in load_zoo(zoo_path)}


def all_paths(target_dir) -> list[Path]:
    data = load_target(target_dir)
    return list(data.train.paths) + list(data.unlabeled)


def in_ram_bank(entry, provider, paths, policy) -> torch.Tensor:
    """What the bank was before it moved to disk: V float32 arrays stacked in RAM, as float16."""
    teacher = provider.load(entry)
    sizes = open_store(paths, store_side(teacher.data_config), None).shapes[:, 2:]
    tables = [view_table(policy, SEED, v, sizes) for v in range(VIEWS)]
    views = [
        compute_features(
            teacher, paths, BATCH, workers=0, views=lambda i, t=t: t.take(np.asarray(i)).on_images(np.arange(len(i)))
        )[0]
        for t in tables
    ]
    return torch.from_numpy(np.stack(views)).to(torch.float16)


def data_bytes(bank: TeacherBank) -> list[bytes]:
    return [r.path.read_bytes()[r.offset : r.offset + r.nbytes] for r in bank.views]


def test_bank_rows_equal_the_in_ram_bank_for_any_worker_count(tiny_zoo, target_dir, tmp_path):
    entries, paths, policy = zoo_entries(tiny_zoo), all_paths(target_dir), ViewPolicy()
    banks = {
        w: build_bank(entries, paths, VIEWS, policy, SEED, FeatureCache(tmp_path / f"w{w}"), BATCH, workers=w)
        for w in (0, 2)
    }
    for name, (entry, provider) in entries.items():
        old = in_ram_bank(entry, provider, paths, policy)
        for bank in (banks[0][name], banks[2][name]):
            assert isinstance(bank, TeacherBank) and bank.shape == old.shape and bank.dtype == torch.float16
            assert torch.equal(bank[:, :], old)  # bit-identical, every view and row
        assert data_bytes(banks[0][name]) == data_bytes(banks[2][name])  # the files too, for 0 or 2 workers


def test_bank_indexing_matches_tensor_indexing(tiny_zoo, target_dir, tmp_path):
    entries, paths, policy = zoo_entries(tiny_zoo), all_paths(target_dir), ViewPolicy()
    bank = build_bank(entries, paths, VIEWS, policy, SEED, FeatureCache(tmp_path), BATCH, workers=0)["teacher-a"]
    old = in_ram_bank(*entries["teacher-a"], paths, policy)
    rng = np.random.default_rng(0)
    vt, it = torch.as_tensor(rng.integers(0, VIEWS, 50)), torch.as_tensor(rng.integers(0, len(paths), 50))
    assert torch.equal(bank[vt, it], old[vt, it])  # what distillation reads per batch: [B, D]
    assert torch.equal(bank[0, :18], old[0, :18])  # the labeled rows of view 0 (relevance)
    assert torch.equal(bank[1], old[1]) and torch.equal(bank[-1, 3:9], old[-1, 3:9])
    assert torch.equal(bank[vt, :], old[vt, :]) and torch.equal(bank[1:, it], old[1:, it])
    assert torch.equal(bank[2, it[:7]], old[2, it[:7]]) and bank[vt[:0], it[:0]].shape == (0, old.shape[2])
    assert bank.shape[-1] == old.shape[-1] and len(bank) == VIEWS
    with pytest.raises(IndexError):
        bank[VIEWS, 0]
    with pytest.raises(IndexError):
        bank[vt[:3], it[:4]]
    assert torch.equal(bank[vt, it], old[vt, it])  # still readable after the errors


def test_bank_after_resume_reads_the_cache_without_a_teacher(tiny_zoo, target_dir, tmp_path):
    entries, paths, policy = zoo_entries(tiny_zoo), all_paths(target_dir), ViewPolicy()
    cache = FeatureCache(tmp_path)
    first = build_bank(entries, paths, VIEWS, policy, SEED, cache, BATCH, workers=0)
    unloadable = {
        name: (entry, replace(provider, load=lambda e: pytest.fail("a cached bank built a teacher")))
        for name, (entry, provider) in entries.items()
    }
    again = build_bank(unloadable, paths, VIEWS, policy, SEED, cache, BATCH, workers=2)
    for name in entries:
        assert torch.equal(again[name][:, :], first[name][:, :])


def test_bank_without_a_cache_uses_a_scratch_folder_it_removes(tiny_zoo, target_dir, tmp_path):
    entries, paths, policy = zoo_entries(tiny_zoo), all_paths(target_dir), ViewPolicy()
    cached = build_bank(entries, paths, VIEWS, policy, SEED, FeatureCache(tmp_path), BATCH, workers=0)
    banks = build_bank(entries, paths, VIEWS, policy, SEED, None, BATCH, workers=0)
    folder = banks["teacher-a"].views[0].path.parent
    assert folder.is_dir() and tmp_path not in folder.parents
    for name in entries:
        assert torch.equal(banks[name][:, :], cached[name][:, :])
    del banks
    gc.collect()
    assert not folder.exists()


def test_a_failure_mid_extraction_leaves_no_cached_features(tiny_zoo, target_dir, tmp_path):
    entries, paths = zoo_entries(tiny_zoo), all_paths(target_dir)
    entry, provider = entries["teacher-a"]
    teacher, cache = provider.load(entry), FeatureCache(tmp_path)
    forward, calls = teacher.forward, []

    def failing(images):
        calls.append(len(images))
        if len(calls) == 3:  # two batches are already in the file
            raise RuntimeError("out of memory")
        return forward(images)

    teacher.forward = failing
    with pytest.raises(RuntimeError, match="out of memory"):
        extract(teacher, paths, cache, BATCH, workers=0, keep=False)
    assert cache.entries() == [] and not [p for p in cache.dir.iterdir() if not p.name.endswith(".lock")]
    teacher.forward = forward
    assert not extract(teacher, paths, cache, BATCH, workers=0).cached  # extracted afresh, not half-read


def test_a_corrupt_image_in_a_worker_is_the_usual_data_error(tiny_zoo, target_dir, tmp_path):
    entries, paths = zoo_entries(tiny_zoo), all_paths(target_dir)
    paths[9].write_bytes(b"not an image")
    teacher = entries["teacher-a"][1].load(entries["teacher-a"][0])
    with pytest.raises(DataError, match="cannot read image") as failure:
        extract(teacher, paths, FeatureCache(tmp_path), BATCH, workers=2)
    assert "Traceback" not in str(failure.value)


def _bank_as_rank(rank: int, init_file: str, zoo: str, target: str, cache_root: str, results) -> None:
    """Rank ``rank`` of a 2-process gloo group: build teacher-a's bank on 17 images (rank 1 runs out first)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        entries = {"teacher-a": zoo_entries(Path(zoo))["teacher-a"]}
        bank = build_bank(
            entries, all_paths(Path(target))[:17], VIEWS, ViewPolicy(), SEED, FeatureCache(cache_root), BATCH, workers=0
        )["teacher-a"]
        results.put((rank, bank[:, :].numpy()))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ranks_write_one_bank_equal_to_one_process(tiny_zoo, target_dir, tmp_path):
    """Under torchrun each rank encodes a strided shard; the rows are gathered batch by batch into one file."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    args = (str(tmp_path / "init"), str(tiny_zoo), str(target_dir), str(tmp_path / "c"), results)
    workers = [ctx.Process(target=_bank_as_rank, args=(rank, *args)) for rank in range(2)]
    for p in workers:
        p.start()
    outcomes = sorted((results.get(timeout=180) for _ in workers), key=lambda r: r[0])
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    entry, provider = zoo_entries(tiny_zoo)["teacher-a"]
    old = in_ram_bank(entry, provider, all_paths(target_dir)[:17], ViewPolicy()).numpy()
    for _, rows in outcomes:
        np.testing.assert_array_equal(rows, old)


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def _bank_rss(root: str, n: int, d: int, views: int, results) -> None:
    """In a fresh process: write a bank of ``views`` x [n, d] in blocks, read one epoch of random batches,
    then read the same rows through memory maps (the control); report the RSS growth of each."""
    cache, rng = FeatureCache(root), np.random.default_rng(0)

    def write(key: str, rows: int) -> object:
        with cache.writer("t", key, {"features": ((rows, d), np.float32)}, {"teacher": "t"}) as writer:
            for start in range(0, rows, 512):
                writer.write("features", start, rng.standard_normal((min(512, rows - start), d), dtype=np.float32))
        return cache.locate("t", key)["features"]

    warm = TeacherBank([write("w" * 64, 600)])  # first reads allocate what any later read reuses
    warm[torch.zeros(256, dtype=torch.long), torch.arange(256)]
    base = peak = _rss_kib()
    bank = TeacherBank([write(str(v) * 64, n) for v in range(views)])
    order = rng.permutation(n)
    for start in range(0, n, 256):
        it = torch.as_tensor(order[start : start + 256])
        bank[torch.as_tensor(rng.integers(0, views, len(it))), it]
        peak = max(peak, _rss_kib())
    before = _rss_kib()
    mapped = [rows.memmap() for rows in bank.views]
    for start in range(0, n, 256):
        for array in mapped:
            np.asarray(array[np.sort(order[start : start + 256])])
    results.put(((peak - base) * 1024, (_rss_kib() - before) * 1024, bank.nbytes))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_the_bank_does_not_grow_rss_with_n(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    worker = ctx.Process(target=_bank_rss, args=(str(tmp_path), 20_000, 256, 2, results))
    worker.start()
    grown, mapped, size = results.get(timeout=120)
    worker.join(60)
    assert worker.exitcode == 0
    assert mapped > size / 2  # the control: the measurement sees pages mapped into the process
    assert grown < size / 10, f"RSS grew {grown / 2**20:.1f} MiB writing and reading a {size / 2**20:.0f} MiB bank"
