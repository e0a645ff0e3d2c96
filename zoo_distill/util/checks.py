"""One way to check user settings, so every option fails the same way and names itself.

The library validates where it takes a setting (the config dataclasses, ``rank``, ``run``); the
CLI and the Python API both get the same one-line ``ConfigError`` that names the option, e.g.
``--lr must be a finite number > 0, got nan``.
"""

from __future__ import annotations

import math
from typing import Any

from zoo_distill.errors import ConfigError

__all__ = ["MAX_BATCH_SIZE", "check_choice", "check_float", "check_int"]

#: Larger batches than this are a typo, not a setting: they would fail later with a MemoryError.
MAX_BATCH_SIZE = 65_536


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def check_float(
    option: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the bounds, else a ConfigError naming ``option``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option} must be a number, got {value!r}") from None
    bounds = _describe(low, high, low_open, high_open)
    wanted = f"a finite number{' ' + bounds if bounds else ''}"
    if not math.isfinite(number):
        raise ConfigError(f"{option} must be {wanted}, got {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ConfigError(f"{option} must be {wanted}, got {value!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ConfigError(f"{option} must be {wanted}, got {value!r}")
    return number


def check_int(option: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``; bools and non-integral floats are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ConfigError(f"{option} must be a whole number, got {value!r}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ConfigError(f"{option} must be a whole number {_describe(low, high, False, False)}, got {value!r}")
    return number


def check_choice(option: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        listed = ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]
        raise ConfigError(f"{option} must be {listed}, got {value!r}")
    return value
