"""Extraction throughput and epoch time with 1 vs 2 processes (torchrun, gloo, CPU).

    python -m benchmarks.bench_scale --example-dir ./zd-example

The script relaunches itself under `torch.distributed.run` with 1 and 2 processes (each process
gets `--threads` intra-op threads, default 1, so 2 processes use both cores of a 2-core machine
exactly as 1 process with 2 threads would not). Each worker measures (a) feature extraction of
all images by one teacher into an empty cache (the setup of one ``zoo_distill.run``: its bank
dominates it), (b) the median epoch time of that run's cached distillation from that teacher. Rank 0 prints JSON; the parent prints the table and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from benchmarks.harness.timing import epoch_seconds, setup_seconds, timed_run
    from zoo_distill import api
    from zoo_distill.util import distributed

    zoo = api.load_zoo(args.zoo)
    source = next(iter(zoo.entries))
    data = api.load_target(args.target)
    torch.manual_seed(0)
    result = timed_run(  # run initialises the process group from torchrun's environment
        data,
        zoo,
        Path(args.cache) / "run",
        Path(args.cache) / "cache",
        aggregator="uniform",
        sources=[source],
        views=args.views,
        student="resnet10t",
        student_init="scratch",
        input_size=32,
        epochs=args.epochs,
        batch_size=args.batch_size,
        mu=2,
    )
    if distributed.is_main():
        images = (len(data.train) + len(data.unlabeled)) * args.views
        print(
            json.dumps(
                {
                    "world": distributed.world_size(),
                    "images": images,
                    "extract_s": setup_seconds(result),
                    "epoch_s": epoch_seconds(result),
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example-dir", type=Path, default=Path("zd-example"))
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--zoo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from zoo_distill.example import build_example
    from zoo_distill.synthetic import generate, write_image_folder, write_unlabeled

    build = build_example(args.example_dir)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "target"
        images, labels, names = generate("digits", 5, 201)
        write_image_folder(target, "train", images, labels, names)
        write_unlabeled(target, generate("digits", 100, 202)[0])
        for world in (1, 2):
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={world}",
                "--module",
                "benchmarks.bench_scale",  # from the repository root, as this process runs
                "--worker",
                "--zoo",
                str(build.zoo),
                "--target",
                str(target),
                "--cache",
                str(Path(tmp) / f"ws{world}"),
                "--views",
                str(args.views),
                "--epochs",
                str(args.epochs),
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(args.threads),
            ]
            env = {**os.environ, "ZOO_DISTILL_NO_PROGRESS": "1", "OMP_NUM_THREADS": str(args.threads)}
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    one, two = results
    print(
        f"{os.cpu_count()} CPU cores; {args.threads} thread(s) per process; "
        f"{one['images']} teacher forward passes per extraction\n"
    )
    print("| processes | extraction s | images/s | epoch s |\n|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['world']} | {r['extract_s']:.2f} | {r['images'] / r['extract_s']:.0f} | {r['epoch_s']:.2f} |")
    print(
        f"\nextraction speed-up 2 vs 1 process: {one['extract_s'] / two['extract_s']:.2f}x; "
        f"epoch speed-up: {one['epoch_s'] / two['epoch_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
