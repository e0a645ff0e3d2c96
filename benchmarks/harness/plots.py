"""The benchmark's figures: accuracy per target and method, and metric score vs single-source accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benchmarks.harness.tables import average_row
from zoo_distill.runs.plots import _figure, _save_png

__all__ = ["plot_metric_scatter", "plot_target_bars", "scatter_points"]


def plot_target_bars(
    table: Mapping[str, Mapping[str, tuple[float, float, int]]],
    methods: Sequence[str],
    labels: Mapping[str, str],
    path: Path,
    title: str,
) -> Path:
    """Grouped bars: one group per target and one for the average over targets, one bar per
    method, error bars = std over seeds.

    The accuracy axis starts at the 10 below the lowest bar (minus its error), not at 0: the
    differences between methods are a few points and would not show on a full 0-100 axis.
    """
    average = average_row(table, methods)
    table = {**table, "average": {m: (v, 0.0, 0) for m, v in average.items() if np.isfinite(v)}}
    targets = list(table)
    lows = [100 * (table[t][m][0] - table[t][m][1]) for t in targets for m in methods if m in table[t]]
    bottom = max(0.0, 10.0 * np.floor((min(lows, default=0.0) - 2.0) / 10.0))
    fig = _figure(max(6.0, 1.3 * len(targets) + 2.0), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        means = [100 * table[t][m][0] if m in table[t] else np.nan for t in targets]
        stds = [100 * table[t][m][1] if m in table[t] else 0.0 for t in targets]
        ax.bar(
            np.arange(len(targets)) + (i - (len(methods) - 1) / 2) * width,
            means,
            width,
            yerr=stds,
            capsize=2,
            label=labels.get(m, m),
        )
    ax.set_xticks(range(len(targets)), targets, rotation=20, ha="right")
    ax.set_ylim(bottom, 100.5)
    ax.set_ylabel("test accuracy (%)" + (f", axis from {bottom:.0f}" if bottom > 0 else ""))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncols=min(len(methods), 6), loc="lower center", bbox_to_anchor=(0.5, 1.08))
    return _save_png(fig, path)


def scatter_points(
    scores: Mapping[tuple, Mapping[str, Mapping[str, float]]],
    single: Mapping[tuple, Mapping[str, float]],
    shot: int,
) -> dict[str, list[tuple[tuple, list[str], np.ndarray, np.ndarray]]]:
    """Per metric, per split of ``shot``: the sources drawn, their scores z-scored within the split
    and their single-source accuracies (%). A source whose score is missing or not finite is left
    out, and a split with fewer than two sources left draws nothing (no spread to z-score)."""
    splits = [k for k in scores if k[1] == shot and k in single]
    out: dict[str, list[tuple[tuple, list[str], np.ndarray, np.ndarray]]] = {}
    for metric in sorted({m for k in splits for m in scores[k]}):
        out[metric] = []
        for split in splits:
            by_source = {
                s: v
                for s, v in scores[split].get(metric, {}).items()
                if v is not None and np.isfinite(v) and s in single[split]
            }
            if len(by_source) < 2:
                continue
            values = np.array(list(by_source.values()), dtype=np.float64)
            z = (values - values.mean()) / (values.std() or 1.0)
            out[metric].append((split, list(by_source), z, np.array([100 * single[split][s] for s in by_source])))
    return out


def plot_metric_scatter(
    scores: Mapping[tuple, Mapping[str, Mapping[str, float]]],
    single: Mapping[tuple, Mapping[str, float]],
    shot: int,
    path: Path,
) -> Path:
    """One panel per metric: each source on each split, score (z-scored within the split) vs the
    accuracy of distilling from that source alone, coloured by target (``scatter_points``)."""
    points = scatter_points(scores, single, shot)
    targets = sorted({k[0] for k in scores if k[1] == shot and k in single})
    cols = 4
    rows = max(1, -(-len(points) // cols))
    fig = _figure(3.2 * cols, 2.8 * rows + 0.6)
    colours = {t: f"C{i}" for i, t in enumerate(targets)}
    for i, (metric, panel) in enumerate(points.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        for split, _, z, accuracy in panel:
            ax.scatter(z, accuracy, s=12, color=colours[split[0]], label=split[0] if split[2] == 0 else None)
        ax.set_title(metric, fontsize="medium")
        ax.set_xlabel("score (z within split)", fontsize="small")
        ax.set_ylabel("single-source acc. (%)", fontsize="small")
        ax.grid(alpha=0.3)
    if points:
        fig.legend(
            *fig.axes[0].get_legend_handles_labels(),
            loc="outside upper center",
            ncols=min(len(targets), 6),
            fontsize="small",
        )
    return _save_png(fig, path)
