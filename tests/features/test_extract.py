import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

import zoo_distill.features.extract as extract_module
from zoo_distill.data.target import load_target
from zoo_distill.features.cache import FeatureCache
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


def _extract_in_a_second_process(zoo: str, target: str, cache_root: str, marker: str, start, results) -> None:
    """One of two processes extracting the same features; every real extraction appends to ``marker``."""
    compute = extract_module.iter_features

    def counted(*args, **kwargs):
        with open(marker, "a") as fh:
            fh.write("extracted\n")
        time.sleep(1.0)  # still extracting when the other process arrives
        return compute(*args, **kwargs)

    extract_module.iter_features = counted
    teacher = teachers(Path(zoo))["teacher-a"]
    paths = load_target(Path(target)).train.paths
    start.wait()
    result = extract(teacher, paths, FeatureCache(cache_root), batch_size=6)
    results.put((result.cached, result.features))


@pytest.mark.slow
def test_two_processes_extract_the_same_features_once(tiny_zoo, target_dir, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    marker = tmp_path / "extractions.txt"
    args = (str(tiny_zoo), str(target_dir), str(tmp_path / "c"), str(marker), start, results)
    workers = [ctx.Process(target=_extract_in_a_second_process, args=args) for _ in range(2)]
    for p in workers:
        p.start()
    outcomes = [results.get(timeout=180) for _ in workers]
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    assert marker.read_text().splitlines() == ["extracted"]  # the second process waited, then read the file
    assert sorted(cached for cached, _ in outcomes) == [False, True]
    np.testing.assert_array_equal(outcomes[0][1], outcomes[1][1])


def _extract_as_rank(rank: int, init_file: str, zoo: str, target: str, cache_root: str, results) -> None:
    """Rank ``rank`` of a 2-process gloo group: extract the same features twice."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        teacher = teachers(Path(zoo))["teacher-a"]
        paths = load_target(Path(target)).train.paths
        cache = FeatureCache(cache_root)
        first = extract(teacher, paths, cache, batch_size=4)
        second = extract(teacher, paths, cache, batch_size=4)
        results.put((rank, first.cached, second.cached, first.features))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ranks_of_one_job_follow_rank_0_under_the_lock(tiny_zoo, target_dir, tmp_path):
    """Only rank 0 takes the extraction lock; the other ranks follow its decision, no deadlock."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    args = (str(tmp_path / "init"), str(tiny_zoo), str(target_dir), str(tmp_path / "c"), results)
    workers = [ctx.Process(target=_extract_as_rank, args=(rank, *args)) for rank in range(2)]
    for p in workers:
        p.start()
    outcomes = sorted((results.get(timeout=180) for _ in workers), key=lambda r: r[0])
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    assert [(first, second) for _, first, second, _ in outcomes] == [(False, True), (False, True)]
    np.testing.assert_array_equal(outcomes[0][3], outcomes[1][3])
    cache = FeatureCache(tmp_path / "c")
    [entry] = cache.entries()
    assert tuple(cache.clear()) == (1, entry.size) and not list(cache.dir.iterdir())  # the lock was free, so removed
