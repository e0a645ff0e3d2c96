"""Benchmark of `rank`: each metric at paper scale, and where the time of a full `rank` goes.

    python -m benchmarks.bench_rank                 # N=5000, D=2048, C=50; then a full rank twice

Part 1 times every installed metric on seeded class-structured features (N, D, C) and random
source logits (K classes): median of --repeats runs. Targets: 1 s per metric, 15 s for N-LEEP.
Part 2 runs a full `rank` (the offline example zoo, built or reused under --example-dir) on a
probe set of --probe-classes x --probe-per-class images, first with an empty feature cache and
then again: the share of metric time vs feature extraction, and the cached/uncached ratio
(target: the second run <= 10% of the first). All figures come from one run of this script.

Part 0 (before part 1) times, on the same N x D features, each metric whose numerics now come
from scipy / scikit-learn against the same metric with the hand-written code it replaced
(``handwritten.py``, swapped in for the run), alternating the two in every repeat so that a busy
machine slows both alike. The project keeps its own code only where it is >= 2x faster here.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness import handwritten  # the hand-written numerics the metrics replaced
from zoo_distill.data.target import load_target
from zoo_distill.example import build_example
from zoo_distill.features.cache import FeatureCache
from zoo_distill.plugin.manager import get_registry
from zoo_distill.ranking.metrics import _common, gbc, knn, linear, logme
from zoo_distill.ranking.rank import rank_sources
from zoo_distill.synthetic import generate, write_image_folder
from zoo_distill.util.progress import make_progress
from zoo_distill.zoo.file import load_zoo

TARGETS = {"nleep": 15.0}
KEEP_OWN_SPEEDUP = 2.0  # hand-written code stays only where it is at least this much faster

#: (replaced part, module, metric function timed, swaps that put the hand-written part back)
VARIANTS = [
    (
        "LOO neighbours: NearestNeighbors vs float32 screening",
        knn,
        "knn",
        [(knn, "nearest_neighbours", handwritten.nearest_neighbours)],
    ),
    (
        "ridge probe: RidgeClassifier vs closed form",
        linear,
        "linear",
        [(linear, "fold_accuracy", handwritten.ridge_fold_accuracy)],
    ),
    ("PCA-64: eigh(subset_by_index) vs tridiagonal", gbc, "gbc", [(_common, "_pca", handwritten.pca)]),
    ("Gram spectrum: full eigh vs tridiagonal solves", logme, "logme", [(logme, "logme", handwritten.logme)]),
]


def structured_features(n: int, d: int, c: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    centers = rng.normal(0, 1, (c, d))
    features = centers[labels] + rng.normal(0, 3, (n, d))
    logits = rng.normal(0, 1, (n, k)) + np.eye(k)[labels % k] * 2
    return features.astype(np.float64), labels, logits


def bench_metrics(n: int, d: int, c: int, k: int, repeats: int) -> list[tuple[str, float, float]]:
    features, labels, logits = structured_features(n, d, c, k)
    rows = []
    for name, metric in get_registry().metrics.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            metric.score(features, labels, logits)
            times.append(time.perf_counter() - start)
        rows.append((name, statistics.median(times), TARGETS.get(name, 1.0)))
    return rows


@contextlib.contextmanager
def swapped(swaps):
    """Put the hand-written parts in place of the library ones for the duration of the block."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in swaps]
    for module, name, replacement in swaps:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def bench_library_vs_own(n: int, d: int, c: int, k: int, repeats: int) -> list[tuple[str, str, float, float, float]]:
    """(part, metric, library seconds, own seconds, |score difference|) for each entry of VARIANTS."""
    features, labels, logits = structured_features(n, d, c, k)
    rows = []
    for part, module, name, swaps in VARIANTS:
        times: dict[str, list[float]] = {"library": [], "own": []}
        scores = {}
        for _ in range(repeats):
            for variant in ("library", "own"):
                with swapped(swaps if variant == "own" else []):
                    start = time.perf_counter()
                    scores[variant] = getattr(module, name)(features, labels, logits)
                    times[variant].append(time.perf_counter() - start)
        rows.append(
            (
                part,
                name,
                statistics.median(times["library"]),
                statistics.median(times["own"]),
                abs(scores["library"] - scores["own"]),
            )
        )
    return rows


def probe_target(root: Path, classes: int, per_class: int) -> Path:
    images, labels, names = generate("latin", per_class, 7, classes=list(range(classes)))
    write_image_folder(root, "train", images, labels, names)
    return root


def bench_rank(example_dir: Path, classes: int, per_class: int, batch_size: int) -> dict[str, float]:
    with make_progress() as progress:
        build = build_example(example_dir, progress=progress)
    registry = get_registry()
    entries = list(load_zoo(build.zoo, registry))
    metrics = ["logme"] + [m for m in registry.metrics if m != "logme"]
    with tempfile.TemporaryDirectory() as tmp:
        data = load_target(probe_target(Path(tmp) / "probe", classes, per_class))
        cache = FeatureCache(Path(tmp) / "cache")
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            result = rank_sources(data, entries, metrics, registry, cache, batch_size=batch_size)
            runs.append((time.perf_counter() - start, result.timings))
    (first, t1), (second, t2) = runs
    return {
        "images": len(data.train),
        "sources": len(entries),
        "first": first,
        "second": second,
        "extract": t1["extract"],
        "metrics": t1["metrics"],
        "load": t1["load"],
        "second_extract": t2["extract"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--c", type=int, default=50)
    parser.add_argument("--k", type=int, default=1000, help="source classes (logits width)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--example-dir", type=Path, default=Path("zd-example"))
    parser.add_argument("--probe-classes", type=int, default=26)
    parser.add_argument("--probe-per-class", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-rank", action="store_true", help="only time the metrics")
    parser.add_argument("--skip-variants", action="store_true", help="do not time library vs hand-written code")
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"python {platform.python_version()}, torch {torch.__version__}"
    )
    if not args.skip_variants:
        print(
            f"\n## Library vs hand-written numerics on N={args.n}, D={args.d}, C={args.c} "
            f"(median of {args.repeats}, alternating)\n"
        )
        print(
            "| part: library vs own | metric | library s | own s | library / own | score difference | keeps |\n"
            "|---|---|---:|---:|---:|---:|---|"
        )
        for part, name, library_s, own_s, diff in bench_library_vs_own(args.n, args.d, args.c, args.k, args.repeats):
            ratio = library_s / own_s
            keep = "own" if ratio >= KEEP_OWN_SPEEDUP else "library"
            print(f"| {part} | {name} | {library_s:.3f} | {own_s:.3f} | {ratio:.2f}x | {diff:.1e} | {keep} |")
    print(f"\n## Metrics on N={args.n}, D={args.d}, C={args.c}, K={args.k} (median of {args.repeats})\n")
    print("| metric | seconds | target | ok |\n|---|---:|---:|---|")
    for name, seconds, target in bench_metrics(args.n, args.d, args.c, args.k, args.repeats):
        print(f"| {name} | {seconds:.3f} | {target:.0f} | {'yes' if seconds <= target else 'NO'} |")
    if args.skip_rank:
        return
    r = bench_rank(args.example_dir, args.probe_classes, args.probe_per_class, args.batch_size)
    share = r["metrics"] / (r["metrics"] + r["extract"])
    print(f"\n## Full rank: {r['sources']} sources x {r['images']} probe images, all metrics\n")
    print("| run | seconds | load | features | metrics |\n|---|---:|---:|---:|---:|")
    print(f"| first (empty cache) | {r['first']:.2f} | {r['load']:.2f} | {r['extract']:.2f} | {r['metrics']:.2f} |")
    print(f"| second (cached) | {r['second']:.2f} | | {r['second_extract']:.2f} | |")
    print(f"\nmetric share of (metrics + extraction) time, first run: {share:.1%}")
    print(f"second / first: {r['second'] / r['first']:.1%} (target <= 10%)")


if __name__ == "__main__":
    main()
