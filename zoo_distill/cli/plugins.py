"""``zoo-distill plugins`` and ``metrics``: what the installed plugins contribute."""

import typer

from zoo_distill.cli._common import cli_errors, literal, print_json, stdout
from zoo_distill.util.text import line

__all__ = ["metrics", "plugins"]


@cli_errors
def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List loaded plugins (built-in and installed), their versions and what each registers."""
    from rich.table import Table

    from zoo_distill.plugin.manager import get_registry

    registry = get_registry()
    if as_json:
        print_json([p.to_dict() for p in registry.plugins])
        return
    table = Table(title="zoo-distill plugins")
    for col in ("plugin", "version", "hooks", "registers"):
        table.add_column(col)
    for p in registry.plugins:
        what = "; ".join(f"{hook.removeprefix('register_')}: {', '.join(names)}" for hook, names in p.registers.items())
        shown = line((p.error, "red"), f"; {what}" if what else "") if p.error else literal(what)
        table.add_row(
            line(p.name, (" (built-in)", "dim") if p.builtin else ""),
            literal(p.version),
            ", ".join(sorted(p.registers)),
            shown,
        )
    stdout.print(table)


@cli_errors
def metrics() -> None:
    """List the similarity metrics, what each needs, and its reference."""
    from rich.table import Table

    from zoo_distill.api import metric_order
    from zoo_distill.plugin.manager import get_registry

    registry = get_registry()
    table = Table(title="similarity metrics (higher is better; the first is the default)")
    for col in ("metric", "needs", "reference", "description"):
        table.add_column(col)
    for name in metric_order(registry):
        m = registry.metrics[name]
        table.add_row(literal(m.name), literal(", ".join(m.needs)), literal(m.reference), literal(m.description))
    stdout.print(table)
