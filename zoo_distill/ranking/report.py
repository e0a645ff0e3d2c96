"""Rich tables for the CLI: the ranking and every metric's scores, sized for an 80-column terminal.

Every name, domain and title is a ``Text`` (``util.text``), so what a zoo file or a plugin wrote is
shown as written, never read as rich markup.
"""

from __future__ import annotations

from rich import box
from rich.table import Table

from zoo_distill.ranking.rank import RankResult
from zoo_distill.util.text import literal, styled

__all__ = ["fmt", "rank_table", "scores_table"]


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.1e}"


def rank_table(result: RankResult) -> Table:
    """Sources sorted by the primary metric, with each aggregator's weight α ("failed" for an
    aggregator whose weights were refused: the reason is in ``result.weight_errors``)."""
    table = Table(
        title=literal(
            f"Sources ranked by {result.primary_metric} "
            f"({result.labeled_images} labeled images, {len(result.classes)} classes)"
        ),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("#", justify="right")
    table.add_column("source", no_wrap=True)
    table.add_column("domain", overflow="ellipsis", min_width=8, max_width=20)
    table.add_column(literal(result.primary_metric), justify="right", style="bold", no_wrap=True, min_width=6)
    aggregators = sorted(set(result.weights) | set(result.weight_errors))
    for name in aggregators:
        fed = result.weights_from.get(name)
        table.add_column(
            literal(f"α {name}" + (f" ({fed})" if fed else "")), justify="right", style="cyan", no_wrap=True
        )
    table.add_column("cache", no_wrap=True)
    for i, source in enumerate(result.sources, 1):
        head = (str(i), literal(source.name), literal(source.domain))
        if source.status != "ok":
            table.add_row(*head, "—", *["—"] * len(aggregators), styled(source.status, "red"))
            continue
        cells = [
            f"{result.weights[a].get(source.name, 0.0):.3f}" if a in result.weights else styled("failed", "red")
            for a in aggregators
        ]
        table.add_row(*head, fmt(source.scores.get(result.primary_metric)), *cells, "hit" if source.cached else "new")
    return table


def scores_table(result: RankResult) -> Table:
    """Every metric's score per source; the best source under each metric is highlighted."""
    table = Table(
        title="All metrics (higher is better; best in green)", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0)
    )
    table.add_column("source", no_wrap=True)
    for metric in result.metrics:
        table.add_column(literal(metric), justify="right", no_wrap=True, min_width=max(7, len(metric)))
    ok = result.ranked
    best = {}
    for metric in result.metrics:
        values = [(s.scores.get(metric), s.name) for s in ok if s.scores.get(metric) is not None]
        if values:
            best[metric] = max(values)[1]
    for source in ok:
        cells = []
        for metric in result.metrics:
            text = fmt(source.scores.get(metric))
            cells.append(styled(text, "green") if best.get(metric) == source.name else text)
        table.add_row(literal(source.name), *cells)
    return table
