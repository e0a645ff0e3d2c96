"""Would a combination of similarity metrics rank the sources better than one? Chosen on the zoo of
seed 1, reported on the zoo of seed 0; nothing trains.

    python -m benchmarks.studies.rank_combinations

Reads two kept summaries: the metric benchmark on the zoo of seed 1 (``results/tune/metric``) and
the paper table on the zoo of seed 0 (``results/paper_table``); each holds every metric's scores per
split and the single-source accuracies they are judged against. A combination of the k metrics with
the best mean Kendall tau on seed 1 (k = 1 .. all) scores each source by the mean over those metrics
of its z-score across the zoo (``z``) or of its rank (``rank``). The combination with the best mean
tau over the two shots on seed 1 is the candidate; its tau on seed 0 is what it would report. Writes
``results/rank_combinations.json`` and prints a markdown table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from benchmarks.harness.tables import metric_quality, single_source_accuracy

HERE = Path(__file__).parent / "results"
CHOOSE_ON, REPORT_ON = HERE / "tune" / "metric" / "summary.json", HERE / "paper_table" / "summary.json"


def load(path: Path) -> tuple[dict, dict]:
    """Per-split metric scores and single-source accuracies of a kept summary."""
    summary = json.loads(path.read_text())
    scores = {(s["target"], s["shot"], s["seed"]): s["scores"] for s in summary["scores"]}
    return scores, single_source_accuracy(summary["rows"])


def combine(by_metric: Mapping[str, Mapping[str, float]], metrics: Sequence[str], how: str) -> dict[str, float]:
    """One split's combined score per source: the mean z-score (or rank) over ``metrics``."""
    sources = sorted(set.intersection(*(set(k for k, v in by_metric[m].items() if v is not None) for m in metrics)))
    total = np.zeros(len(sources))
    for m in metrics:
        values = np.asarray([by_metric[m][s] for s in sources], dtype=np.float64)
        if how == "rank":
            total += rankdata(values)
        else:
            std = values.std()
            total += (values - values.mean()) / std if std > 1e-12 else 0.0
    return {s: float(v) / len(metrics) for s, v in zip(sources, total)}


def tau_by_shot(scores: dict, single: dict, metrics: Sequence[str], how: str) -> dict[int, float]:
    out = {}
    for shot in sorted({split[1] for split in scores}):
        combined = {split: {"combo": combine(by, metrics, how)} for split, by in scores.items() if split[1] == shot}
        out[shot] = metric_quality(combined, single)["combo"]["tau"]
    return out


def main() -> int:
    choose, report = load(CHOOSE_ON), load(REPORT_ON)
    metrics = sorted(next(iter(choose[0].values())))
    alone = {m: np.mean(list(tau_by_shot(*choose, [m], "z").values())) for m in metrics}
    order = sorted(metrics, key=lambda m: -alone[m])
    rows = []
    for how in ("z", "rank"):
        for k in range(1, len(order) + 1):
            chosen = tau_by_shot(*choose, order[:k], how)
            rows.append(
                {
                    "how": how,
                    "metrics": order[:k],
                    "seed1": chosen,
                    "seed1_mean": float(np.mean(list(chosen.values()))),
                    "seed0": tau_by_shot(*report, order[:k], how),
                }
            )
    best = max(rows, key=lambda r: r["seed1_mean"])
    print("| combination | seed 1: τ at 5 / 20 (mean) | seed 0: τ at 5 / 20 |\n|---|---|---|")
    for r in rows:
        mark = " **(chosen on seed 1)**" if r is best else ""
        print(
            f"| {r['how']} mean of {', '.join(r['metrics'])}{mark} | {r['seed1'][5]:.2f} / {r['seed1'][20]:.2f} "
            f"({r['seed1_mean']:.3f}) | {r['seed0'][5]:.2f} / {r['seed0'][20]:.2f} |"
        )
    (HERE / "rank_combinations.json").write_text(json.dumps({"chosen": best, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
