"""``zoo-distill zoo ls`` and ``zoo pull``: what the zoo holds, and prefetching its weights."""

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from zoo_distill.cli._common import ZooOption, cli_errors, make_progress, stderr, stdout
from zoo_distill.errors import ZooDistillError

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
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"zoo: {zoo_obj.path} ({len(zoo_obj)} sources)")
    for col in ("source", "provider", "domain", "cached", "size", "available"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for r in rows:
        cached = {True: "yes", False: "[yellow]no[/yellow]", None: "?"}[r["cached"]]
        table.add_row(r["name"], r["provider"], r["domain"] or "", cached, human_size(r["size_bytes"]),
                      "yes" if r["available"] else f"[red]no[/red]: {r['reason']}")
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
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            where = f" ({r.repo_id}@{r.revision or 'main'})" if r.repo_id else ""
            if r.error:
                stdout.print(f"[red]failed[/red] {r.name}{where}", highlight=False)
            elif r.skipped:
                stdout.print(f"[dim]skipped[/dim] {r.name}: {r.skipped}", highlight=False)
            else:
                got = f"downloaded {', '.join(r.downloaded)} ({human_size(r.bytes_downloaded)})" if r.downloaded else ""
                had = f"already cached {', '.join(r.cached)}" if r.cached else ""
                stdout.print(f"[green]ok[/green] {r.name}{where}: {'; '.join(x for x in (got, had) if x)}",
                             highlight=False)
    failed = [r for r in results if r.error]
    if failed:
        for r in failed:
            stderr.print(f"[bold red]Error:[/bold red] {escape(r.error)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
