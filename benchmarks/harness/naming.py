"""Kept runs are named by their override dicts: one stable rendering, and its exact inverse.

A run of a table is a dict of overrides (``zoo_distill.zoobench.comparison``); its name is that
dict, normalized, as sorted ``key=value`` pairs joined by ``,`` (a list value joined by ``+``):
``aggregator=weighted,unlabeled_loss=fixmatch``. Nothing reads meaning into a part of a name:
``run_from_name`` gives the dict back and everything else looks at the dict. People see
``label`` (``method_label``), never the name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from zoo_distill.zoobench.comparison import method_label, normalized

__all__ = [
    "BEST_SINGLE",
    "FINETUNE",
    "FIXMATCH",
    "NEAREST",
    "WEIGHTED",
    "WEIGHTED_CLASS",
    "label",
    "labels",
    "run_from_name",
    "run_name",
    "single",
    "single_source",
]

_LIST_KEYS = frozenset({"sources"})
BEST_SINGLE = "best-single"  # not a run: per split, the best single-source run (an oracle row)


def run_name(run: Mapping[str, Any]) -> str:
    """The stable name (and kept file name) of a run: its normalized overrides, sorted."""
    parts = []
    for key, value in normalized(run).items():
        text = "+".join(value) if key in _LIST_KEYS else value if isinstance(value, str) else json.dumps(value)
        if any(c in text for c in ",=/") or (key not in _LIST_KEYS and "+" in text):
            raise ValueError(f"run option {key}={text!r} cannot be part of a name")
        parts.append(f"{key}={text}")
    return ",".join(parts)


def run_from_name(name: str) -> dict[str, Any] | None:
    """The overrides ``name`` renders (``run_name``'s inverse), or None for a row that is no run
    (``best-single``)."""
    if "=" not in name:
        return None
    run: dict[str, Any] = {}
    for part in name.split(","):
        key, _, text = part.partition("=")
        run[key] = text.split("+") if key in _LIST_KEYS else _value(text)
    return run


def _value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def single(source: str) -> dict[str, Any]:
    """Pure distillation from ``source`` alone: what the table's oracle and Kendall tau score."""
    return {"aggregator": "nearest", "sources": [source]}


def single_source(name: str) -> str | None:
    """The one source of a single-source run's name, else None."""
    run = run_from_name(name)
    if run is None or set(run) != {"aggregator", "sources"} or run["aggregator"] != "nearest":
        return None
    return run["sources"][0] if len(run["sources"]) == 1 else None


def label(name: str) -> str:
    """What a table's column of run ``name`` is headed (``best single (oracle)`` for the oracle row)."""
    run = run_from_name(name)
    return "best single (oracle)" if run is None and name == BEST_SINGLE else method_label(run) if run else name


def labels(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{name: label}`` for a table's columns."""
    return {n: label(n) for n in names}


FINETUNE = run_name({"method": "finetune"})
FIXMATCH = run_name({"method": "fixmatch"})
WEIGHTED = run_name({"aggregator": "weighted"})
WEIGHTED_CLASS = run_name({"aggregator": "weighted", "source_weights": "class"})
NEAREST = run_name({"aggregator": "nearest"})
