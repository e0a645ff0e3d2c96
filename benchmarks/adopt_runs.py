"""Keep the runs of an earlier paper table whose training has not changed, after proving it.

    git show d8e651b:benchmarks/results/paper_table/summary.json > old-summary.json   # the 0.1.0 table
    python benchmarks/adopt_runs.py old-summary.json --verify 6

A new version changes every kept run's signature (the version is part of it), so the table would
retrain everything, although most methods train exactly as before (their views are pinned byte for
byte by the tests). This script retrains ``--verify`` of the earlier summary's runs, chosen to cover
every method and shot, with today's code on today's zoobench. Only if every one of them reproduces
the earlier accuracy and source weights exactly (bit-identical training) are the earlier runs of the
same methods written as kept runs for today's signatures, each marked ``"adopted_from"`` with the
version that trained it. Methods whose training changed on purpose (``--retrain``, FixMatch by
default) are never adopted. If any check differs, nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo_distill.util.progress import make_progress
from zoo_distill.zoobench import ZoobenchSettings
from zoo_distill.zoobench.experiment import (
    Budget,
    full_root,
    keep_result,
    load_split,
    open_workspace,
    run_method,
    run_signature,
)


def kind(method: str) -> str:
    return method.split(":", 1)[0]


def checks(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` rows spread over (method kind, shot), each group starting at another target and
    seed (a fixed stride through its rows): deterministic, and no two checks share a split."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((kind(row["method"]), row["shot"]), []).append(row)
    chosen: list[dict[str, Any]] = []
    for depth in range(max(map(len, groups.values()), default=0)):
        for g, group in enumerate(groups.values()):
            if len(chosen) == count:
                return chosen
            if depth < len(group):
                chosen.append(group[(g * 5 + depth * 7) % len(group)])
    return chosen


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("summary", type=Path, help="summary.json of the earlier paper table")
    p.add_argument("--from-version", default="0.1.0", help="the version that trained the earlier runs")
    p.add_argument("--root", type=Path, default=None, help="zoobench folder (default: <cache>/zoobench/full)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/paper_table"))
    p.add_argument("--verify", type=int, default=6, help="earlier runs to retrain and compare (at least 1)")
    p.add_argument("--retrain", nargs="*", default=["fixmatch"], help="methods never adopted")
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    old = json.loads(args.summary.read_text())
    rows = [
        r for r in old["rows"] if "seconds" in r and kind(r["method"]) not in {*args.retrain, "nearest", "best-single"}
    ]
    settings = ZoobenchSettings.full(split_seeds=old["seeds"], shots=tuple(sorted({5, 20, *map(int, old["shots"])})))
    with make_progress() as progress:
        build, zoo, registry, cache = open_workspace(args.root or full_root(), settings, progress)
    budget = Budget(epochs=old["epochs"])
    student_arch = old["settings"]["student_arch"]
    differ = []
    with tempfile.TemporaryDirectory() as scratch:
        for row in checks(rows, max(1, args.verify)):
            data = load_split(build, row["target"], f"{row['shot']}shot-s{row['seed']}")
            metrics = run_method(
                row["method"],
                data,
                build,
                zoo,
                registry,
                cache,
                Path(scratch) / "run",
                student_arch,
                row["seed"],
                budget,
            )
            same = metrics["test_accuracy"] == row["accuracy"] and metrics["alpha"] == row["alpha"]
            print(
                f"{row['target']:20s} {row['shot']:2d} shot seed {row['seed']} {row['method']:18s} "
                f"then {100 * row['accuracy']:.1f}  now {100 * metrics['test_accuracy']:.1f}  "
                f"{'identical' if same else 'DIFFERENT'}",
                flush=True,
            )
            if not same:
                differ.append(row)
    if differ:
        print(f"{len(differ)} check(s) differ: nothing adopted; the table retrains these methods.", file=sys.stderr)
        return 1
    for row in rows:
        key = f"{row['shot']}shot-s{row['seed']}"
        result_file = args.out / "runs" / row["target"] / key / f"{row['method'].replace(':', '_')}.json"
        keep_result(
            result_file,
            {
                "accuracy": row["accuracy"],
                "alpha": row["alpha"],
                "seconds": row["seconds"],
                "student": row["student"],
                "adopted_from": args.from_version,
            },
            run_signature(row["method"], build, student_arch, row["seed"], budget, registry),
        )
    print(f"adopted {len(rows)} runs trained by {args.from_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
