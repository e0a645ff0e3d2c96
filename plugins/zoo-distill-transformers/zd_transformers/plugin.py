"""The plugin module named by the ``zoo_distill`` entry point: it contributes the ``transformers`` provider.

Importing this module is cheap (no transformers, no torch): the provider's functions import them when
an entry of this provider is validated with its files, identified or loaded, so `zoo-distill --help`
and `zoo ls` stay fast with the plugin installed.
"""

from __future__ import annotations

from zoo_distill.plugin import hookimpl
from zoo_distill.plugin.types import SourceProvider

from .provider import files, identify, is_available, load, validate


@hookimpl
def register_sources(register) -> None:
    register(
        SourceProvider(
            name="transformers",
            load=load,
            required=(),
            optional=("repo", "revision", "path", "kind"),
            is_available=is_available,
            validate=validate,
            identify=identify,
            files=files,
            description="a transformers image classifier (AutoModelForImageClassification) or backbone (AutoModel) "
            "from a Hub repo at a pinned revision or a local folder; safetensors only",
        )
    )
