"""How far a perfect choice among the paper table's methods would get: an upper bound for any guard.

    python benchmarks/selection_bound.py            # reads benchmarks/results/paper_table/summary.json

A guard against negative transfer (lambda from the similarity scores, a schedule, a choice by
cross-validation on the labeled images) in effect picks, per target, between the methods the table
already has. This picks, for every target and shot, the column with the best mean test accuracy
(with hindsight on the test images, which no real guard has) and reports its margin over FixMatch
averaged over the original targets. A goal above this bound needs a better method, not a better
choice between these. No training: it reads the kept results only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

SMALL_SET = ("fixmatch", "weighted", "weighted+fixmatch")  # FixMatch, the paper's method, the default


def column_means(rows: list[dict], targets: list[str], shot: int) -> dict[str, dict[str, float]]:
    """{target: {method: mean accuracy in points}} over the labeled draws, single-source runs left out."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r["shot"] == shot and r["target"] in targets and not r["method"].startswith("single:"):
            runs[r["target"], r["method"]].append(r["accuracy"])
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (target, method), values in runs.items():
        out[target][method] = 100.0 * float(np.mean(values))
    return out


def bound(means: dict[str, dict[str, float]], targets: list[str], methods: tuple[str, ...] | None) -> float:
    """Mean over ``targets`` of the best of ``methods`` (all columns when None) minus FixMatch."""
    gains = []
    for t in targets:
        pool = {m: v for m, v in means[t].items() if methods is None or m in methods}
        gains.append(max(pool.values()) - means[t]["fixmatch"])
    return float(np.mean(gains))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--summary", type=Path, default=Path("benchmarks/results/paper_table/summary.json"))
    args = p.parse_args()
    summary = json.loads(args.summary.read_text())
    complementary = set(summary.get("complementary", []))
    targets = [t for t in dict.fromkeys(r["target"] for r in summary["rows"]) if t not in complementary]
    print(f"original targets: {', '.join(targets)}")
    for shot in sorted(int(k) for k in summary["shots"]):
        means = column_means(summary["rows"], targets, shot)
        print(f"{shot} labels/class: best of every column - FixMatch {bound(means, targets, None):+.2f} points; "
              f"best of {', '.join(SMALL_SET)} - FixMatch {bound(means, targets, SMALL_SET):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
