"""The ``zoo-distill`` command line: a thin typer layer that parses, calls the library and prints."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from . import __version__
from .cache import FeatureCache
from .data import load_target
from .errors import ZooDistillError
from .plugins import get_registry
from .progress import make_progress, stderr
from .ranking import DEFAULT_PRIMARY_METRIC, rank_sources
from .report import rank_table, scores_table
from .zoo import load_zoo

app = typer.Typer(
    name="zoo-distill",
    help="Rank a zoo of pretrained image models for a new task and distill them into a small student "
    "(Borup et al., ICCV 2023).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cache_app = typer.Typer(help="Inspect or clear the feature cache.", no_args_is_help=True)
zoo_app = typer.Typer(help="Inspect the zoo of source models.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
app.add_typer(zoo_app, name="zoo")
stdout = Console()


def cli_errors(fn: Callable) -> Callable:
    """Print a ZooDistillError as one red line on stderr and exit with its code (2), no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZooDistillError as exc:
            stderr.print(f"[bold red]Error:[/bold red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        stdout.print(f"zoo-distill {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr, show_time=False, show_path=False)],
        force=True,
    )


CacheDir = typer.Option(None, "--cache-dir", envvar="ZOO_DISTILL_CACHE",
                        help="Feature cache folder [default: ~/.cache/zoo-distill].")
ZooOption = typer.Option(None, "--zoo", help="Zoo file (registry.yaml format) [default: $ZOO_DISTILL_ZOO or the "
                                             "packaged registry.yaml].")


@app.command()
@cli_errors
def rank(
    target: Optional[Path] = typer.Option(None, "--target", "-t", help="Target folder with train/ "
                                          "(and optional unlabeled/, test/) in ImageFolder layout."),
    labeled: Optional[Path] = typer.Option(None, "--labeled", help="Labeled split (class folders); "
                                           "overrides TARGET/train."),
    unlabeled: Optional[Path] = typer.Option(None, "--unlabeled", help="Unlabeled images (any depth)."),
    test: Optional[Path] = typer.Option(None, "--test", help="Test split (class folders)."),
    zoo: Optional[Path] = ZooOption,
    metric: list[str] = typer.Option([], "--metric", "-m", help="Metric(s) to compute; the first is primary "
                                     "and sorts the table [default: all installed, logme first]."),
    source: list[str] = typer.Option([], "--source", "-s", help="Only rank these zoo entries."),
    device: str = typer.Option("cpu", help="Device for feature extraction: cpu, cuda, cuda:N."),
    batch_size: int = typer.Option(64, min=1, help="Images per extraction batch."),
    cache_dir: Optional[Path] = CacheDir,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write cached features."),
    skip_bad_images: bool = typer.Option(False, help="Skip unreadable images (and count them) instead of failing."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result instead of the table."),
) -> None:
    """Rank the zoo's sources for a target task by task similarity on its labeled images."""
    registry = get_registry()
    metrics = list(metric) or [DEFAULT_PRIMARY_METRIC] + [m for m in registry.metrics if m != DEFAULT_PRIMARY_METRIC]
    for name in metrics:
        registry.metric(name)  # unknown names fail before any work
    zoo_obj = load_zoo(zoo, registry)
    entries = zoo_obj.select(list(source))
    data = load_target(target, labeled, unlabeled, test, skip_bad_images=skip_bad_images)
    if data.skipped:
        stderr.print(f"[yellow]skipped {len(data.skipped)} unreadable image(s)[/yellow]")
    cache = None if no_cache else FeatureCache(cache_dir)
    with make_progress(disable=None if not as_json else True) as progress:
        result = rank_sources(data, entries, metrics, registry, cache, batch_size, device, progress)
    for s in result.sources:
        if s.status != "ok":
            stderr.print(f"[yellow]{s.status}:[/yellow] {s.error}", highlight=False, soft_wrap=True)
        for m, err in s.metric_errors.items():
            stderr.print(f"[dim]{s.name}: {m}: {err}[/dim]", highlight=False)
    if as_json:
        payload = result.to_dict() | {"zoo": str(zoo_obj.path), "skipped_images": [str(p) for p in data.skipped]}
        print(json.dumps(payload, indent=2, default=str))
        return
    stdout.print(rank_table(result))
    if len(result.metrics) > 1:
        stdout.print(scores_table(result))
    t = result.timings
    stdout.print(f"[dim]time: {t['total']:.2f}s (load {t['load']:.2f}s, features {t['extract']:.2f}s, "
                 f"metrics {t['metrics']:.2f}s)[/dim]")


@app.command()
@cli_errors
def example(
    root: Path = typer.Argument(Path("zd-example"), help="Folder to build the example in."),
    seed: int = typer.Option(0, help="Seed for the synthetic data and the teachers' training."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if an identical build exists."),
) -> None:
    """Build a small offline example (target task + zoo of teachers trained here) for `rank`."""
    from .example import ExampleSettings, build_example

    with make_progress() as progress:
        build = build_example(root, ExampleSettings(seed=seed), progress, force=force)
    verb = "reused" if build.reused else "built"
    stdout.print(f"{verb} example in {build.root}: target {build.target}, zoo {build.zoo}")
    for name, acc in build.teacher_accuracy.items():
        stdout.print(f"  {name}: held-out accuracy on its own domain {acc:.3f}")
    stdout.print(f"next: zoo-distill rank --target {build.target} --zoo {build.zoo}")


@app.command()
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List loaded plugins (built-in and installed), their versions and what each registers."""
    registry = get_registry()
    if as_json:
        rows = [{"name": p.name, "version": p.version, "builtin": p.builtin, "distribution": p.distribution,
                 "hooks": sorted(p.registers), "registers": p.registers, "error": p.error} for p in registry.plugins]
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="zoo-distill plugins")
    for col in ("plugin", "version", "hooks", "registers"):
        table.add_column(col)
    for p in registry.plugins:
        what = "; ".join(f"{hook.removeprefix('register_')}: {', '.join(names)}" for hook, names in p.registers.items())
        if p.error:
            what = f"[red]{p.error}[/red]" + (f"; {what}" if what else "")
        table.add_row(p.name + (" [dim](built-in)[/dim]" if p.builtin else ""), p.version,
                      ", ".join(sorted(p.registers)), what)
    stdout.print(table)


@app.command("metrics")
def list_metrics() -> None:
    """List the similarity metrics, what each needs, and its reference."""
    table = Table(title="similarity metrics (higher is better)")
    for col in ("metric", "needs", "reference", "description"):
        table.add_column(col)
    for m in get_registry().metrics.values():
        table.add_row(m.name, ", ".join(m.needs), m.reference, m.description)
    stdout.print(table)


@cache_app.command("ls")
def cache_ls(cache_dir: Optional[Path] = CacheDir, as_json: bool = typer.Option(False, "--json")) -> None:
    """List cached teacher features."""
    cache = FeatureCache(cache_dir)
    entries = cache.entries()
    if as_json:
        print(json.dumps([{"path": str(e.path), "bytes": e.size, **e.metadata} for e in entries], indent=2, default=str))
        return
    table = Table(title=f"feature cache: {cache.dir}")
    for col in ("teacher", "view", "images", "size", "file"):
        table.add_column(col)
    for e in entries:
        m = e.metadata
        table.add_row(str(m.get("teacher", "?")), str(m.get("view", "?")), str(m.get("images", "?")),
                      f"{e.size / 1e6:.2f} MB", e.path.name)
    stdout.print(table)
    stdout.print(f"{len(entries)} file(s), {sum(e.size for e in entries) / 1e6:.2f} MB")


@cache_app.command("clear")
def cache_clear(
    cache_dir: Optional[Path] = CacheDir,
    teacher: Optional[str] = typer.Option(None, help="Only this teacher's features."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete cached features (all, or one teacher's)."""
    cache = FeatureCache(cache_dir)
    if not yes and not typer.confirm(f"Delete cached features in {cache.dir}?"):
        raise typer.Exit(1)
    count, size = cache.clear(teacher)
    stdout.print(f"removed {count} file(s), {size / 1e6:.2f} MB")


@zoo_app.command("ls")
@cli_errors
def zoo_ls(zoo: Optional[Path] = ZooOption, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the zoo: name, provider, domain, and whether each source can be loaded now."""
    registry = get_registry()
    zoo_obj = load_zoo(zoo, registry)
    rows = []
    for e in zoo_obj:
        provider = registry.providers[e.provider]
        reason = provider.is_available(e) if provider.is_available else None
        rows.append({"name": e.name, "provider": e.provider, "domain": e.domain, "origin": e.origin,
                     "available": reason is None, "reason": reason, **dict(e.options)})
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"zoo: {zoo_obj.path} ({len(zoo_obj)} sources)")
    for col in ("source", "provider", "domain", "available"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["provider"], r["domain"] or "", "yes" if r["available"] else f"[red]no[/red]: {r['reason']}")
    stdout.print(table)


def run() -> None:
    """Console-script entry point."""
    app()
