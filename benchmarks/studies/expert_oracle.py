"""How much weighting could add on the complementary targets, with hindsight: the default's recipe on
each half's own expert teachers, weighed alike.

    python -m benchmarks.paper_table --seeds 3 --out benchmarks/results/complementary_subspace \\
        --targets digits-and-greek shapes-and-latin digits-and-textures textured-shapes-and-digits \\
        --method aggregator=weighted,feature_space=class,teacher_probe=joint,unlabeled_loss=fixmatch-teachers \\
        --method aggregator=nearest,feature_space=class,teacher_probe=joint,unlabeled_loss=fixmatch-teachers
    python -m benchmarks.studies.expert_oracle --summary benchmarks/results/complementary_subspace/summary.json

A complementary target's classes come from two source domains, and the zoo holds one teacher trained
on each (the target's ``helped_by``). For every split of ``--summary`` this trains the summary's
default method with its weights replaced by that pair, equal weights and nothing on the other
teachers (the default's overrides with ``aggregator=uniform`` and ``sources`` the pair), and sets it beside the default and its
DistillNearest counterpart from the same summary (same build, same draws). The pair is chosen from
the target's design, not from any score, so "experts − DistillNearest" is what a perfect whole-task
weighting of this zoo would add, student for student; the goal's DistillWeighted − DistillNearest
can only be expected where this is larger. Nothing here chooses a setting.

Kept runs are reused (``--out``/runs); writes ``--out``/summary.json and table.md and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.harness.kept import full_root, run_or_reuse
from benchmarks.harness.naming import run_from_name, run_name
from benchmarks.harness.tables import nearest_counterpart
from zoo_distill.util.atomic import atomic_write_json
from zoo_distill.zoobench.build import weights_digest
from zoo_distill.zoobench.comparison import Budget
from zoo_distill.zoobench.spec import ZoobenchSettings, complementary_targets, target_spec
from zoo_distill.zoobench.workspace import load_split, open_workspace

COLUMNS = (
    ("nearest", "its DistillNearest counterpart"),
    ("default", "the default"),
    ("experts", "the two experts, equal weights (oracle)"),
)


def experts_method(target: str, default_method: str) -> dict[str, Any]:
    """The default's recipe with equal weights on the target's expert teachers and none on the others."""
    default = run_from_name(default_method)
    if not default or "aggregator" not in default:
        raise ValueError(f"the default method {default_method!r} is no distillation to reuse")
    return {**default, "aggregator": "uniform", "sources": [f"{d}-net" for d in target_spec(target).helped_by]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--summary",
        type=Path,
        required=True,
        help="a paper_table summary.json with the default and its DistillNearest counterpart",
    )
    p.add_argument("--zoo-seed", type=int, default=0)
    p.add_argument("--shots", type=int, nargs="+", default=[5, 20])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/expert_oracle"))
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    summary = json.loads(args.summary.read_text())
    default = summary["default_method"]
    nearest = nearest_counterpart(default)
    kept = {(r["target"], r["shot"], r["seed"], r["method"]): r["accuracy"] for r in summary["rows"]}
    settings = ZoobenchSettings.full(seed=args.zoo_seed)
    workspace = open_workspace(full_root(args.zoo_seed), settings)
    build = workspace.build
    digest = weights_digest(build)
    if digest != summary.get("zoo_weights"):
        print(
            f"{args.summary} was trained on build {str(summary.get('zoo_weights'))[:8]}…, this zoo is "
            f"{digest[:8]}…: the oracle must run on the same build",
            file=sys.stderr,
        )
        return 2
    budget = Budget(epochs=summary["epochs"])
    rows = []
    for target in complementary_targets(settings.targets):
        method = experts_method(target, default)
        for shot in args.shots:
            for seed in range(args.seeds):
                key = f"{shot}shot-s{seed}"
                reference = {
                    "default": kept.get((target, shot, seed, default)),
                    "nearest": kept.get((target, shot, seed, nearest)),
                }
                if None in reference.values():
                    print(f"{target} {key}: {args.summary} has no run of {default} and {nearest}", file=sys.stderr)
                    return 2
                data = load_split(build, target, key)
                result = run_or_reuse(
                    method,
                    data,
                    workspace,
                    args.out / "runs" / target / f"{key}.json",
                    args.out / "last-run",
                    settings.student_arch,
                    seed,
                    budget,
                )
                row = {
                    "target": target,
                    "shot": shot,
                    "seed": seed,
                    "method": run_name(method),
                    "experts": result["accuracy"],
                    "seconds": result["seconds"],
                    **reference,
                }
                rows.append(row)
                print(
                    f"{target:28s} {key:9s} nearest {100 * row['nearest']:5.1f}  default "
                    f"{100 * row['default']:5.1f}  experts {100 * row['experts']:5.1f}",
                    flush=True,
                )
    summary_margins = margins(rows, args.shots)
    text = report(rows, args.shots, default, summary_margins)
    seconds = time.perf_counter() - started
    text += (
        f"\nWall time of this invocation: {seconds / 60:.1f} min; the {len(rows)} oracle runs it reports took "
        f"{sum(r['seconds'] for r in rows) / 60:.1f} min to train (kept runs are not retrained).\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    atomic_write_json(
        args.out / "summary.json",
        {
            "summary": str(args.summary),
            "zoo_weights": digest,
            "default_method": default,
            "nearest_method": nearest,
            "wall_seconds": seconds,
            "rows": rows,
            "margins": summary_margins,
        },
    )
    print(text)
    return 0


def margins(rows: list[dict], shots: list[int]) -> dict[str, dict[str, float]]:
    """Per shot, points over DistillNearest on the mean of the targets: the default's and the oracle's."""
    out = {}
    for shot in shots:
        mine = [r for r in rows if r["shot"] == shot]
        out[str(shot)] = {
            f"{c}_over_nearest": 100 * float(np.mean([r[c] - r["nearest"] for r in mine]))
            for c in ("default", "experts")
        }
    return out


def report(rows: list[dict], shots: list[int], default: str, means: dict[str, dict[str, float]]) -> str:
    lines = [
        f"Complementary targets; the default is `{default}`. Test accuracy, mean of the draws.\n",
        "| target, labels | "
        + " | ".join(label for _, label in COLUMNS)
        + " | default − nearest | experts − nearest |",
        "|---|" + "---:|" * (len(COLUMNS) + 2),
    ]
    for shot in shots:
        for target in dict.fromkeys(r["target"] for r in rows):
            mine = [r for r in rows if r["target"] == target and r["shot"] == shot]
            cells = [f"{100 * np.mean([r[c] for r in mine]):.1f}" for c, _ in COLUMNS]
            gains = [100 * np.mean([r[c] - r["nearest"] for r in mine]) for c in ("default", "experts")]
            lines.append(f"| {target}, {shot} | " + " | ".join(cells) + "".join(f" | {g:+.1f}" for g in gains) + " |")
        m = means[str(shot)]
        lines.append(
            f"| **mean, {shot} labels** | | | | **{m['default_over_nearest']:+.2f}** | "
            f"**{m['experts_over_nearest']:+.2f}** |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
