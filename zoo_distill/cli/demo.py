"""``zoo-distill demo`` and ``zoo-distill demo build``: the embedded default, no network needed."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli.app import cli_errors, stdout
from zoo_distill.errors import ZooDistillError

demo_app = typer.Typer(
    help="Build the offline zoo (zoobench) and run the main job on it: rank, DistillWeighted, and the "
         "comparison with fine-tuning, FixMatch and DistillNearest. Run without a subcommand for the demo.",
    invoke_without_command=True,
)

RootOption = typer.Option(None, "--root", help="Where the zoo is built/reused \\[default: <cache>/zoobench/<preset>].")


def _settings(preset: str, seed: int):
    from zoo_distill.zoobench import PRESETS

    if preset not in PRESETS:
        raise ZooDistillError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    return PRESETS[preset](seed=seed)


@demo_app.callback()
@cli_errors
def demo(
    ctx: typer.Context,
    root: Optional[Path] = RootOption,
    out: Optional[Path] = typer.Option(None, "--out", help="Run directories \\[default: ROOT/runs]."),
    target: str = typer.Option("shapes-on-textures", "--target", help="Demo target (must be in the preset)."),
    preset: str = typer.Option("mini", "--preset", help="mini (README demo, builds in ~1-2 min) or full."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Training epochs, the same for every method."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the zoo's data and training."),
) -> None:
    """Build or reuse the mini zoo, rank it, distill, and print the comparison with the baselines."""
    if ctx.invoked_subcommand is not None:
        return
    from zoo_distill.zoobench.demo import default_root, run_demo
    from zoo_distill.zoobench.experiment import Budget

    settings = _settings(preset, seed)
    try:
        run_demo(root or default_root(preset), out, settings, target, Budget(epochs=epochs), stdout)
    except ValueError as exc:
        raise ZooDistillError(str(exc)) from None


@demo_app.command("build")
@cli_errors
def build(
    root: Optional[Path] = RootOption,
    preset: str = typer.Option("mini", "--preset", help="mini (the README demo) or full (the benchmark)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every generated image and every training run."),
) -> None:
    """Build (or reuse what is already built of) the offline zoo: generic start, teachers, targets."""
    from zoo_distill.zoobench.demo import default_root
    from zoo_distill.util.progress import make_progress
    from zoo_distill.zoobench import build_zoobench

    settings = _settings(preset, seed)
    root = root or default_root(preset)
    with make_progress() as progress:
        result = build_zoobench(root, settings, progress)
    stdout.print(f"zoobench ({preset}) in {root}: built {len(result.built)}, reused {len(result.reused)}")
    for arch, acc in result.generic_accuracy.items():
        stdout.print(f"  generic start {arch}: held-out accuracy on the source mixture {acc:.3f}")
    for name, acc in result.teacher_accuracy.items():
        stdout.print(f"  {name}: held-out accuracy on its own domain {acc:.3f}")
    stdout.print(f"zoo file: {result.zoo}")
    for name, splits in result.targets.items():
        stdout.print(f"  target {name}: {', '.join(sorted(splits.train))} (test {splits.test})")
