"""Built-in aggregators: ``nearest`` (DistillNearest), ``weighted`` (DistillWeighted), ``uniform``.

All map per-source similarity scores to weights alpha that sum to 1. ``weighted``
standardizes the scores across the zoo before a softmax, so its temperature means the
same thing whichever metric (LogME in nats, kNN in accuracy, ...) produced them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads when an aggregator runs, not when plugins are listed
    import numpy as np

from zoo_distill.errors import ConfigError
from zoo_distill.plugin.types import Aggregator
from zoo_distill.util.checks import check_float, check_int

__all__ = [
    "AGGREGATORS",
    "MAX_TEMPERATURE",
    "MAX_TOP_K",
    "active_weights",
    "check_weighted_options",
    "nearest",
    "uniform",
    "weighted",
]

MAX_TEMPERATURE = 1e6  # beyond this every weight is uniform to float precision
MAX_TOP_K = 1_000_000  # 0 keeps every source


def active_weights(alpha: Mapping[str, float], threshold: float) -> dict[str, float]:
    """Drop sources below the threshold and renormalise; zero-weight sources cost nothing."""
    kept = {k: v for k, v in alpha.items() if v >= threshold}
    total = sum(kept.values())
    if total <= 0:
        raise ValueError("every source weight is zero (or below the threshold): nothing to distill from")
    return {k: v / total for k, v in kept.items()}


def _check(scores: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    import numpy as np

    if not scores:
        raise ValueError("no source has a finite score to aggregate")
    names = list(scores)
    values = np.asarray([scores[n] for n in names], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("aggregators take finite scores only")
    return names, values


def nearest(scores: Mapping[str, float]) -> dict[str, float]:
    """All weight on the best-scoring source (ties: the first in zoo order)."""
    import numpy as np

    names, values = _check(scores)
    best = int(np.argmax(values))
    return {name: float(i == best) for i, name in enumerate(names)}


def uniform(scores: Mapping[str, float]) -> dict[str, float]:
    """Every source equally: the baseline that ignores similarity."""
    names, _ = _check(scores)
    return {name: 1.0 / len(names) for name in names}


def check_weighted_options(options: Mapping[str, Any]) -> None:
    """``temperature`` finite and > 0 (NaN would zero every weight), ``top_k`` a whole number >= 0
    (a negative one would silently drop the worst sources); a ConfigError names the CLI option."""
    check_float("--temperature", options.get("temperature", 0.5), 0, MAX_TEMPERATURE, low_open=True)
    check_int("--top-k", options.get("top_k", 0), 0, MAX_TOP_K)


def weighted(scores: Mapping[str, float], temperature: float = 0.5, top_k: int = 0) -> dict[str, float]:
    """Softmax of z-scored similarities at ``temperature``; ``top_k`` > 0 keeps only the k best.

    Lower temperature concentrates mass on the nearest sources (-> DistillNearest as T -> 0);
    higher spreads it (-> uniform as T -> inf).
    """
    import numpy as np

    try:
        check_weighted_options({"temperature": temperature, "top_k": top_k})
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    temperature, top_k = float(temperature), int(top_k)
    names, values = _check(scores)
    std = values.std()
    z = (values - values.mean()) / std if std > 1e-12 else np.zeros_like(values)
    logits = z / temperature
    if top_k and top_k < len(names):
        keep = np.argsort(-values, kind="stable")[:top_k]
        mask = np.full_like(logits, -np.inf)
        mask[keep] = 0.0
        logits = logits + mask
    logits -= logits.max()
    w = np.exp(logits)
    w /= w.sum()
    return {name: float(x) for name, x in zip(names, w)}


AGGREGATORS = [
    Aggregator("nearest", nearest, "DistillNearest: all weight on the best-ranked source"),
    Aggregator(
        "weighted",
        weighted,
        "DistillWeighted: softmax over z-scored similarity (temperature, optional top_k)",
        options={"temperature": 0.5, "top_k": 0},
        check_options=check_weighted_options,
    ),
    Aggregator("uniform", uniform, "every source weighted equally (baseline)"),
]
