"""Why DistillWeighted wins or loses on zoobench: what a second source adds, and what the teachers know.

    python -m benchmarks.paper_table --shots 5      # first: the single-source runs this reads
    python -m benchmarks.studies.headroom --shot 5  # and --shot 20

For every target and seed of a finished paper table (the rows of its summary.json in ``--table``):

- **pair (oracle)**: equal-weight distillation from the two sources whose single-source runs scored
  best on the test split. Where it does not beat the best single source, no weighting of this zoo
  does much better than DistillNearest with a perfect ranking: there is no complementary second
  source to add.
- **teacher probe**: a logistic-regression probe on each frozen teacher's features of the labeled
  images, tested on the test split: how much of the target the teachers' features carry when used
  as they are (at the teacher's cost, not the student's). Where FixMatch beats the best probe, the
  teachers know less about the target than the unlabeled images teach the student on their own.

Writes ``table.md`` and ``summary.json`` into ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from benchmarks.harness.kept import full_root, run_or_reuse
from benchmarks.harness.naming import FIXMATCH, WEIGHTED, run_name, single
from benchmarks.harness.tables import mean_std
from zoo_distill.features.extract import extract
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.zoobench import ZoobenchSettings
from zoo_distill.zoobench.comparison import Budget
from zoo_distill.zoobench.workspace import load_split, open_workspace


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Test accuracy of a standardised, L2-regularised logistic-regression probe."""
    scaler = StandardScaler().fit(train_x)
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(train_x), train_y)
    return float((clf.predict(scaler.transform(test_x)) == test_y).mean())


def table_accuracy(summary: Path) -> dict[tuple, float]:
    """``{(target, shot, seed, run name): accuracy}`` of a paper table's summary.json rows."""
    rows = json.loads(summary.read_text())["rows"]
    return {(r["target"], r["shot"], r["seed"], r["method"]): r["accuracy"] for r in rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=None, help="zoobench folder (default: <cache>/zoobench/full)")
    p.add_argument(
        "--table",
        type=Path,
        default=Path("benchmarks/results/paper_table"),
        help="the paper table's --out (its summary.json is read)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where table.md, summary.json and runs/ go (default: benchmarks/results/headroom/<shot>shot)",
    )
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=Budget.epochs)
    args = p.parse_args()
    args.out = args.out or Path("benchmarks/results/headroom") / f"{args.shot}shot"
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    settings = ZoobenchSettings.full()
    root = args.root or full_root()
    workspace = open_workspace(root, settings)
    build, zoo, registry, cache = workspace
    teachers = {name: registry.provider(e.provider).load(e) for name, e in zoo.entries.items()}
    budget = Budget(epochs=args.epochs)
    table = table_accuracy(args.table / "summary.json")
    rows = []
    for target in settings.targets:
        for seed in range(args.seeds):
            key = f"{args.shot}shot-s{seed}"

            def kept(name: str) -> float | None:
                return table.get((target, args.shot, seed, name))

            singles = {s: kept(run_name(single(s))) for s in zoo.entries}
            if any(v is None for v in singles.values()):
                print(
                    f"{target} {key}: {args.table}/summary.json has no single-source runs of this split; "
                    "run python -m benchmarks.paper_table first",
                    file=sys.stderr,
                )
                return 2
            best_two = sorted(singles, key=lambda s: -singles[s])[:2]
            data = load_split(build, target, key)
            pair = run_or_reuse(
                {"aggregator": "uniform", "sources": best_two},
                data,
                workspace,
                args.out / "runs" / target / f"{key}.json",
                args.out / "last-run",
                settings.student_arch,
                seed,
                budget,
            )["accuracy"]
            probes = {}
            for name, teacher in teachers.items():
                train = extract(teacher, data.train.paths, cache).features
                test = extract(teacher, data.test.paths, cache).features
                probes[name] = probe_accuracy(train, np.asarray(data.train.labels), test, np.asarray(data.test.labels))
            best_probe = max(probes, key=probes.get)
            row = {
                "target": target,
                "seed": seed,
                "best_single": max(singles.values()),
                "best_single_source": best_two[0],
                "pair": pair,
                "pair_sources": best_two,
                "weighted": kept(WEIGHTED),
                "fixmatch": kept(FIXMATCH),
                "probe": probes,
                "best_probe": probes[best_probe],
                "best_probe_source": best_probe,
            }
            rows.append(row)
            print(
                f"{target:20s} {key:10s} best single {100 * row['best_single']:5.1f}  pair {100 * pair:5.1f}  "
                f"best probe {100 * row['best_probe']:5.1f} ({best_probe})",
                flush=True,
            )
    text = report(rows, args)
    text += f"\nWall time: {(time.perf_counter() - started) / 60:.1f} min.\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    atomic_write_json(args.out / "summary.json", {"shot": args.shot, "seeds": args.seeds, "rows": rows})
    print(text)
    return 0


def report(rows: list[dict], args: argparse.Namespace) -> str:
    columns = [
        ("best_single", "best single (oracle)"),
        ("pair", "best two, equal weights (oracle)"),
        ("weighted", "DistillWeighted"),
        ("fixmatch", "FixMatch"),
        ("best_probe", "best teacher probe"),
    ]
    lines = [
        f"## {args.shot} labels per class, {args.seeds} seeds\n",
        "| target | " + " | ".join(label for _, label in columns) + " | pair − best single |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    averages: dict[str, list[float]] = {c: [] for c, _ in columns}
    gains = []
    for target in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == target]
        cells = []
        for column, _ in columns:
            mean, std = mean_std([r[column] for r in mine])
            averages[column].append(mean)
            cells.append(f"{100 * mean:.1f} ± {100 * std:.1f}")
        gain = float(np.mean([r["pair"] - r["best_single"] for r in mine]))
        gains.append(gain)
        lines.append(f"| {target} | " + " | ".join(cells) + f" | {100 * gain:+.1f} |")
    lines.append(
        "| **average** | "
        + " | ".join(f"{100 * np.mean(averages[c]):.1f}" for c, _ in columns)
        + f" | {100 * np.mean(gains):+.1f} |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
