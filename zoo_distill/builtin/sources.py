"""Built-in source providers (``local``, ``hf-hub``, ``timm``), registered like any plugin's.

The providers themselves live in ``zoo_distill.zoo.providers``; this module only registers them.
"""

from __future__ import annotations

from zoo_distill.plugin.hookspecs import hookimpl
from zoo_distill.zoo.providers import PROVIDERS

__all__ = ["register_sources"]


@hookimpl
def register_sources(register) -> None:
    for provider in PROVIDERS:
        register(provider)
