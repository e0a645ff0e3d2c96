"""``zoo-distill cache ls`` and ``cache clear``: the feature cache on disk."""

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli._common import CacheDir, cli_errors, literal, print_json, say, stdout
from zoo_distill.errors import CacheError

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
        print_json(rows)
        return
    table = Table(title=literal(f"feature cache: {cache.dir}"))
    for col in ("teacher", "view", "images", "size", "file"):
        table.add_column(col)
    for e in entries:
        m = e.metadata
        table.add_row(
            literal(m.get("teacher", "?")),
            literal(m.get("view", "?")),
            literal(m.get("images", "?")),
            human_size(e.size),
            literal(e.path.name),
        )
    stdout.print(table)
    say(stdout, f"{len(entries)} file(s), {human_size(sum(e.size for e in entries))}")


@cache_app.command("clear")
@cli_errors
def clear(
    cache_dir: Optional[Path] = CacheDir,
    teacher: Optional[str] = typer.Option(None, help="Only this teacher's features."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cached features (all, or one teacher's) and, when no teacher is named, the cached list of
    timm architectures and data configs."""
    from zoo_distill.features.cache import FeatureCache
    from zoo_distill.util.units import human_size

    cache = FeatureCache(cache_dir)
    if not yes and not typer.confirm(f"Delete cached features in {cache.dir}?"):
        raise typer.Exit(1)
    result = cache.clear(teacher)
    count, size = result.count, result.size
    helpers = 0
    if teacher is None:  # what zoo/architectures.py keeps there too: rebuilt on next use
        from zoo_distill.zoo.architectures import helper_files

        for path in helper_files(cache.root):
            try:
                size += path.stat().st_size
                path.unlink()
                helpers += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CacheError(f"cannot clear the feature cache: {path}: {exc.strerror or exc}") from None
    also = f" (and {helpers} cached timm helper file(s))" if helpers else ""
    say(stdout, f"removed {count} file(s), {human_size(size)}{also}")
    if result.in_use:
        names = ", ".join(path.name for path in result.in_use[:5]) + (", ..." if len(result.in_use) > 5 else "")
        say(
            stdout,
            f"kept {len(result.in_use)} file(s) in use by a running process ({names}); "
            f"clear again once it has finished",
        )
