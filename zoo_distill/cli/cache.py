"""``zoo-distill cache ls`` and ``cache clear``: the feature cache on disk."""

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from zoo_distill.cli._common import CacheDir, cli_errors, stdout

__all__ = ["clear", "ls"]

cache_app = typer.Typer(help="Inspect or clear the feature cache.", no_args_is_help=True)


@cache_app.command("ls")
@cli_errors
def ls(cache_dir: Optional[Path] = CacheDir, as_json: bool = typer.Option(False, "--json")) -> None:
    """List cached teacher features."""
    from rich.table import Table

    from zoo_distill.features.cache import FeatureCache
    from zoo_distill.util.units import human_size

    cache = FeatureCache(cache_dir)
    entries = cache.entries()
    if as_json:
        rows = [{"path": str(e.path), "bytes": e.size, **e.metadata} for e in entries]
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"feature cache: {cache.dir}")
    for col in ("teacher", "view", "images", "size", "file"):
        table.add_column(col)
    for e in entries:
        m = e.metadata
        table.add_row(str(m.get("teacher", "?")), str(m.get("view", "?")), str(m.get("images", "?")),
                      human_size(e.size), e.path.name)
    stdout.print(table)
    stdout.print(f"{len(entries)} file(s), {human_size(sum(e.size for e in entries))}")


@cache_app.command("clear")
@cli_errors
def clear(
    cache_dir: Optional[Path] = CacheDir,
    teacher: Optional[str] = typer.Option(None, help="Only this teacher's features."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cached features (all, or one teacher's)."""
    from zoo_distill.features.cache import FeatureCache
    from zoo_distill.util.units import human_size

    cache = FeatureCache(cache_dir)
    if not yes and not typer.confirm(f"Delete cached features in {cache.dir}?"):
        raise typer.Exit(1)
    result = cache.clear(teacher)
    stdout.print(f"removed {result.count} file(s), {human_size(result.size)}")
    if result.in_use:
        names = ", ".join(path.name for path in result.in_use[:5]) + (", ..." if len(result.in_use) > 5 else "")
        stdout.print(f"kept {len(result.in_use)} file(s) in use by a running process ({escape(names)}); "
                     f"clear again once it has finished", highlight=False, soft_wrap=True)
