"""``zoo-distill rank``: the ranking table (or ``--json``) for a target and a zoo."""

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli._common import (
    TARGET_OPTIONS,
    CacheDir,
    ZooOption,
    cli_errors,
    make_progress,
    print_json,
    say,
    say_device,
    stderr,
    stdout,
    with_options,
)
from zoo_distill.ranking.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_WEIGHTING_METRIC

__all__ = ["rank"]


@cli_errors
@with_options(TARGET_OPTIONS)
def rank(
    zoo: Optional[Path] = ZooOption,
    metric: list[str] = typer.Option(
        [],
        "--metric",
        "-m",
        help="Metric(s) to compute; the first is primary "
        f"and sorts the table \\[default: all installed, {DEFAULT_PRIMARY_METRIC} "
        f"first; α from {DEFAULT_WEIGHTING_METRIC} but nearest's, as run uses].",
    ),
    source: list[str] = typer.Option([], "--source", "-s", help="Only rank these zoo entries."),
    device: str = typer.Option(
        "auto", help="Device for feature extraction: auto (CUDA when this machine has it, else cpu), cpu, cuda, cuda:N."
    ),
    batch_size: int = typer.Option(64, min=1, help="Images per extraction batch."),
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        min=0,
        help="DataLoader processes decoding images for extraction \\[default: from the CPUs available; 0: in-process].",
    ),
    cache_dir: Optional[Path] = CacheDir,
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write cached features."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result instead of the table."),
    *,
    settings: dict,  # with_options passes the shared options
) -> None:
    """Rank the zoo's sources for a target task by task similarity on its labeled images."""
    import zoo_distill.api as api
    from zoo_distill.util import distributed

    say_device(device)  # said when a teacher first runs: a rank served from the cache needs no device
    api.check_rank_settings(metrics=metric, device=device, batch_size=batch_size, workers=workers)
    skip = settings.pop("skip_bad_images")
    data = api.load_target(**settings, skip_bad_images=skip)
    if data.skipped:
        say(stderr, (f"skipped {len(data.skipped)} unreadable image(s)", "yellow"))
    zoo_obj = api.load_zoo(zoo)
    with make_progress(disable=None if not as_json else True) as progress:
        result = api.rank(
            data,
            zoo_obj,
            metrics=metric,
            sources=source,
            device=device,
            batch_size=batch_size,
            cache_dir=cache_dir,
            use_cache=not no_cache,
            progress=progress,
            workers=workers,
        )
    if not distributed.is_main():
        return
    for s in result.sources:
        if s.status != "ok":
            say(stderr, (f"{s.status}:", "yellow"), " ", s.error)
        for m, err in s.metric_errors.items():
            say(stderr, (f"{s.name}: {m}: {err}", "dim"))
    for name, err in result.weight_errors.items():  # shown as failed in the table; the others stand
        say(stderr, ("warning:", "yellow"), f" aggregator {name!r} gave no weights: {err}")
    if as_json:
        payload = result.to_dict() | {"zoo": str(zoo_obj.path), "skipped_images": [str(p) for p in data.skipped]}
        print_json(payload)
        return
    from zoo_distill.ranking.report import rank_table, scores_table

    stdout.print(rank_table(result))
    if len(result.metrics) > 1:
        stdout.print(scores_table(result))
    t = result.timings
    say(
        stdout,
        (
            f"time: {t['total']:.2f}s (load {t['load']:.2f}s, features {t['extract']:.2f}s, "
            f"metrics {t['metrics']:.2f}s)",
            "dim",
        ),
    )
