"""Rich tables for the CLI: the ranking, the plugins, the cache."""

from __future__ import annotations

from rich.table import Table

from .ranking import RankResult


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def rank_table(result: RankResult) -> Table:
    """Sources sorted by the primary metric, each metric's score, and each aggregator's weight."""
    table = Table(title=f"Sources ranked by {result.primary_metric} "
                        f"({result.labeled_images} labeled images, {len(result.classes)} classes)")
    table.add_column("#", justify="right")
    table.add_column("source")
    table.add_column("domain")
    for metric in result.metrics:
        style = "bold" if metric == result.primary_metric else None
        table.add_column(metric, justify="right", style=style)
    aggregators = sorted(result.weights)
    for name in aggregators:
        table.add_column(f"α {name}", justify="right", style="cyan")
    table.add_column("cache")
    for i, source in enumerate(result.sources, 1):
        if source.status != "ok":
            table.add_row(str(i), source.name, source.domain or "", *["—"] * len(result.metrics),
                          *["—"] * len(aggregators), f"[red]{source.status}[/red]")
            continue
        weights = [_fmt(result.weights[a].get(source.name)) for a in aggregators]
        table.add_row(str(i), source.name, source.domain or "",
                      *[_fmt(source.scores.get(m)) for m in result.metrics], *weights,
                      "hit" if source.cached else "new")
    return table
