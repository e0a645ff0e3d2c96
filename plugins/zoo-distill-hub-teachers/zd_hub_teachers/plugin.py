"""The plugin module named by the ``zoo_distill`` entry point: it contributes the Hub teachers."""

from __future__ import annotations

from zoo_distill.plugin import hookimpl

from .catalog import zoo_entries


@hookimpl
def register_zoo_entries(register) -> None:
    for entry in zoo_entries():
        register(entry)
