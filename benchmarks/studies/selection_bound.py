"""How far a perfect choice among the paper table's methods would get: an upper bound for any guard.

    python -m benchmarks.studies.selection_bound            # reads benchmarks/results/paper_table/summary.json

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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benchmarks.harness.naming import FIXMATCH, WEIGHTED, run_name

# FixMatch, the paper's method, and the default before fixmatch-teachers (the set the bound was first reported for)
SMALL_SET = (FIXMATCH, WEIGHTED, run_name({"aggregator": "weighted", "unlabeled_loss": "fixmatch"}))
Table = Mapping[str, Mapping[str, Sequence[float]]]  # summary.json's {target: {method: [mean, std, draws]}}


def bound(table: Table, targets: Sequence[str], methods: Sequence[str] | None) -> float:
    """Mean over ``targets`` of the best of ``methods`` (every column when None) minus FixMatch, in points."""
    gains = []
    for t in targets:
        best = max(cell[0] for m, cell in table[t].items() if methods is None or m in methods)
        gains.append(100.0 * (best - table[t][FIXMATCH][0]))
    return float(np.mean(gains))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--summary", type=Path, default=Path("benchmarks/results/paper_table/summary.json"))
    args = p.parse_args()
    summary = json.loads(args.summary.read_text())
    complementary = set(summary.get("complementary", []))
    for shot in sorted(summary["shots"], key=int):
        table = summary["shots"][shot]["table"]
        targets = [t for t in table if t not in complementary]
        print(
            f"{shot} labels/class, {len(targets)} original targets: best of every column - FixMatch "
            f"{bound(table, targets, None):+.2f} points; best of FixMatch, DistillWeighted and DistillWeighted + FixMatch - FixMatch "
            f"{bound(table, targets, SMALL_SET):+.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
