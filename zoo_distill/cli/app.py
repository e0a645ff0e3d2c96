"""The ``zoo-distill`` typer app: one module per command group, assembled here.

Each command parses its options, calls the Python API (``zoo_distill.api``) and prints. Command
modules import the heavy stack (torch, timm, scikit-learn) only inside the command that runs.
"""

import typer

from zoo_distill._version import __version__
from zoo_distill.cli import cache, demo, export, plugins, rank, runs, train, zoo
from zoo_distill.cli._common import stderr, stdout
from zoo_distill.cli.logs import configure_logging

__all__ = ["main", "run"]

app = typer.Typer(
    name="zoo-distill",
    help="Rank a zoo of pretrained image models for a new task and distill them into a small student "
    "(Borup et al., ICCV 2023).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"zoo-distill {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
) -> None:
    configure_logging(stderr, verbose)  # the one place logging is configured; the library only logs


app.command("rank")(rank.rank)
app.command("run")(train.run)
app.add_typer(train.baseline_app, name="baseline")
app.command("eval")(runs.evaluate)
app.command("predict")(runs.predict)
app.command("push")(runs.push)
app.command("export")(export.export)
app.add_typer(zoo.zoo_app, name="zoo")
app.add_typer(cache.cache_app, name="cache")
app.command("plugins")(plugins.plugins)
app.command("metrics")(plugins.metrics)
app.command("example")(demo.example)
app.add_typer(demo.demo_app, name="demo")


def run() -> None:
    """Console-script entry point."""
    app()
