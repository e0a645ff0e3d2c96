"""Turn per-run results into the paper's table: mean ± std per target, margins, metric quality.

Input rows are plain dicts ``{"target", "shot", "seed", "method", "accuracy"}`` (``method``: the
run's name, ``naming.run_name``) plus per-split
metric scores ``{(target, shot, seed): {metric: {source: score}}}``; nothing here trains. The
complementary targets (classes from two source domains) are also averaged on their own: they are
where DistillWeighted should beat DistillNearest.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from benchmarks.harness.naming import (
    BEST_SINGLE,
    NEAREST,
    WEIGHTED,
    WEIGHTED_CLASS,
    run_from_name,
    run_name,
    single_source,
)
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC
from zoo_distill.runs.spec import RunSpec
from zoo_distill.training.methods.options import DistillOptions
from zoo_distill.zoobench.spec import complementary_targets

__all__ = [
    "HEADLINE",
    "accuracy_table",
    "average_row",
    "fmt",
    "group_summary",
    "margins",
    "markdown_table",
    "mean_std",
    "metric_quality",
    "nearest_counterpart",
    "oracle_rows",
    "single_source_accuracy",
    "source_choices",
    "summary_keys",
]

#: The table's columns, as override dicts (``zoo_distill.zoobench.comparison``).
HEADLINE_RUNS: tuple[dict[str, Any], ...] = (
    {"method": "finetune"},
    {"method": "fixmatch"},
    {"aggregator": "nearest"},
    {"aggregator": "weighted"},
    {"aggregator": "weighted", "source_weights": "class"},
    {"aggregator": "weighted", "unlabeled_loss": "fixmatch"},
    {"aggregator": "weighted", "unlabeled_loss": "fixmatch-teachers"},
    {"aggregator": "weighted", "unlabeled_loss": "fixmatch-teachers", "teacher_probe": "joint"},
    {
        "aggregator": "weighted",
        "unlabeled_loss": "fixmatch-teachers",
        "teacher_probe": "joint",
        "feature_space": "class",
    },
    {"aggregator": "weighted", "source_weights": "class", "unlabeled_loss": "fixmatch"},
    {"aggregator": "nearest", "unlabeled_loss": "fixmatch"},
    {"aggregator": "uniform"},
)
HEADLINE = (*(run_name(r) for r in HEADLINE_RUNS), BEST_SINGLE)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def accuracy_table(
    rows: Iterable[Mapping[str, Any]], shot: int, methods: Sequence[str] = HEADLINE
) -> dict[str, dict[str, tuple[float, float, int]]]:
    """``{target: {method: (mean, std, n_seeds)}}`` for one shot setting."""
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["shot"] == shot and r["method"] in methods:
            grouped[r["target"]][r["method"]].append(float(r["accuracy"]))
    return {t: {m: (*mean_std(v), len(v)) for m, v in by.items()} for t, by in grouped.items()}


def average_row(
    table: Mapping[str, Mapping[str, tuple[float, float, int]]], methods: Sequence[str]
) -> dict[str, float]:
    """Mean over targets of each method's per-target mean (only targets that have every method that
    was run at all: a method no target has, e.g. one left out of this run, is NaN and not a reason
    to drop the others)."""
    ran = [m for m in methods if any(m in by for by in table.values())]
    complete = [t for t, by in table.items() if all(m in by for m in ran)]
    return {
        m: float(np.mean([table[t][m][0] for t in complete])) if complete and m in ran else math.nan for m in methods
    }


def margins(table: Mapping[str, Mapping[str, tuple[float, float, int]]], method: str, over: str) -> dict[str, float]:
    """Per-target and average difference (in points) between two methods' mean accuracies."""
    out = {t: 100.0 * (by[method][0] - by[over][0]) for t, by in table.items() if method in by and over in by}
    out["average"] = float(np.mean(list(out.values()))) if out else math.nan
    return out


def summary_keys(targets: Iterable[str]) -> dict[str, Any]:
    """What summary.json states beside the table, read from the library rather than restated: the
    method ``run`` uses with no options (as the table names it), the metric ``rank`` sorts by and
    DistillNearest picks by with no options, the one that weighs the default method's sources, and
    which of ``targets`` are complementary."""
    spec, options = RunSpec(), DistillOptions()
    recipe = ("unlabeled_loss", "source_weights", "teacher_probe", "feature_space")
    default = {"aggregator": spec.aggregator, **{k: getattr(options, k) for k in recipe}}
    return {
        "default_method": run_name({"method": spec.method} if spec.method != "distill" else default),
        "default_metric": DEFAULT_PRIMARY_METRIC,
        "default_weighting_metric": spec.metric,
        "complementary": complementary_targets(targets),
    }


def nearest_counterpart(method: str) -> str | None:
    """The same run with DistillNearest's one source in place of DistillWeighted's weighted sources:
    what weighting the sources adds to a method is its margin over this. None for a run that weighs
    no sources, or weighs them per class (compared with plain DistillNearest)."""
    run = run_from_name(method)
    if not run or run.get("aggregator") != "weighted" or run.get("sources") or run.get("source_weights") == "class":
        return None
    return run_name({**run, "aggregator": "nearest"})


def group_summary(
    table: Mapping[str, Mapping[str, tuple[float, float, int]]],
    targets: Sequence[str],
    methods: Sequence[str],
    default: str | None = None,
) -> dict[str, Any]:
    """A group of targets on its own: which of them the table has, each method's mean over them
    (``average_row``) and DistillWeighted − DistillNearest on them (``margins``, points), with its
    sources weighed per task and per class, and for the ``default`` method against its own
    DistillNearest counterpart (the same options, one source)."""
    sub = {t: table[t] for t in targets if t in table}
    counterpart = nearest_counterpart(default) if default else None
    return {
        "targets": list(sub),
        "average": average_row(sub, methods),
        "weighted_over_nearest": margins(sub, WEIGHTED, NEAREST),
        "weighted_class_over_nearest": margins(sub, WEIGHTED_CLASS, NEAREST),
        "default_over_nearest": margins(sub, default, counterpart)
        if default and counterpart
        else {"average": math.nan},
    }


def single_source_accuracy(rows: Iterable[Mapping[str, Any]]) -> dict[tuple, dict[str, float]]:
    """``{(target, shot, seed): {source: accuracy}}`` from the single-source runs (``naming.single``)."""
    out: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in rows:
        source = single_source(r["method"])
        if source is not None:
            out[(r["target"], r["shot"], r["seed"])][source] = float(r["accuracy"])
    return dict(out)


def oracle_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of method ``BEST_SINGLE``: per split, the best single-source accuracy (an oracle that
    knew the test accuracies; the ceiling for any ranking metric with DistillNearest)."""
    rows = list(rows)
    out = []
    for (target, shot, seed), accs in single_source_accuracy(rows).items():
        best = max(accs, key=lambda name: accs[name])
        out.append(
            {
                "target": target,
                "shot": shot,
                "seed": seed,
                "method": BEST_SINGLE,
                "accuracy": accs[best],
                "source": best,
            }
        )
    return out


def source_choices(rows: Iterable[Mapping[str, Any]], shot: int) -> dict[str, dict[str, Any]]:
    """Per target: DistillWeighted's mean alpha per source, and which source DistillNearest and the
    oracle picked on each split; what explains DistillWeighted's wins and losses."""
    alpha: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    picks: dict[str, dict[str, list[str]]] = defaultdict(lambda: {NEAREST: [], BEST_SINGLE: []})
    for r in rows:
        if r["shot"] != shot:
            continue
        if r["method"] == WEIGHTED:
            for source, a in r.get("alpha", {}).items():
                alpha[r["target"]][source].append(float(a))
        elif r["method"] in (NEAREST, BEST_SINGLE) and "source" in r:
            picks[r["target"]][r["method"]].append(r["source"])
    out = {}
    for target in dict.fromkeys([*alpha, *picks]):
        runs = max((len(v) for v in alpha[target].values()), default=0)
        mean_alpha = {s: sum(v) / runs for s, v in alpha[target].items()} if runs else {}
        out[target] = {
            "weighted_alpha": dict(sorted(mean_alpha.items(), key=lambda kv: -kv[1])),
            "nearest_picks": picks[target][NEAREST],
            "oracle_picks": picks[target][BEST_SINGLE],
        }
    return out


def metric_quality(
    scores: Mapping[tuple, Mapping[str, Mapping[str, float]]], single: Mapping[tuple, Mapping[str, float]]
) -> dict[str, dict[str, Any]]:
    """Per metric: Kendall tau between scores and single-source accuracies, and the accuracy lost
    (in points) by distilling from the metric's top source instead of the best one, per split and
    averaged over splits.
    """
    per_metric: dict[str, dict[str, list]] = defaultdict(lambda: {"tau": [], "lost": [], "splits": []})
    for split, by_metric in scores.items():
        accs = single.get(split)
        if not accs:
            continue
        best = max(accs.values())
        for metric, by_source in by_metric.items():
            sources = [s for s in accs if s in by_source and by_source[s] is not None and math.isfinite(by_source[s])]
            if len(sources) < 2:
                continue
            tau = kendalltau([by_source[s] for s in sources], [accs[s] for s in sources]).statistic
            top = max(sources, key=lambda s: by_source[s])
            entry = per_metric[metric]
            entry["tau"].append(float(tau) if math.isfinite(tau) else 0.0)
            entry["lost"].append(100.0 * (best - accs[top]))
            entry["splits"].append(split)
    return {
        m: {
            "tau": float(np.mean(v["tau"])),
            "tau_std": mean_std(v["tau"])[1],
            "lost": float(np.mean(v["lost"])),
            "splits": len(v["splits"]),
            "tau_by_target": _by_target(v["splits"], v["tau"]),
            "lost_by_target": _by_target(v["splits"], v["lost"]),
        }
        for m, v in per_metric.items()
    }


def _by_target(splits: Sequence[tuple], values: Sequence[float]) -> dict[str, float]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for split, value in zip(splits, values):
        grouped[split[0]].append(value)
    return {t: float(np.mean(v)) for t, v in grouped.items()}


def fmt(cell: tuple[float, float, int] | None, draws: int = 0) -> str:
    """``mean ± std`` in percent; a cell with fewer than ``draws`` values says how many it has
    (a single value has no spread, so it shows none rather than a misleading ± 0.0)."""
    if cell is None:
        return "–"
    mean, std, n = cell
    text = f"{100 * mean:.1f}" if n == 1 else f"{100 * mean:.1f} ± {100 * std:.1f}"
    return f"{text} (n={n})" if n < draws else text


def markdown_table(
    table: Mapping[str, Mapping[str, tuple[float, float, int]]],
    methods: Sequence[str],
    labels: Mapping[str, str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Targets as rows, methods as columns, best mean in bold (the oracle column never is); an
    average row at the end, then one per named group of targets (e.g. the complementary ones).
    A cell over fewer draws than the table's fullest cell is marked ``(n=k)``."""
    draws = max((cell[2] for by in table.values() for cell in by.values()), default=0)
    head = "| target | " + " | ".join(labels.get(m, m) for m in methods) + " |"
    lines = [head, "|---|" + "---:|" * len(methods)]
    for target, by in table.items():
        best = max((by[m][0] for m in methods if m in by and m != BEST_SINGLE), default=None)
        cells = [
            (f"**{fmt(by.get(m), draws)}**" if m in by and by[m][0] == best else fmt(by.get(m), draws)) for m in methods
        ]
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    avg = average_row(table, methods)
    lines.append("| **average** | " + " | ".join(_points(avg[m]) for m in methods) + " |")
    for group, targets in (groups or {}).items():
        sub = {t: table[t] for t in targets if t in table}
        if not sub:
            continue
        avg = average_row(sub, methods)
        lines.append(f"| **average, {group}** | " + " | ".join(_points(avg[m]) for m in methods) + " |")
    return "\n".join(lines)


def _points(value: float) -> str:
    """An average in percent, or a dash where no target has the method (not "nan")."""
    return "–" if math.isnan(value) else f"{100 * value:.1f}"
