"""What plugins return, checked where it comes back: metric scores and aggregator weights.

A plugin is code we did not write, so its results are input like a user's: a score must be a finite
real number, and weights a mapping over the sources that were scored, each finite and >= 0, summing
to 1. A result that is not is refused with :class:`PluginOutputError`, whose message says what is
wrong and with which source; the caller names the plugin (``PluginRegistry.describe``) and drops
that contribution (the source fails for that metric, the aggregator's weights are not used).
No numpy at import: the registry (and ``zoo-distill plugins``) loads this module.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SUM_TOLERANCE", "PluginOutputError", "check_score", "check_weights"]

#: Weights whose sum is this close to 1 are renormalised (float32 softmax, rounding); others are refused.
SUM_TOLERANCE = 1e-4


class PluginOutputError(ValueError):
    """A plugin returned something the core cannot use; the message says what and for which source."""


def _real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (numpy's included), not a bool, text or None."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    if not isinstance(value, numbers.Real):
        if hasattr(value, "dtype") and getattr(value, "shape", None) == () and value.dtype.kind in "fiu":
            value = value.item()  # a 0-d numpy array
        else:
            return None
    return float(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_score(value: Any) -> float:
    """A metric's return value as a finite float; PluginOutputError otherwise (text such as ``"0.5"``,
    ``True``, ``None``, NaN or inf, a list, ...)."""
    number = _real(value)
    if number is None:
        raise PluginOutputError(f"returned {_shown(value)} ({type(value).__name__}), not a real number")
    if not math.isfinite(number):
        raise PluginOutputError(f"returned a non-finite score ({number})")
    return number


def check_weights(weights: Any, sources: Sequence[str], tolerance: float = SUM_TOLERANCE) -> dict[str, float]:
    """An aggregator's return value as ``{source: weight}`` over exactly ``sources`` (in their order).

    A source it leaves out weighs 0. It must be a mapping; every key one of ``sources`` (a source that
    was never ranked, e.g. excluded with ``-s``, is refused); every weight a finite real number >= 0;
    their sum within ``tolerance`` of 1, then renormalised to 1 exactly."""
    if not isinstance(weights, Mapping):
        raise PluginOutputError(
            f"returned {_shown(weights)} ({type(weights).__name__}), not a mapping of source to weight"
        )
    known = set(sources)
    extra = [k for k in weights if k not in known]
    if extra:
        raise PluginOutputError(
            f"returned a weight for {_shown(extra[0])}, which is not one of the ranked sources "
            f"({', '.join(sources) or 'none'})"
        )
    out: dict[str, float] = {}
    for name in sources:
        value = weights.get(name, 0.0)
        number = _real(value)
        if number is None or not math.isfinite(number) or number < 0:
            raise PluginOutputError(
                f"weight of source {name!r} is {_shown(value)}: weights must be finite numbers >= 0"
            )
        out[name] = number
    total = math.fsum(out.values())
    if not abs(total - 1.0) <= tolerance:
        zero = ": every source weight is zero" if total == 0 else ""
        raise PluginOutputError(f"weights sum to {total:.6g}, not 1{zero}")
    return out if total == 1.0 else {name: w / total for name, w in out.items()}
