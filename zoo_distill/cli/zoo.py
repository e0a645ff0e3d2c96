"""``zoo-distill zoo ls`` and ``zoo pull``: what the zoo holds, and prefetching its weights."""

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli._common import (
    ZooOption,
    cli_errors,
    error_line,
    literal,
    make_progress,
    print_json,
    say,
    stdout,
    styled,
)
from zoo_distill.errors import ZooDistillError
from zoo_distill.util.text import line

__all__ = ["ls", "pull"]

zoo_app = typer.Typer(help="Inspect the zoo of source models.", no_args_is_help=True)


@zoo_app.command("ls")
@cli_errors
def ls(zoo: Optional[Path] = ZooOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the zoo: name, provider, domain, whether the weights are on this machine, and availability."""
    from rich.table import Table

    from zoo_distill.api import load_zoo
    from zoo_distill.util.units import human_size
    from zoo_distill.zoo.pull import ls_rows

    zoo_obj = load_zoo(zoo)
    rows = ls_rows(zoo_obj)
    if as_json:
        print_json(rows)
        return
    table = Table(title=literal(f"zoo: {zoo_obj.path} ({len(zoo_obj)} sources)"))
    for col in ("source", "provider", "domain", "cached", "size", "available"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for r in rows:
        cached = {True: literal("yes"), False: styled("no", "yellow"), None: literal("?")}[r["cached"]]
        table.add_row(literal(r["name"]), literal(r["provider"]), literal(r["domain"]), cached,
                      human_size(r["size_bytes"]),
                      literal("yes") if r["available"] else line(("no", "red"), ": ", r["reason"]))
    stdout.print(table)


@zoo_app.command("pull")
@cli_errors
def pull(
    names: list[str] = typer.Argument(None, help="Zoo entries to prefetch.", show_default=False),
    all_entries: bool = typer.Option(False, "--all", help="Prefetch every entry of the zoo."),
    zoo: Optional[Path] = ZooOption,
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable report."),
) -> None:
    """Download the weights (and config.json) of hf-hub/timm entries into the Hugging Face cache.

    To prepare an offline machine: pull here, copy $HF_HOME over, set HF_HUB_OFFLINE=1 there."""
    from zoo_distill.api import load_zoo
    from zoo_distill.util.units import human_size
    from zoo_distill.zoo.pull import pull as pull_entries

    if bool(names) == all_entries:
        raise ZooDistillError("name the entries to pull, or pass --all (not both)")
    entries = load_zoo(zoo).select([] if all_entries else list(names))  # unknown names fail before any download
    with make_progress(disable=None if not as_json else True) as progress:
        results = pull_entries(entries, progress)
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        for r in results:
            where = f" ({r.repo_id}@{r.revision or 'main'})" if r.repo_id else ""
            if r.error:
                say(stdout, ("failed", "red"), f" {r.name}{where}")
            elif r.skipped:
                say(stdout, ("skipped", "dim"), f" {r.name}: {r.skipped}")
            else:
                got = f"downloaded {', '.join(r.downloaded)} ({human_size(r.bytes_downloaded)})" if r.downloaded else ""
                had = f"already cached {', '.join(r.cached)}" if r.cached else ""
                say(stdout, ("ok", "green"), f" {r.name}{where}: {'; '.join(x for x in (got, had) if x)}")
    failed = [r for r in results if r.error]
    if failed:
        for r in failed:
            error_line(r.error)
        raise typer.Exit(2)
