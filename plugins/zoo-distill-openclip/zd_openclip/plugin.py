"""The plugin module named by the ``zoo_distill`` entry point: it contributes the ``open_clip`` provider.

Cheap to import (no open_clip, no torch): `zoo-distill --help` and `zoo ls` stay fast with it installed.
``class_names=True``: the core hands each entry the target's class names (``options["target_classes"]``),
from which the teacher builds its zero-shot head.
"""

from __future__ import annotations

from zoo_distill.plugin import hookimpl
from zoo_distill.plugin.types import SourceProvider

from .provider import files, identify, is_available, load, validate


@hookimpl
def register_sources(register) -> None:
    register(
        SourceProvider(
            name="open_clip",
            load=load,
            required=(),
            optional=("repo", "revision", "path", "templates", "zero_shot"),
            is_available=is_available,
            validate=validate,
            identify=identify,
            files=files,
            class_names=True,
            description="an open_clip CLIP model (open_clip_config.json + open_clip_model.safetensors, from a Hub "
            "repo at a pinned revision or a local folder): image embeddings as features, and a zero-shot "
            "head over the target's class names as logits",
        )
    )
