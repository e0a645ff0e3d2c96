"""How reproducible is the ranking goal's ground truth on zoobench? Its noise, measured; nothing trains.

    python -m benchmarks.studies.rank_ceiling

The ranking goal judges a metric by Kendall tau between its scores on a split's labeled images and
the six single-source accuracies of that same split (one labeled draw, one training run per
source). Those accuracies are themselves noisy: on most targets several teachers lie within a point
of each other. This script reads the paper table's kept summary (three labeled draws per target and
shot, every source trained on each) and compares, per split:

- each metric against its own draw's accuracies (the goal's figure);
- each metric against the mean accuracies of the *other* draws of the same target and shot;
- the draw's own single-source accuracies, used as if they were a metric, against that same mean:
  what a metric that knew this draw's training outcomes exactly would reach against the others.

The last row is the ground truth's reproducibility: how well the exact outcomes of one draw rank the
sources of the other draws. A metric whose middle column reaches it ranks the sources as well as
rerunning the whole experiment on one draw would; a metric that knew each source's expected accuracy
exactly would still fall short of 1 against one draw's outcomes (the goal's column), by their noise.
Writes ``results/rank_ceiling.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.harness.tables import metric_quality, single_source_accuracy

HERE = Path(__file__).parent / "results"
EXACT = "this draw's own accuracies"


def other_draws_mean(single: dict[tuple, dict[str, float]]) -> dict[tuple, dict[str, float]]:
    """Per split, each source's mean accuracy over the other draws of its target and shot (only
    splits whose target and shot have at least one other draw with every source)."""
    draws: dict[tuple, list[tuple]] = defaultdict(list)
    for split in single:
        draws[split[:2]].append(split)
    out = {}
    for split, accs in single.items():
        others = [single[s] for s in draws[split[:2]] if s != split and set(single[s]) == set(accs)]
        if others:
            out[split] = {source: float(np.mean([o[source] for o in others])) for source in accs}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--summary",
        type=Path,
        default=HERE / "paper_table" / "summary.json",
        help="a paper_table summary.json with every source's single-source runs on several draws",
    )
    p.add_argument("--out", type=Path, default=HERE / "rank_ceiling.json")
    args = p.parse_args()
    summary = json.loads(args.summary.read_text())
    scores = {(s["target"], s["shot"], s["seed"]): s["scores"] for s in summary["scores"]}
    single = single_source_accuracy(summary["rows"])
    sources = max(map(len, single.values()))
    single = {k: v for k, v in single.items() if len(v) == sources}  # splits with every source's run
    others = other_draws_mean(single)
    result: dict[str, dict] = {}
    for shot in sorted({k[1] for k in others}):
        at = {k: v for k, v in scores.items() if k[1] == shot and k in others}
        own = metric_quality(at, single)
        vs_others = metric_quality(at, others)
        exact = metric_quality({k: {EXACT: single[k]} for k in at}, others)[EXACT]
        result[str(shot)] = {
            "splits": len(at),
            "reproducibility": exact["tau"],
            "reproducibility_std": exact["tau_std"],
            "reproducibility_by_target": exact["tau_by_target"],
            "metrics": {m: {"own_draw": own[m]["tau"], "other_draws": vs_others[m]["tau"]} for m in own},
        }
    shots = list(result)
    print("| metric | " + " | ".join(f"τ at {s} labels: own draw / other draws" for s in shots) + " |")
    print("|---|" + "---:|" * len(shots))
    metrics = sorted(result[shots[0]]["metrics"], key=lambda m: -result[shots[0]]["metrics"][m]["own_draw"])
    for m in metrics:
        cells = [
            f"{result[s]['metrics'][m]['own_draw']:+.2f} / {result[s]['metrics'][m]['other_draws']:+.2f}" for s in shots
        ]
        print(f"| {m} | " + " | ".join(cells) + " |")
    print(
        f"| *{EXACT}* | "
        + " | ".join(f"– / {result[s]['reproducibility']:+.2f} ± {result[s]['reproducibility_std']:.2f}" for s in shots)
        + " |"
    )
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
