"""Handing the target's class names to the sources that read them, and to no other.

A provider that declares ``class_names=True`` (e.g. a CLIP tower with a zero-shot head) gets, in each
of its entries, ``options["target_classes"]``: ``[{"name": folder, "prompt": text}, ...]`` in label
order, before the entry is identified or loaded; it must fold them into its digest, so cached features
and logits are keyed by the classes they were computed for. Every other entry is passed on untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zoo_distill.plugin.manager import PluginRegistry
from zoo_distill.plugin.types import ZooEntry
from zoo_distill.zoo.file import Zoo

__all__ = ["TARGET_CLASSES", "reads_class_names", "with_target_classes"]

TARGET_CLASSES = "target_classes"


def reads_class_names(zoo: Zoo, registry: PluginRegistry) -> bool:
    """Whether any entry's provider reads the target's class names (so they need to be read at all)."""
    providers = registry.providers
    return any(getattr(providers.get(e.provider), "class_names", False) for e in zoo)


def with_target_classes(zoo: Zoo, prompts: Sequence[tuple[str, str]], registry: PluginRegistry) -> Zoo:
    """``zoo`` with the class prompts in the entries of providers that read them."""
    providers = registry.providers
    classes = [{"name": name, "prompt": prompt} for name, prompt in prompts]

    def given(entry: ZooEntry) -> ZooEntry:
        if not getattr(providers.get(entry.provider), "class_names", False):
            return entry
        return dataclasses.replace(entry, options={**entry.options, TARGET_CLASSES: classes})

    return dataclasses.replace(zoo, entries={name: given(e) for name, e in zoo.entries.items()})
