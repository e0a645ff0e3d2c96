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
    stderr,
    stdout,
    styled,
)
from zoo_distill.errors import ZooDistillError
from zoo_distill.util.text import line

__all__ = ["ls", "pull", "search"]

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
        table.add_row(
            literal(r["name"]),
            literal(r["provider"]),
            literal(r["domain"]),
            cached,
            human_size(r["size_bytes"]),
            literal("yes") if r["available"] else line(("no", "red"), ": ", r["reason"]),
        )
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


@zoo_app.command("search")
@cli_errors
def search(
    query: Optional[str] = typer.Argument(
        None, help="Text the repo id must contain (e.g. resnet50, plant, xray).", show_default=False
    ),
    library: list[str] = typer.Option(
        ["timm"],
        "--library",
        "-l",
        help="Hub library to list: timm (hf-hub "
        "entries), transformers or open_clip (their plugin's provider); repeatable.",
    ),
    task: str = typer.Option("image-classification", "--task", help="The Hub's pipeline tag."),
    sort: str = typer.Option(
        "downloads", "--sort", help="downloads, likes, last_modified, created_at or trending_score (best first)."
    ),
    limit: int = typer.Option(20, "--limit", help="At most this many models in all."),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the results as a zoo file here, each pinned to its commit, ready for `rank --zoo`.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Find candidate teachers on the Hugging Face Hub and write them as a zoo file.

    Asks the Hub's model listing (huggingface_hub's HfApi.list_models; HF_ENDPOINT and HF_TOKEN honoured).
    Every entry is pinned to the commit the listing reported, so the zoo names exact weights."""
    from rich.table import Table

    from zoo_distill.api import installed_providers
    from zoo_distill.zoo.search import search_hub, write_zoo_file, zoo_document

    models = search_hub(query, library, task or None, sort, limit, installed_providers())
    if out is not None:
        header = (
            f"# zoo-distill zoo search {query or ''} --library {' --library '.join(library)} --task {task} "
            f"--sort {sort} --limit {limit}\n# every entry is pinned to the commit the Hub listed\n"
        )
        write_zoo_file(out, zoo_document(models, query), overwrite, header)
    if as_json:
        print_json({"models": [m.to_dict() for m in models], "zoo_file": str(out) if out else None})
        return
    table = Table(
        title=literal(f"Hub models for {query or ''!r} ({', '.join(library)}, {task}, by {sort}): {len(models)}")
    )
    for col in ("repo", "library", "downloads", "likes", "license", "revision"):
        table.add_column(col, justify="right" if col in ("downloads", "likes") else "left")
    for m in models:
        table.add_row(
            literal(m.repo_id), literal(m.library), str(m.downloads), str(m.likes), literal(m.license), m.revision[:12]
        )
    stdout.print(table)
    if out is not None:
        say(stdout, f"wrote {len(models)} sources to {out}: zoo-distill rank --zoo {out} --target ...")
    elif not models:
        say(stderr, "no model matched; widen the query or the libraries")
