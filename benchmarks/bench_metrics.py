"""Time every built-in similarity metric on synthetic features of a realistic size.

Usage: ``python benchmarks/bench_metrics.py --n 5000 --d 2048 --c 50 --repeats 3``

Features have class structure (class means plus noise with a decaying spectrum, seeded) and
the logits are random (K = 1000 source classes). Prints, per metric, the median wall-clock
seconds over the repeats against its budget: 1 s, except N-LEEP (15 s, it fits a GMM).
Run it on an otherwise idle machine; the budgets assume two CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    from zoo_distill.metrics import BUILTIN_METRICS
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from zoo_distill.metrics import BUILTIN_METRICS

TARGETS = {"nleep": 15.0}
DEFAULT_TARGET = 1.0


def make_data(n: int, d: int, c: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded features [n, d] with class structure, labels [n] in 0..c-1, random logits [n, k]."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % c)
    spectrum = 1.0 / np.sqrt(1.0 + np.arange(d) / 32.0)  # decaying per-direction noise scale
    centers = rng.normal(size=(c, d)) * spectrum * 0.12
    features = centers[labels] + rng.normal(size=(n, d)) * spectrum
    logits = rng.normal(size=(n, k)) * 2.0
    return features, labels, logits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="samples")
    parser.add_argument("--d", type=int, default=2048, help="feature dimension")
    parser.add_argument("--c", type=int, default=50, help="target classes")
    parser.add_argument("--k", type=int, default=1000, help="source classes (logit columns)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metric", action="append", help="only these metrics (repeatable)")
    args = parser.parse_args(argv)

    features, labels, logits = make_data(args.n, args.d, args.c, args.k, args.seed)
    metrics = [m for m in BUILTIN_METRICS if not args.metric or m.name in args.metric]
    print(f"N={args.n} D={args.d} C={args.c} K={args.k} repeats={args.repeats} "
          f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}")
    header = f"{'metric':<8} {'median s':>9} {'min s':>7} {'target s':>9}  {'status':<6} score"
    print(header)
    print("-" * len(header))
    over = 0
    for metric in metrics:
        times, value = [], float("nan")
        for _ in range(args.repeats):
            start = time.perf_counter()
            value = metric.score(features, labels, logits)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        target = TARGETS.get(metric.name, DEFAULT_TARGET)
        status = "OK" if median <= target else "over"
        over += status == "over"
        print(f"{metric.name:<8} {median:>9.3f} {min(times):>7.3f} {target:>9.1f}  {status:<6} {value:.4f}",
              flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
