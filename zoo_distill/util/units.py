"""Human-readable sizes and counts, one formatter for every table and log line."""

from __future__ import annotations

__all__ = ["human_size"]

_STEP = 1000.0  # decimal prefixes, as disks, the Hugging Face Hub and parameter counts use


def human_size(value: float | None, unit: str = "B") -> str:
    """``value`` with a decimal prefix and one decimal: ``1_534_000 -> "1.5 MB"``; ``None -> ""``.

    ``unit=""`` formats a bare count the way parameter counts are written: no space, ``B`` for
    billions (``11_200_000 -> "11.2M"``). Below 1000 the number is shown whole (``"512 B"``).
    """
    if value is None:
        return ""
    prefixes = ("K", "M", "G", "T") if unit else ("K", "M", "B", "T")
    sep = " " if unit else ""
    scaled, prefix = float(value), ""
    for step_prefix in prefixes:
        if abs(scaled) < _STEP:
            break
        scaled, prefix = scaled / _STEP, step_prefix
    if not prefix:
        return f"{scaled:.0f}{sep}{unit}"
    return f"{scaled:.1f}{sep}{prefix}{unit}"
