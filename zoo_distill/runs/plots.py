"""Training curves and comparison bars as PNG files.

Figures are built with matplotlib's object API on an explicit Agg canvas rather than through
``pyplot``: nothing global changes (no backend switch in a user's notebook, no figure registry
to leak), and it works on machines without a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from zoo_distill.errors import ZooDistillError
from zoo_distill.util.atomic import atomic_write

__all__ = ["plot_bars", "plot_curves"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Any, path: Path) -> Path:
    """Write the figure atomically (temp file beside ``path``, fsync, rename) and release it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    except OSError as exc:
        raise ZooDistillError(f"cannot write plot {path}: {exc}") from None
    finally:
        fig.clear()
    return path


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Train loss (and its ``loss_*`` components) on the left axis, test accuracy on the right, per epoch."""
    if not history:
        raise ZooDistillError(f"cannot plot {path}: the training history is empty")
    for i, row in enumerate(history):
        if "epoch" not in row or "loss" not in row:
            raise ZooDistillError(f"cannot plot {path}: history row {i} lacks 'epoch' or 'loss'")
    epochs = [float(row["epoch"]) for row in history]
    marker = "o" if len(history) <= 30 else None  # a single epoch would otherwise draw nothing
    components = sorted({k for row in history for k in row if k.startswith("loss_")})

    from matplotlib.ticker import MaxNLocator

    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot()
    ax.plot(epochs, [_number(r, "loss") for r in history], color="tab:blue", marker=marker, lw=2, label="train loss")
    for k in components:
        ax.plot(
            epochs,
            [_number(r, k) for r in history],
            ls="--",
            marker=marker,
            ms=3,
            lw=1,
            label=k.removeprefix("loss_").replace("_", " ") + " loss",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    losses = [_number(r, k) for r in history for k in ("loss", *components)]
    if all(v >= 0 for v in losses if not math.isnan(v)):
        ax.set_ylim(bottom=0.0)  # losses from zero: also keeps a single epoch's point off the accuracy marker
    ax.grid(alpha=0.3)
    if len(set(epochs)) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    handles, labels = ax.get_legend_handles_labels()

    acc = [(e, _number(r, "test_accuracy")) for e, r in zip(epochs, history)]
    acc = [(e, a) for e, a in acc if not math.isnan(a)]
    if acc:
        right = ax.twinx()
        right.plot(
            [e for e, _ in acc],
            [a for _, a in acc],
            color="tab:red",
            marker="s" if marker else None,
            lw=2,
            label="test accuracy",
        )
        right.set_ylabel("test accuracy", color="tab:red")
        right.tick_params(axis="y", colors="tab:red")
        if all(0.0 <= a <= 1.0 for _, a in acc):
            right.set_ylim(0.0, 1.0)
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    fig.legend(
        handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small", frameon=False
    )  # below the axes, never over a curve
    ax.set_title(title.replace("$", r"\$"))  # user text (a folder name): never mathtext
    return _save_png(fig, path)


def plot_bars(rows: Mapping[str, float], path: Path, title: str, ylabel: str) -> Path:
    """One labelled bar per entry (e.g. accuracy per method), values printed on the bars."""
    if not rows:
        raise ZooDistillError(f"cannot plot {path}: no values to draw")
    names = list(rows)
    values = [float(rows[n]) for n in names]
    fig = _figure(max(4.0, 0.9 * len(names) + 2.0), 4.0)
    ax = fig.add_subplot()
    bars = ax.bar(range(len(names)), values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize="small", padding=2)
    ax.set_xticks(
        range(len(names)),
        names,
        rotation=30 if max(map(len, names)) > 10 else 0,
        ha="right" if max(map(len, names)) > 10 else "center",
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title.replace("$", r"\$"))  # user text (a folder name): never mathtext
    ax.grid(axis="y", alpha=0.3)
    ax.margins(y=0.12)
    return _save_png(fig, path)
