"""The data path at real size: the teacher bank on disk (``--part bank``); the input pipeline comes next.

    python benchmarks/bench_pipeline.py --part bank     # N = 10k, 50k, 100k; D = 2048; V = 2

Part ``bank``: for each N, in a fresh process (so one size's memory does not hide another's), a
fake teacher writes V views of N x D random float32 features into the feature cache batch by batch
through the same streaming writer ``extract`` uses (the teacher is not the point here; the bank's
storage is), then one epoch of distillation reads is run: batches of B rows, each row from a random
view, as ``Distill`` reads them. Reported per N: the bank's size on disk, the peak growth of the
process's RSS while writing and while reading (sampled after every batch), that growth as a share
of the size on disk (target: <= 10% at N = 100k), the read time per batch, and, as a control, the
RSS growth when the same rows are read through memory maps instead. The in-RAM bank it replaces
held V x N x D float16 per source. The page cache is warm (the files were just written).

All figures come from one run; the JSON goes to ``--out`` (``bank.json``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _rss() -> int:
    """This process's resident set size in bytes (Linux ``/proc``)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))


def _bank_at(n: int, d: int, views: int, batch: int, root: str, results: Any) -> None:
    """One size, in its own process: write the bank, read an epoch from it, then the mapped control."""
    import torch

    from zoo_distill.features.bank import TeacherBank
    from zoo_distill.features.cache import FeatureCache

    torch.set_num_threads(1)
    cache, rng = FeatureCache(root), np.random.default_rng(0)

    def write(key: str, rows: int) -> tuple[Any, int, float]:
        peak, start = _rss(), time.perf_counter()
        with cache.writer("fake-teacher", key, {"features": ((rows, d), np.float32)}, {"teacher": "fake"}) as w:
            for first in range(0, rows, batch):  # what extract does with each batch the teacher returns
                w.write("features", first, rng.standard_normal((min(batch, rows - first), d), dtype=np.float32))
                peak = max(peak, _rss())
        return cache.locate("fake-teacher", key)["features"], peak, time.perf_counter() - start

    warm_rows, _, _ = write("w" * 64, 2 * batch)  # first use allocates what later batches reuse
    TeacherBank([warm_rows])[torch.zeros(batch, dtype=torch.long), torch.arange(batch)]
    base = _rss()
    written = [write(f"{v}" * 64, n) for v in range(views)]
    bank = TeacherBank([rows for rows, _, _ in written])
    write_peak, write_s = max(p for _, p, _ in written), sum(s for _, _, s in written)

    order, read_peak, seconds = rng.permutation(n), _rss(), []
    for first in range(0, n, batch):
        it = torch.as_tensor(order[first:first + batch])
        vt = torch.as_tensor(rng.integers(0, views, len(it)))
        start = time.perf_counter()
        rows = bank[vt, it].to("cpu")
        seconds.append(time.perf_counter() - start)
        assert rows.shape == (len(it), d)
        read_peak = max(read_peak, _rss())

    before = _rss()
    mapped = [r.memmap() for r in bank.views]
    for first in range(0, n, batch):
        for array in mapped:
            np.asarray(array[np.sort(order[first:first + batch])])
    mapped_growth = _rss() - before
    disk = sum(r.path.stat().st_size for r in bank.views)
    results.put({"n": n, "d": d, "views": views, "batch": batch, "disk_bytes": disk,
                 "in_ram_bank_bytes": views * n * d * 2, "write_rss_growth": write_peak - base,
                 "read_rss_growth": read_peak - base, "write_s": write_s,
                 "read_ms_per_batch": 1000 * statistics.median(seconds), "mapped_rss_growth": mapped_growth})


def bench_bank(args: argparse.Namespace) -> dict[str, Any]:
    """Part ``bank``: one fresh process per N, run one after the other."""
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for n in args.sizes:
        root = tempfile.mkdtemp(prefix="zd-bench-bank-", dir=args.work_dir)
        try:
            results = ctx.Queue()
            proc = ctx.Process(target=_bank_at, args=(n, args.d, args.views, args.batch, root, results))
            proc.start()
            rows.append(results.get(timeout=3600))
            proc.join()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nbank: V = {args.views} views, D = {args.d}, float32 on disk, read as float16 in batches of "
          f"{args.batch} rows (random view per row), one epoch; RSS growth over the process's baseline\n")
    print("| N | on disk | in-RAM bank it replaces | RSS growth, writing | RSS growth, reading | reading / disk "
          "| read ms/batch | RSS growth, memory-mapped reads |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mib = 2 ** 20
        print(f"| {r['n']:,} | {r['disk_bytes'] / mib:,.1f} MiB | {r['in_ram_bank_bytes'] / mib:,.1f} MiB "
              f"| {r['write_rss_growth'] / mib:.1f} MiB | {r['read_rss_growth'] / mib:.1f} MiB "
              f"| {r['read_rss_growth'] / r['disk_bytes']:.2%} | {r['read_ms_per_batch']:.2f} "
              f"| {r['mapped_rss_growth'] / mib:,.0f} MiB |")
    largest = max(rows, key=lambda r: r["n"])
    share = max(largest["read_rss_growth"], largest["write_rss_growth"]) / largest["disk_bytes"]
    print(f"\nN = {largest['n']:,}: RSS growth {share:.2%} of the bank's size on disk (target <= 10%): "
          f"{'ok' if share <= 0.10 else 'MISSED'}")
    return {"settings": {"sizes": args.sizes, "d": args.d, "views": args.views, "batch": args.batch},
            "rows": rows, "target_share": 0.10, "share_at_largest": share}


PARTS = {"bank": bench_bank}  # "input": the input-pipeline part, added with its own function


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["bank", "input", "all"], default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000], help="N per bank")
    parser.add_argument("--d", type=int, default=2048, help="feature dimension D")
    parser.add_argument("--views", type=int, default=2, help="views V per source")
    parser.add_argument("--batch", type=int, default=256, help="rows per write and per read")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the bank files go (default: $TMPDIR)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pipeline"))
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        parser.error("RSS is read from /proc: Linux only")
    parts = list(PARTS) if args.part == "all" else [args.part]
    missing = [p for p in parts if p not in PARTS]
    if missing:
        parser.error(f"part {', '.join(missing)} is not written yet; available: {', '.join(PARTS)}")

    from zoo_distill.util.atomic import atomic_write_json

    args.out.mkdir(parents=True, exist_ok=True)
    machine = {"platform": platform.platform(), "cpus": multiprocessing.cpu_count(), "python": platform.python_version()}
    for part in parts:
        result = PARTS[part](args)
        atomic_write_json(args.out / f"{part}.json", {"part": part, "machine": machine, **result})
        print(f"\nwrote {args.out / f'{part}.json'}")


if __name__ == "__main__":
    main()
