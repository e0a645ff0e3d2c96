"""Which device a setting names, checked once for every stage (ranking, extraction, training, runs).

``check_device`` is what a setting is validated with when it is made (``TrainConfig``, ``rank``): the
name's form without importing torch, and for anything but ``cpu`` whether this machine has it, so a
missing GPU fails before any work. ``resolve_device`` turns the name into a ``torch.device``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from zoo_distill.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["AUTO", "auto_device", "check_device", "pick_device", "resolve_device"]

#: The default of ``rank``, ``run`` and the baselines: CUDA when this machine has it, else the CPU.
AUTO = "auto"

_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")


def auto_device() -> tuple[str, str]:
    """What ``auto`` means here, and why (for the first log line)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", f"auto: CUDA device {torch.cuda.get_device_name(0)}"
    return "cpu", "auto: no CUDA device"


def pick_device(value: str | None) -> str:
    """``value``, or for ``auto`` / ``None`` the device ``auto_device`` picks."""
    return auto_device()[0] if value in (None, AUTO) else value


def check_device(value: str, option: str = "--device") -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``, present on this machine (``cpu`` checked without torch)."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ConfigError(f"{option} must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    if value != "cpu":
        resolve_device(value, option)
    return value


def resolve_device(device: str, option: str = "--device") -> torch.device:
    """The ``torch.device`` of ``device``, with a one-line error if CUDA is asked for but missing."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{option} {device}: CUDA is not available on this machine; use {option} cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"{option} {device!r} is not a valid device: {exc}") from None
