"""``zoo-distill demo``, ``demo build`` and ``example``: the embedded default, no network needed."""

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli._common import cli_errors, make_progress, say, stdout
from zoo_distill.errors import ConfigError

__all__ = ["build", "demo", "example"]

demo_app = typer.Typer(
    help="Build the offline zoo (zoobench) and run the main job on it: rank, DistillWeighted, and the "
    "comparison with fine-tuning, FixMatch and DistillNearest. Run without a subcommand for the demo.",
    invoke_without_command=True,
)

RootOption = typer.Option(None, "--root", help="Where the zoo is built/reused \\[default: <cache>/zoobench/<preset>].")


def _settings(preset: str, seed: int):
    from zoo_distill.zoobench import PRESETS

    if preset not in PRESETS:
        raise ConfigError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
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
    from zoo_distill.zoobench.comparison import Budget
    from zoo_distill.zoobench.demo import default_root, run_demo

    settings = _settings(preset, seed)
    try:
        run_demo(root or default_root(preset), out, settings, target, Budget(epochs=epochs), stdout)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@demo_app.command("build")
@cli_errors
def build(
    root: Optional[Path] = RootOption,
    preset: str = typer.Option("mini", "--preset", help="mini (the README demo) or full (the benchmark)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of every generated image and every training run."),
) -> None:
    """Build (or reuse what is already built of) the offline zoo: generic start, teachers, targets."""
    from zoo_distill.zoobench import build_zoobench
    from zoo_distill.zoobench.demo import default_root

    settings = _settings(preset, seed)
    root = root or default_root(preset)
    with make_progress() as progress:
        result = build_zoobench(root, settings, progress)
    say(stdout, f"zoobench ({preset}) in {root}: built {len(result.built)}, reused {len(result.reused)}")
    for arch, acc in result.generic_accuracy.items():
        say(stdout, f"  generic start {arch}: held-out accuracy on the source mixture {acc:.3f}")
    for name, acc in result.teacher_accuracy.items():
        say(stdout, f"  {name}: held-out accuracy on its own domain {acc:.3f}")
    say(stdout, f"zoo file: {result.zoo}")
    for name, splits in result.targets.items():
        say(stdout, f"  target {name}: {', '.join(sorted(splits.train))} (test {splits.test})")


@cli_errors
def example(
    root: Path = typer.Argument(Path("zd-example"), help="Folder to build the example in."),
    seed: int = typer.Option(0, help="Seed for the synthetic data and the teachers' training."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if an identical build exists."),
) -> None:
    """Build a small offline example (target task + zoo of teachers trained here) for `rank`."""
    from zoo_distill.example import ExampleSettings, build_example

    with make_progress() as progress:
        build = build_example(root, ExampleSettings(seed=seed), progress, force=force)
    verb = "reused" if build.reused else "built"
    say(stdout, f"{verb} example in {build.root}: target {build.target}, zoo {build.zoo}")
    for name, acc in build.teacher_accuracy.items():
        say(stdout, f"  {name}: held-out accuracy on its own domain {acc:.3f}")
    say(stdout, f"next: zoo-distill rank --target {build.target} --zoo {build.zoo}")
